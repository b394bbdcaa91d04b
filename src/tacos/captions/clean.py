"""The caption stage: raw strong captions in; cleaned strong CSV, weak CSV and a JSON report out.

Each distinct raw caption is cleaned once (``CaptionBackend.clean``); each file's weak caption
summarises its cleaned captions ordered by onset (``CaptionBackend.summarise``). Calls run in a
thread pool and go through the response cache, so an interrupted run resumes where it stopped
and a re-run makes no calls.

Every answer is checked: it must be non-empty and must not bring in content words that its input
does not have (beyond a small vocabulary that describes speech, and connectives in summaries).

Failure policy: no row is dropped, since a missing region would turn a sound that is there into
a negative. A row whose call failed or whose answer failed the checks is listed in the report
(row number, input, error) and keeps the offline rule-based cleaning of its raw caption, or the
raw caption itself where the rules leave nothing; a file whose summary failed gets the offline
summary of its cleaned captions.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field, fields
from functools import partial
from pathlib import Path
from typing import Any

from tacos.captions.backends import (
    CHANGE_KINDS,
    CaptionBackend,
    CaptionBackendError,
    CaptionConfigError,
    CleanResult,
    SummaryResult,
    TimedCaption,
    Usage,
)
from tacos.captions.cache import ResponseCache, cache_key
from tacos.captions.lexicon import CONNECTIVE_WORDS, FUNCTION_WORDS, SPEECH_DESCRIPTION_WORDS
from tacos.captions.openai_backend import OpenAIChatBackend
from tacos.captions.rules import RuleBasedBackend, brand_generics
from tacos.data.checks import clean_text
from tacos.data.formats import TACOS_STRONG_COLUMNS, TACOS_WEAK_COLUMNS, write_table
from tacos.data.tables import numbered_rows, parse_seconds, read_table

log = logging.getLogger(__name__)


BACKENDS = ("offline", "openai")
MAX_EXAMPLES_PER_KIND = 10
FAILURE_POLICY = (
    "rows are never dropped: a failed row keeps the offline rule-based cleaning of its raw "
    "caption (the raw caption where the rules leave nothing) and a failed file gets the offline "
    "summary of its cleaned captions; each is listed under 'failures'"
)


@dataclass(frozen=True)
class CaptionSettings:
    """The ``captions:`` section of the workflow config (config/README.md explains each key)."""

    backend: str = "offline"
    base_url: str = "https://api.openai.com/v1"
    model: str = "gpt-4o-mini-2024-07-18"
    api_key_env: str | None = "OPENAI_API_KEY"
    prompt_version: str = "v1"
    max_workers: int = 4
    max_retries: int = 5
    timeout_s: float = 60.0
    backoff_s: float = 1.0
    max_backoff_s: float = 60.0
    cache: str | None = None
    # gpt-4o-mini-2024-07-18 list prices (USD per 1,000 tokens) when this was written.
    price_per_1k_input_tokens: float = 0.00015
    price_per_1k_output_tokens: float = 0.0006

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> CaptionSettings:
        known = [item.name for item in fields(cls)]
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise CaptionConfigError(f"unknown captions setting(s) {unknown}; known: {known}")
        settings = cls(**dict(values))
        settings.check()
        return settings

    def check(self) -> None:
        if self.backend not in BACKENDS:
            raise CaptionConfigError(
                f"captions.backend is {self.backend!r}; use one of {list(BACKENDS)}"
            )
        if self.max_workers < 1 or self.max_retries < 0 or self.timeout_s <= 0:
            raise CaptionConfigError(
                "captions.max_workers must be >= 1, max_retries >= 0 and timeout_s > 0"
            )


def make_backend(settings: CaptionSettings) -> CaptionBackend:
    if settings.backend == "offline":
        return RuleBasedBackend()
    return OpenAIChatBackend(
        base_url=settings.base_url,
        model=settings.model,
        api_key_env=settings.api_key_env,
        prompt_version=settings.prompt_version,
        timeout_s=settings.timeout_s,
        max_retries=settings.max_retries,
        backoff_s=settings.backoff_s,
        max_backoff_s=settings.max_backoff_s,
    )


# ---------------------------------------------------------------------------------------------
# Checks on answers


def _osa_distance(a: str, b: str) -> int:
    """Edit distance counting a swap of neighbouring letters as one edit."""
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        current = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                current[j] = min(current[j], previous2[j - 2] + 1)
        previous2, previous = previous, current
    return previous[-1]


def _derived(word: str, source_words: set[str]) -> bool:
    """A word is derived from the input when it is there, is an inflection of an input word
    (same first four letters) or a spelling fix of one (one edit; two in longer words)."""
    if word in source_words:
        return True
    for source in source_words:
        if len(word) >= 4 and len(source) >= 4 and word[:4] == source[:4]:
            return True
        limit = 1 if min(len(word), len(source)) < 5 else 2
        if abs(len(word) - len(source)) <= limit and _osa_distance(word, source) <= limit:
            return True
    return False


def _word_list(text: str) -> list[str]:
    """Lower-case words of two letters or more ("person's" gives "person")."""
    return [word for word in re.findall(r"[a-z]+", text.lower()) if len(word) > 1]


def invented_words(output: str, sources: Sequence[str], allowed: frozenset[str]) -> list[str]:
    """Content words of ``output`` that no source has (nor inflects, nor misspells)."""
    source_words = {word for source in sources for word in _word_list(source)}
    licensed = allowed | FUNCTION_WORDS | brand_generics(" ".join(sources))
    return [
        word
        for word in dict.fromkeys(_word_list(output))
        if word not in licensed and not _derived(word, source_words)
    ]


def answer_problem(output: str, sources: Sequence[str], allowed: frozenset[str]) -> str | None:
    """Why an answer cannot be used, or None."""
    if not output.strip():
        return "the answer is empty"
    invented = invented_words(output, sources, allowed)
    if invented:
        return f"the answer adds words that are not in its input: {invented}"
    return None


# ---------------------------------------------------------------------------------------------
# Calls through the cache, in a thread pool


@dataclass(frozen=True)
class _Outcome:
    """A backend's answer as a dict (``CleanResult``/``SummaryResult.to_dict``) or its error."""

    answer: dict[str, Any] | None
    error: str | None = None


