"""The OpenAI-compatible chat-completions backend of caption cleaning.

``OpenAIChatBackend`` calls any OpenAI-compatible ``/chat/completions`` endpoint (the hosted API,
vLLM, Ollama, ...) at temperature 0, asks for a JSON object and validates it, and retries rate
limits (honouring ``Retry-After``), server errors, timeouts and malformed answers with
exponential backoff. The API key is read from an environment variable named in the config and
is redacted from every message it could reach.
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import logging
import os
import re
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from tacos.captions.backends import (
    CHANGE_KINDS,
    PROMPT_TASKS,
    CaptionBackend,
    CaptionBackendError,
    CaptionConfigError,
    CleanResult,
    SummaryResult,
    TimedCaption,
    Usage,
    load_prompt,
)

log = logging.getLogger(__name__)

# Change kinds a model may name otherwise, by the name the project reports them under.
CHANGE_ALIASES = {"grammar": "spelling", "typo": "spelling", "transcript": "speech"}
REDACTED = "[redacted]"  # what replaces the API key in every logged or raised text


class _Retryable(Exception):
    """A failure that a later attempt may not meet (rate limit, 5xx, timeout, malformed answer)."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


_Parsed = TypeVar("_Parsed")


class _Fatal(Exception):
    """A failure that retrying cannot fix (bad request, wrong key, unknown model)."""


class OpenAIChatBackend(CaptionBackend):
    """Chat completions through the openai SDK at ``base_url`` (OpenAI, vLLM, Ollama) with a
    versioned system prompt and a JSON answer; our retries, answer checks and key redaction."""

    name = "openai"
    cacheable = True

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key_env: str | None = None,
        prompt_version: str = "v1",
        timeout_s: float = 60.0,
        max_retries: int = 5,
        backoff_s: float = 1.0,
        max_backoff_s: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self.prompt_version = prompt_version
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self._sleep = sleep
        self._api_key = _read_api_key(api_key_env)
        self._prompts = {task: load_prompt(task, prompt_version) for task in PROMPT_TASKS}
        self._client_module = _import_openai()
        self._client = self._client_module.OpenAI(
            base_url=base_url.rstrip("/"),
            api_key=self._api_key or "unused",
            timeout=timeout_s,
            max_retries=0,
        )
        # A local server without a key gets no Authorization header at all.
        self._omitted_authorization = (
            None if self._api_key else {"Authorization": self._client_module.Omit()}
        )

    def __repr__(self) -> str:
        return (
            f"OpenAIChatBackend(url={self.url!r}, model={self.model!r}, "
            f"prompt_version={self.prompt_version!r})"
        )

    def describe(self) -> dict[str, Any]:
        return {
            "backend": self.name,
            "url": self.url,
            "model": self.model,
            "prompt_version": self.prompt_version,
        }

    def cache_identity(self, task: str) -> str:
        prompt_sha = hashlib.sha256(self._prompts[task].encode()).hexdigest()
        return json.dumps(
            {
                "backend": self.name,
                "model": self.model,
                "prompt_version": self.prompt_version,
                "prompt_sha256": prompt_sha,
                "task": task,
            },
            sort_keys=True,
        )

    def clean(self, caption: str) -> CleanResult:
        (cleaned, changes), usage = self._chat("clean", {"caption": caption}, _parse_clean_answer)
        return CleanResult(cleaned, changes, usage)

    def summarise(self, events: Sequence[TimedCaption]) -> SummaryResult:
        payload = {
            "events": [
                {"caption": event.text, "onset": event.onset, "offset": event.offset}
                for event in events
            ]
        }
        summary, usage = self._chat("summarise", payload, _parse_caption_field)
        return SummaryResult(summary, usage)

    # -- one call with retries ----------------------------------------------------------------

    def _chat(
        self, task: str, payload: dict[str, Any], parse: Callable[[dict[str, Any]], _Parsed]
    ) -> tuple[_Parsed, Usage]:
        """The parsed answer and what all attempts cost; raises CaptionBackendError.

        ``parse`` reads the answer's JSON object and raises ``_Retryable`` where it does not
        have the requested fields (a malformed answer is retried like a malformed body).
        """
        body = {
            "model": self.model,
            "temperature": 0,
            "response_format": {"type": "json_object"},
            "messages": [
                {"role": "system", "content": self._prompts[task]},
                {"role": "user", "content": json.dumps(payload, ensure_ascii=False)},
            ],
        }
        attempts = self.max_retries + 1
        spent = Usage()
        for attempt in range(1, attempts + 1):
            spent += Usage(requests=1)
            try:
                data = self._post(body)
                spent += _token_usage(data)
                return parse(_answer_object(data)), spent
            except _Fatal as problem:
                raise CaptionBackendError(self._redact(f"{task}: {problem}"), spent) from None
            except _Retryable as problem:
                if attempt == attempts:
                    message = f"{task}: gave up after {attempts} attempts; last error: {problem}"
                    raise CaptionBackendError(self._redact(message), spent) from None
                delay = self._delay(attempt, problem.retry_after)
                log.warning(
                    "%s", self._redact(f"{task}: {problem}; retry {attempt} in {delay:.2f} s")
                )
                self._sleep(delay)
        raise AssertionError("unreachable: the loop returns or raises")

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        """Retry-After when the server gave one, else exponential backoff; both capped."""
        wanted = retry_after if retry_after is not None else self.backoff_s * 2 ** (attempt - 1)
        return min(self.max_backoff_s, wanted)

    def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        """One request through the openai SDK (its own retries off: ours count and back off)."""
        openai = self._client_module
        try:
            completion = self._client.chat.completions.create(
                **body, extra_headers=self._omitted_authorization
            )
        except openai.APITimeoutError:
            raise _Retryable(f"no answer within {self.timeout_s} s") from None
        except openai.APIConnectionError as error:
            raise _Retryable(f"cannot connect to {self.url} ({type(error).__name__})") from None
        except openai.RateLimitError as error:
            retry_after = _retry_after_seconds(error.response.headers.get("Retry-After"))
            raise _Retryable("rate limited (HTTP 429)", retry_after) from None
        except openai.InternalServerError as error:
            text = error.response.text[:200]
            raise _Retryable(f"server error (HTTP {error.status_code}): {text}") from None
        except openai.APIStatusError as error:
            text = error.response.text[:300]
            raise _Fatal(f"HTTP {error.status_code} from {self.url}: {text}") from None
        except (openai.APIResponseValidationError, ValueError) as error:
            raise _Retryable(f"answer is not JSON: {type(error).__name__}") from None
        # A body that is not JSON comes back from the SDK as its text, not as a completion.
        if isinstance(completion, str):
            raise _Retryable(f"answer is not JSON: {completion[:120]!r}")
        data = completion.model_dump()
        if self._api_key and self._api_key in json.dumps(data, ensure_ascii=False):
            # Never let an echoed key reach the cache, the outputs or a log.
            raise _Retryable("the answer contains the API key; it was discarded")
        return data

    def _redact(self, text: str) -> str:
        return text.replace(self._api_key, REDACTED) if self._api_key else text


