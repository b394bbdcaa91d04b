"""The caption stage end to end: CSV in, cleaned strong + weak CSVs and a report out."""

import csv
import json
import logging
import runpy
from collections import deque
from pathlib import Path
from types import SimpleNamespace

import pytest

from tacos.captions.backends import CaptionConfigError
from tacos.captions.clean import (
    CaptionSettings,
    clean_caption_files,
    invented_words,
    make_backend,
)
from tacos.captions.openai_backend import OpenAIChatBackend

RAW = [
    ("1.mp3", "Maybe I hear a dgo barks", "4.1", "5.0"),
    ("1.mp3", "A bell rings in the kitchen", "0.5", "3.0"),
    ("2.mp3", 'A man says "see you tomorrow"', "1.0", "2.5"),
    ("1.mp3", "Rain falls, very annoying", "4.5", "12.0"),
    ("2.mp3", "A bell rings in the kitchen", "3.0", "4.0"),
]
CLEANED = [
    ["filename", "text", "onset", "offset"],
    ["1.mp3", "A dog barks.", "4.1", "5.0"],
    ["1.mp3", "A bell rings.", "0.5", "3.0"],
    ["2.mp3", "A man says something.", "1.0", "2.5"],
    ["1.mp3", "Rain falls.", "4.5", "12.0"],
    ["2.mp3", "A bell rings.", "3.0", "4.0"],
]
WEAK = [
    ["filename", "text"],
    ["1.mp3", "A bell rings, then a dog barks while rain falls."],
    ["2.mp3", "A man says something, then a bell rings."],
]
CALLS = 4 + 2  # distinct captions + files


def _write_raw(path: Path, rows=RAW) -> Path:
    with path.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(["filename", "text", "onset", "offset"])
        writer.writerows(rows)
    return path


def _read(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as stream:
        return list(csv.reader(stream))


def _run(tmp_path: Path, settings: dict, backend=None) -> dict:
    raw = tmp_path / "raw.csv"
    if not raw.exists():
        _write_raw(raw)
    out = tmp_path / "out"
    return clean_caption_files(
        raw, out / "strong.csv", out / "weak.csv", out / "report.json", settings, backend
    )


def _openai_settings(server, tmp_path: Path, **overrides) -> dict:
    return {
        "backend": "openai",
        "base_url": server.base_url,
        "model": "test-model",
        "api_key_env": "TACOS_TEST_API_KEY",
        "max_workers": 2,
        "max_retries": 2,
        "timeout_s": 5.0,
        "backoff_s": 0.0,
        "cache": str(tmp_path / "cache.sqlite"),
        "price_per_1k_input_tokens": 0.5,
        "price_per_1k_output_tokens": 2.0,
    } | overrides


def test_offline_stage_writes_cleaned_strong_weak_and_report(tmp_path):
    report = _run(tmp_path, {"backend": "offline"})
    assert _read(tmp_path / "out" / "strong.csv") == CLEANED
    assert _read(tmp_path / "out" / "weak.csv") == WEAK
    assert json.loads((tmp_path / "out" / "report.json").read_text()) == report
    assert (report["rows"], report["files"], report["distinct_captions"]) == (5, 2, 4)
    assert report["changed_rows"] == 5
    assert report["changes"] == {"spelling": 1, "visual": 2, "speech": 1, "bias": 2}
    assert report["examples"]["speech"] == [
        {"row": 4, "before": 'A man says "see you tomorrow"', "after": "A man says something."}
    ]
    assert report["failures"] == []
    assert report["calls"] == {"made": CALLS, "cache_hits": 0, "failed": 0, "http_requests": 0}
    assert (report["tokens"]["total"], report["cost_usd"]) == (0, 0.0)


def test_openai_stage_counts_tokens_and_cost_and_a_rerun_makes_no_calls(
    tmp_path, chat_server, api_key
):
    settings = _openai_settings(chat_server, tmp_path)
    first = _run(tmp_path, settings)
    assert _read(tmp_path / "out" / "strong.csv") == CLEANED
    assert _read(tmp_path / "out" / "weak.csv") == WEAK
    assert len(chat_server.requests) == CALLS
    assert first["calls"] == {"made": CALLS, "cache_hits": 0, "failed": 0, "http_requests": CALLS}
    assert first["tokens"] == {"prompt": 600, "completion": 120, "total": 720}
    assert first["cost_usd"] == pytest.approx(0.6 * 0.5 + 0.12 * 2.0)

    second = _run(tmp_path, settings)
    assert len(chat_server.requests) == CALLS  # nothing new reached the server
    assert second["calls"] == {"made": 0, "cache_hits": CALLS, "failed": 0, "http_requests": 0}
    assert (second["tokens"]["total"], second["cost_usd"]) == (0, 0.0)
    assert _read(tmp_path / "out" / "strong.csv") == CLEANED


class _CrashAfter(OpenAIChatBackend):
    """A backend whose process 'dies' (an exception that is not a call failure) after k calls."""

    def __init__(self, calls_before_crash: int, **settings):
        super().__init__(**settings)
        self.calls_left = calls_before_crash

    def clean(self, caption):
        self.calls_left -= 1
        if self.calls_left < 0:
            raise KeyboardInterrupt("simulated interruption")
        return super().clean(caption)


def test_interrupted_run_resumes_without_repeating_calls(tmp_path, chat_server, api_key):
    settings = _openai_settings(chat_server, tmp_path)
    stage = CaptionSettings.from_mapping(settings)
    crashing = _CrashAfter(
        2,
        base_url=stage.base_url,
        model=stage.model,
        api_key_env=stage.api_key_env,
        backoff_s=0.0,
    )
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path, settings, crashing)
    assert 2 <= len(chat_server.requests) < CALLS

    resumed = _run(tmp_path, settings)
    assert len(chat_server.requests) == CALLS
    assert len(set(chat_server.user_messages)) == CALLS  # no input was sent twice
    assert resumed["calls"]["cache_hits"] + resumed["calls"]["made"] == CALLS
    assert _read(tmp_path / "out" / "strong.csv") == CLEANED
    assert _read(tmp_path / "out" / "weak.csv") == WEAK