@dataclass
class _CallStats:
    made: int = 0
    cache_hits: int = 0
    failed: int = 0
    usage: Usage = field(default_factory=Usage)


class _CallRunner:
    """Answers each distinct input once: from the cache, else from the backend (then cached)."""

    def __init__(self, backend: CaptionBackend, cache: ResponseCache, max_workers: int):
        self.backend = backend
        self.cache = cache
        self.max_workers = max_workers
        self.stats = _CallStats()
        self._lock = threading.Lock()

    def run(
        self, task: str, calls: Mapping[str, Callable[[], CleanResult | SummaryResult]]
    ) -> dict[str, _Outcome]:
        """``calls`` maps each input (as text: the cache payload) to the call that answers it.

        On an interruption the calls not yet started are cancelled and those running finish
        (and are cached) before the exception goes on.
        """
        identity = self.backend.cache_identity(task)
        outcomes: dict[str, _Outcome] = {}
        every = max(1, len(calls) // 10)
        with ThreadPoolExecutor(self.max_workers, thread_name_prefix=f"captions-{task}") as pool:
            futures = {
                pool.submit(self._answer, identity, payload, call): payload
                for payload, call in calls.items()
            }
            try:
                for done, future in enumerate(as_completed(futures), start=1):
                    outcomes[futures[future]] = future.result()
                    if done % every == 0 or done == len(futures):
                        log.info(
                            "%s: %d/%d answered (%d from the cache)",
                            task,
                            done,
                            len(futures),
                            self.stats.cache_hits,
                        )
            except BaseException:
                pool.shutdown(wait=True, cancel_futures=True)
                raise
        return outcomes

    def _answer(
        self, identity: str, payload: str, call: Callable[[], CleanResult | SummaryResult]
    ) -> _Outcome:
        key = cache_key(identity, payload) if self.backend.cacheable else None
        if key is not None:
            cached = self.cache.get(key)
            if cached is not None:
                self._count(cache_hits=1)
                return _Outcome(cached)
        try:
            result = call()
        except CaptionBackendError as error:
            self._count(made=1, failed=1, usage=error.usage)
            return _Outcome(None, str(error))
        self._count(made=1, usage=result.usage)
        answer = result.to_dict()
        if key is not None:
            self.cache.put(key, identity, payload, answer)
        return _Outcome(answer)

    def _count(
        self, made: int = 0, cache_hits: int = 0, failed: int = 0, usage: Usage | None = None
    ) -> None:
        with self._lock:
            self.stats.made += made
            self.stats.cache_hits += cache_hits
            self.stats.failed += failed
            self.stats.usage += usage or Usage()


# ---------------------------------------------------------------------------------------------
# The stage


@dataclass(frozen=True)
class StrongRow:
    """One region of the raw strong CSV (times kept as written; the caption space-normalised)."""

    row: int
    filename: str
    text: str
    onset: str
    offset: str


def read_strong_rows(path: str | os.PathLike) -> list[StrongRow]:
    frame = read_table(
        path,
        TACOS_STRONG_COLUMNS,
        fix_missing="set captions.raw_file in the config to the raw strong-caption CSV",
    )
    return [
        StrongRow(
            row,
            clean_text(record["filename"]),
            clean_text(record["text"]),
            record["onset"].strip(),
            record["offset"].strip(),
        )
        for row, record in numbered_rows(frame)
    ]


@dataclass
class _Report:
    """What the stage changed, with examples, and every failure with its row."""

    changed_rows: int = 0
    changes: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CHANGE_KINDS, 0))
    examples: dict[str, list[dict]] = field(default_factory=dict)
    failures: list[dict] = field(default_factory=list)

    def cleaned(self, row: StrongRow, result: CleanResult) -> None:
        self.changed_rows += result.caption != row.text
        for kind in result.changes:
            self.changes[kind] += 1
            examples = self.examples.setdefault(kind, [])
            if len(examples) < MAX_EXAMPLES_PER_KIND:
                examples.append({"row": row.row, "before": row.text, "after": result.caption})

    def failed(self, task: str, error: str, kept: str, **where: Any) -> None:
        self.failures.append({"task": task, **where, "error": error, "kept": kept})
        if len(self.failures) <= MAX_EXAMPLES_PER_KIND:
            log.warning("%s failed (%s): %s; keeping %r", task, where, error, kept)


