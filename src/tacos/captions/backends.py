"""Caption backends: clean one annotator caption, or summarise a file's captions in one sentence.

The interface (``CaptionBackend``), its results (``CleanResult``, ``SummaryResult``, ``Usage``),
its errors and the versioned prompts. Two backends implement it:

- ``OpenAIChatBackend`` (``tacos.captions.openai_backend``) calls any OpenAI-compatible
  ``/chat/completions`` endpoint;
- ``RuleBasedBackend`` (``tacos.captions.rules``) does the same job offline and
  deterministically with the word lists of ``tacos.captions.lexicon``: the demo's default, and
  the fallback for rows an LLM call could not clean.

Change kinds reported by both: ``spelling`` (typos, articles, repeated words), ``visual`` (what
cannot be heard: colours, places and people seen, brands), ``speech`` (transcribed words replaced
by a description) and ``bias`` (hedges, first person, opinions).
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib.resources import files
from typing import Any

CHANGE_KINDS = ("spelling", "visual", "speech", "bias")
PROMPT_TASKS = ("clean", "summarise")


# ---------------------------------------------------------------------------------------------
# Results and errors


@dataclass(frozen=True)
class Usage:
    """What a call cost: tokens as the server counted them, and HTTP requests sent (retries too)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    requests: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
            self.requests + other.requests,
        )

    def to_dict(self) -> dict[str, int]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "requests": self.requests,
        }


@dataclass(frozen=True)
class CleanResult:
    """A cleaned caption and the kinds of change made (a subset of ``CHANGE_KINDS``, in order)."""

    caption: str
    changes: tuple[str, ...] = ()
    usage: Usage = field(default_factory=Usage)

    def to_dict(self) -> dict[str, Any]:
        return {
            "caption": self.caption,
            "changes": list(self.changes),
            "usage": self.usage.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CleanResult:
        return cls(data["caption"], tuple(data["changes"]), Usage(**data["usage"]))


@dataclass(frozen=True)
class SummaryResult:
    """A file's weak caption: one sentence over its strong captions in temporal order."""

    caption: str
    usage: Usage = field(default_factory=Usage)

    def to_dict(self) -> dict[str, Any]:
        return {"caption": self.caption, "usage": self.usage.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SummaryResult:
        return cls(data["caption"], Usage(**data["usage"]))


@dataclass(frozen=True)
class TimedCaption:
    """One strong caption with its region (seconds; None where the CSV value is not a number)."""

    text: str
    onset: float | None
    offset: float | None


class CaptionConfigError(ValueError):
    """The captions config cannot work as written; the message says how to fix it."""


class CaptionBackendError(RuntimeError):
    """A call failed for good (after its retries, or at once when retrying cannot help).

    The message never contains the API key, and ``usage`` still counts what the attempts cost.
    """

    def __init__(self, message: str, usage: Usage | None = None):
        super().__init__(message)
        self.usage = usage or Usage()


class CaptionBackend(ABC):
    """Clean one caption; summarise one file's cleaned captions given in temporal order."""

    name: str
    #: Whether answers may be stored in the response cache (deterministic code is not cached,
    #: so that a change to the rules takes effect without clearing a cache).
    cacheable: bool = False

    @abstractmethod
    def clean(self, caption: str) -> CleanResult: ...

    @abstractmethod
    def summarise(self, events: Sequence[TimedCaption]) -> SummaryResult: ...

    def cache_identity(self, task: str) -> str:
        """What, besides the input, decides an answer to ``task`` (part of the cache key)."""
        return json.dumps({"backend": self.name, "task": task})

    def describe(self) -> dict[str, Any]:
        """Settings for the report (never secrets)."""
        return {"backend": self.name}


# ---------------------------------------------------------------------------------------------
# Prompts


def load_prompt(task: str, version: str) -> str:
    """The system prompt of ``task`` at ``version`` (``prompts/<task>_<version>.md``)."""
    folder = files("tacos.captions") / "prompts"
    resource = folder / f"{task}_{version}.md"
    if not resource.is_file():
        known = sorted(
            entry.name.removeprefix(f"{task}_").removesuffix(".md")
            for entry in folder.iterdir()
            if entry.name.startswith(f"{task}_")
        )
        raise CaptionConfigError(
            f"there is no prompt version {version!r} for {task}; set captions.prompt_version to "
            f"one of {known}"
        )
    return resource.read_text(encoding="utf-8")
