"""Caption cleaning and weak-caption writing (the paper's LLM stage, and an offline stand-in).

- ``backends``: one interface (``clean`` one caption, ``summarise`` a file's captions in order)
  with an OpenAI-compatible chat-completions client and a deterministic rule-based backend.
- ``cache``: a persistent response cache, so an interrupted run resumes and a re-run is free.
- ``clean``: the workflow stage: raw strong CSV in; cleaned strong CSV, weak CSV, JSON report out.
"""

from tacos.captions.backends import (
    CHANGE_KINDS,
    CaptionBackend,
    CaptionBackendError,
    CaptionConfigError,
    CleanResult,
    OpenAIChatBackend,
    RuleBasedBackend,
    SummaryResult,
    TimedCaption,
    Usage,
)
from tacos.captions.cache import ResponseCache
from tacos.captions.clean import CaptionSettings, clean_caption_files, make_backend

__all__ = [
    "CHANGE_KINDS",
    "CaptionBackend",
    "CaptionBackendError",
    "CaptionConfigError",
    "CaptionSettings",
    "CleanResult",
    "OpenAIChatBackend",
    "ResponseCache",
    "RuleBasedBackend",
    "SummaryResult",
    "TimedCaption",
    "Usage",
    "clean_caption_files",
    "make_backend",
]