def _fallback_caption(raw: str) -> str:
    return RuleBasedBackend().clean(raw).caption or raw


def _clean_rows(rows: Sequence[StrongRow], runner: _CallRunner, report: _Report) -> list[str]:
    """The cleaned caption of every row, in row order."""
    distinct = dict.fromkeys(row.text for row in rows if row.text)
    outcomes = runner.run("clean", {text: partial(runner.backend.clean, text) for text in distinct})
    cleaned = []
    for row in rows:
        where = {"row": row.row, "filename": row.filename, "input": row.text}
        if not row.text:
            report.failed("clean", "the caption is empty", "", **where)
            cleaned.append("")
            continue
        outcome = outcomes[row.text]
        problem = outcome.error or answer_problem(
            outcome.answer["caption"], [row.text], SPEECH_DESCRIPTION_WORDS
        )
        if problem:
            kept = _fallback_caption(row.text)
            report.failed("clean", problem, kept, **where)
        else:
            result = CleanResult.from_dict(outcome.answer)
            report.cleaned(row, result)
            kept = result.caption
        cleaned.append(kept)
    return cleaned


def _in_time_order(events: list[TimedCaption]) -> list[TimedCaption]:
    """By onset, then offset; unknown times last; ties keep the CSV's order (stable sort)."""
    return sorted(
        events,
        key=lambda e: (e.onset is None, e.onset or 0.0, e.offset is None, e.offset or 0.0),
    )