def _import_openai():
    """The openai SDK, an optional extra of the project."""
    try:
        import openai
    except ModuleNotFoundError:
        raise CaptionConfigError(
            "the openai caption backend needs the openai SDK: "
            "pip install 'tacos-reproduction[openai]'"
        ) from None
    return openai


def _read_api_key(env_name: str | None) -> str | None:
    """The key from the environment variable ``env_name`` (None: the server needs no key)."""
    if not env_name:
        return None
    key = os.environ.get(env_name, "").strip()
    if not key:
        raise CaptionConfigError(
            f"captions.api_key_env names the environment variable {env_name}, which is not set; "
            f"export {env_name}=<your key>, or set captions.api_key_env to null for a local "
            "server that needs no key"
        )
    return key


def _retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds: a number, or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _token_usage(data: dict[str, Any]) -> Usage:
    usage = data.get("usage") if isinstance(data, dict) else None
    if not isinstance(usage, dict):
        return Usage()
    return Usage(int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0))


def _answer_object(data: Any) -> dict[str, Any]:
    """The JSON object inside ``choices[0].message.content`` (code fences tolerated)."""
    try:
        content = data["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        raise _Retryable("answer has no choices[0].message.content") from None
    if not isinstance(content, str):
        raise _Retryable("message content is not text")
    text = re.sub(r"^```(?:json)?\s*|\s*```$", "", content.strip())
    try:
        answer = json.loads(text)
    except ValueError:
        raise _Retryable(f"message content is not JSON: {content[:120]!r}") from None
    if not isinstance(answer, dict):
        raise _Retryable("message content is not a JSON object")
    return answer


def _parse_caption_field(answer: dict[str, Any]) -> str:
    caption = answer.get("caption")
    if not isinstance(caption, str) or not caption.strip():
        raise _Retryable("the answer's 'caption' is missing or empty")
    return " ".join(caption.split())


def _parse_clean_answer(answer: dict[str, Any]) -> tuple[str, tuple[str, ...]]:
    """The caption and change kinds of a cleaning answer; unknown kinds are an error."""
    caption = _parse_caption_field(answer)
    changes = answer.get("changes", [])
    if not isinstance(changes, list) or not all(isinstance(kind, str) for kind in changes):
        raise _Retryable("the answer's 'changes' is not a list of strings")
    kinds = {CHANGE_ALIASES.get(kind.lower(), kind.lower()) for kind in changes}
    unknown = kinds - set(CHANGE_KINDS)
    if unknown:
        raise _Retryable(f"the answer names unknown change kinds {sorted(unknown)}")
    return caption, tuple(kind for kind in CHANGE_KINDS if kind in kinds)
