"""Caption cleaning and weak-caption writing (the paper's LLM stage, and an offline stand-in).

- ``backends``: one interface (``clean`` one caption, ``summarise`` a file's captions in order),
  implemented by ``openai_backend`` (an OpenAI-compatible chat-completions client) and ``rules``
  (a deterministic rule-based cleaner over the word lists of ``lexicon``).
- ``cache``: a persistent response cache, so an interrupted run resumes and a re-run is free.
- ``clean``: the workflow stage: raw strong CSV in; cleaned strong CSV, weak CSV, JSON report out.
"""

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
from tacos.captions.cache import ResponseCache
from tacos.captions.clean import CaptionSettings, clean_caption_files, make_backend
from tacos.captions.openai_backend import OpenAIChatBackend
from tacos.captions.rules import RuleBasedBackend

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