def _summarise_files(
    rows: Sequence[StrongRow], cleaned: Sequence[str], runner: _CallRunner, report: _Report
) -> list[tuple[str, str]]:
    """(filename, weak caption) for every file, in order of first appearance."""
    events: dict[str, list[TimedCaption]] = {}
    for row, text in zip(rows, cleaned, strict=True):
        timed = TimedCaption(text, parse_seconds(row.onset), parse_seconds(row.offset))
        events.setdefault(row.filename, []).extend([timed] if text else [])
    ordered = {filename: _in_time_order(found) for filename, found in events.items()}
    payloads = {
        filename: json.dumps([[e.text, e.onset, e.offset] for e in found])
        for filename, found in ordered.items()
        if found
    }
    outcomes = runner.run(
        "summarise",
        {payloads[name]: partial(runner.backend.summarise, ordered[name]) for name in payloads},
    )
    allowed = CONNECTIVE_WORDS | SPEECH_DESCRIPTION_WORDS
    weak = []
    for filename, found in ordered.items():
        texts = [event.text for event in found]
        if not found:
            report.failed("summarise", "the file has no non-empty caption", "", filename=filename)
            weak.append((filename, ""))
            continue
        outcome = outcomes[payloads[filename]]
        problem = outcome.error or answer_problem(outcome.answer["caption"], texts, allowed)
        if problem:
            kept = RuleBasedBackend().summarise(found).caption
            report.failed("summarise", problem, kept, filename=filename, input=texts)
        else:
            kept = SummaryResult.from_dict(outcome.answer).caption
        weak.append((filename, kept))
    return weak


def clean_caption_files(
    strong_in: str | os.PathLike,
    strong_out: str | os.PathLike,
    weak_out: str | os.PathLike,
    report_out: str | os.PathLike,
    settings: CaptionSettings | Mapping[str, Any],
    backend: CaptionBackend | None = None,
) -> dict[str, Any]:
    """Clean every strong caption, write one weak caption per file, and report; returns the
    report. Outputs keep the input's row order (weak: files in order of first appearance)."""
    if not isinstance(settings, CaptionSettings):
        settings = CaptionSettings.from_mapping(settings)
    backend = backend or make_backend(settings)
    rows = read_strong_rows(strong_in)
    report = _Report()
    with ResponseCache(settings.cache if backend.cacheable else None) as cache:
        runner = _CallRunner(backend, cache, settings.max_workers)
        cleaned = _clean_rows(rows, runner, report)
        weak = _summarise_files(rows, cleaned, runner, report)
    strong = [(r.filename, text, r.onset, r.offset) for r, text in zip(rows, cleaned, strict=True)]
    write_table(strong_out, TACOS_STRONG_COLUMNS, strong)
    write_table(weak_out, TACOS_WEAK_COLUMNS, weak)
    summary = _report_dict(settings, backend, rows, weak, runner.stats, report)
    Path(report_out).parent.mkdir(parents=True, exist_ok=True)
    Path(report_out).write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    log.info(
        "captions: %d rows (%d changed), %d files; %d calls, %d cache hits, %d failures, "
        "%d tokens, %.4f USD",
        len(rows),
        report.changed_rows,
        len(weak),
        runner.stats.made,
        runner.stats.cache_hits,
        len(report.failures),
        summary["tokens"]["total"],
        summary["cost_usd"],
    )
    return summary


def _report_dict(
    settings: CaptionSettings,
    backend: CaptionBackend,
    rows: Sequence[StrongRow],
    weak: Sequence[tuple[str, str]],
    stats: _CallStats,
    report: _Report,
) -> dict[str, Any]:
    usage = stats.usage
    cost = (
        usage.prompt_tokens / 1000 * settings.price_per_1k_input_tokens
        + usage.completion_tokens / 1000 * settings.price_per_1k_output_tokens
    )
    return {
        "backend": backend.describe(),
        "settings": asdict(settings),
        "failure_policy": FAILURE_POLICY,
        "rows": len(rows),
        "files": len(weak),
        "distinct_captions": len({row.text for row in rows if row.text}),
        "changed_rows": report.changed_rows,
        "changes": report.changes,
        "examples": report.examples,
        "failed_rows": sum(failure["task"] == "clean" for failure in report.failures),
        "failed_files": sum(failure["task"] == "summarise" for failure in report.failures),
        "failures": report.failures,
        "calls": {
            "made": stats.made,
            "cache_hits": stats.cache_hits,
            "failed": stats.failed,
            "http_requests": usage.requests,
        },
        "tokens": {
            "prompt": usage.prompt_tokens,
            "completion": usage.completion_tokens,
            "total": usage.prompt_tokens + usage.completion_tokens,
        },
        "cost_usd": round(cost, 6),
    }