def test_failed_rows_are_kept_flagged_and_listed(tmp_path, chat_server, api_key):
    # one caption the server refuses, one answer that invents a sound, one invented summary
    chat_server.caption_faults["Rain falls, very annoying"] = deque(["400"])
    chat_server.answers["A bell rings in the kitchen"] = {
        "caption": "A bell rings while a cat meows.",
        "changes": ["visual"],
    }
    chat_server.answers["A man says something, then a bell rings."] = {
        "caption": "A man says something, then a church bell rings."
    }
    report = _run(tmp_path, _openai_settings(chat_server, tmp_path))
    assert _read(tmp_path / "out" / "strong.csv") == CLEANED  # fallbacks: the offline rules
    assert _read(tmp_path / "out" / "weak.csv") == WEAK
    failures = {(f["task"], f.get("row"), f["filename"]): f for f in report["failures"]}
    assert sorted(failures) == [
        ("clean", 3, "1.mp3"),
        ("clean", 5, "1.mp3"),
        ("clean", 6, "2.mp3"),
        ("summarise", None, "2.mp3"),
    ]
    assert "HTTP 400" in failures[("clean", 5, "1.mp3")]["error"]
    assert failures[("clean", 3, "1.mp3")]["error"] == (
        "the answer adds words that are not in its input: ['cat', 'meows']"
    )
    assert failures[("clean", 3, "1.mp3")]["kept"] == "A bell rings."
    assert failures[("summarise", None, "2.mp3")]["error"].endswith("['church']")
    assert (report["failed_rows"], report["failed_files"]) == (3, 1)
    assert report["calls"]["failed"] == 1


def test_api_key_never_reaches_outputs_cache_report_or_log(tmp_path, chat_server, api_key, caplog):
    caplog.set_level(logging.DEBUG)
    chat_server.caption_faults["Rain falls, very annoying"] = deque(["echo_500", "echo_401"])
    # a well-formed answer that echoes the key, on every attempt: failed, never cached
    chat_server.caption_faults["A bell rings in the kitchen"] = deque(["echo_answer"] * 10)
    report = _run(tmp_path, _openai_settings(chat_server, tmp_path))
    assert any("[redacted]" in failure["error"] for failure in report["failures"])
    errors = [failure["error"] for failure in report["failures"]]
    assert any("the answer contains the API key; it was discarded" in error for error in errors)
    written = [path for path in tmp_path.rglob("*") if path.is_file()]
    assert {path.name for path in written} >= {"strong.csv", "weak.csv", "report.json"}
    assert any(path.name.startswith("cache.sqlite") for path in written)
    for path in written:
        assert api_key.encode() not in path.read_bytes(), path
    assert api_key not in caplog.text
    assert "[redacted]" in caplog.text


def test_invented_words_allow_spelling_fixes_inflections_and_speech_descriptions():
    allowed = frozenset({"someone", "speaks"})
    assert invented_words("A dog is barking.", ["A dgo barks"], allowed) == []
    assert invented_words("Someone speaks.", ['"Hello there"'], allowed) == []
    assert invented_words("A dog barks at a cat.", ["A dog barks"], allowed) == ["cat"]


def test_settings_reject_unknown_keys_and_backends():
    with pytest.raises(CaptionConfigError, match="unknown captions setting"):
        CaptionSettings.from_mapping({"backend": "offline", "modle": "x"})
    with pytest.raises(CaptionConfigError, match="captions.backend is 'gpt'"):
        CaptionSettings.from_mapping({"backend": "gpt"})
    assert make_backend(CaptionSettings()).name == "offline"


@pytest.fixture
def restore_logging():
    """The script configures the root logger for its rule log; put the test's back afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in root.handlers:
        if handler not in handlers:
            handler.close()
    root.handlers[:], root.level = handlers, level


def test_snakemake_script_runs_the_stage(tmp_path, restore_logging):
    raw = _write_raw(tmp_path / "raw.csv")
    out = tmp_path / "out"
    snakemake = SimpleNamespace(
        output=SimpleNamespace(
            strong=str(out / "strong.csv"),
            weak=str(out / "weak.csv"),
            report=str(out / "report.json"),
        ),
        params=SimpleNamespace(raw_file=str(raw), backend={"backend": "offline"}),
        log=[str(tmp_path / "logs" / "clean_captions.log")],
        threads=2,
    )
    script = Path(__file__).parents[2] / "workflow" / "scripts" / "clean_captions.py"
    runpy.run_path(str(script), init_globals={"snakemake": snakemake})
    assert _read(out / "weak.csv") == WEAK
    assert "captions: 5 rows" in (tmp_path / "logs" / "clean_captions.log").read_text()
