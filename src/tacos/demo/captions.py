"""Words for the demo's sounds: caption paraphrases, annotator-style raw captions, weak summaries.

Every paraphrase of an event names its source unambiguously: it contains at least one of the
event's ``keywords`` and none of another event's (checked by the tests), so a text encoder can
learn which sound a caption means, while the many wordings keep the task from being a lookup.

- Strong captions (one per region) are single sentences: a clause ("A dog barks loudly.") or a
  noun phrase ("The barking of a dog.").
- Weak captions summarise a clip's strong captions in temporal order, as the TACOS release's
  gpt-4o-mini summaries do ("A bell rings, then a dog barks while rain falls.").
- Raw captions imitate what annotators typed before the LLM cleaning stage: typos, visual
  references, transcribed speech, hedges, first person and opinions. Real raw captions are not
  released; these exist only so the demo's cleaning stage has something to clean.
- Clotho captions describe a clip's events without timing, five different ones per clip.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.resources import files

import numpy as np


def pick(rng: np.random.Generator, options: Sequence):
    """One of ``options``, drawn with one integer from ``rng``."""
    return options[int(rng.integers(len(options)))]


@dataclass(frozen=True)
class EventWords:
    """How people describe one event type."""

    clauses: tuple[str, ...]  # subject + verb, lower case, no final period
    phrases: tuple[str, ...]  # noun phrases, lower case, no final period
    keywords: tuple[str, ...]  # whole words that identify this event (and no other)

    @property
    def paraphrases(self) -> tuple[str, ...]:
        return self.clauses + self.phrases


def _read_event_words() -> dict[str, EventWords]:
    """``resources/event_words.json``: per event type, its clauses, phrases and keywords."""
    text = (files("tacos.demo") / "resources" / "event_words.json").read_text(encoding="utf-8")
    return {
        name: EventWords(*(tuple(words[key]) for key in ("clauses", "phrases", "keywords")))
        for name, words in json.loads(text).items()
    }


EVENT_WORDS = _read_event_words()

CORRUPTION_KINDS = ("typo", "visual", "transcript", "hedge", "first_person", "opinion")
VISUAL_REFERENCES = (
    "next to a red car",
    "in the kitchen",
    "near a blue house",
    "while a man in a yellow jacket stands there",
    "in a bright room",
    "under a big tree",
    "on a sunny day",
    "behind the white fence",
)
TRANSCRIPTS = (
    "hello there",
    "can you hear me",
    "come over here",
    "it is over now",
    "see you tomorrow",
    "where did you put it",
)
HEDGES = ("I think", "maybe", "probably", "it seems like", "possibly")
FIRST_PERSON = ("I hear", "I can hear", "we hear")
OPINIONS = (
    "which is really annoying",
    "very annoying",
    "nice sound",
    "quite unpleasant",
    "kind of relaxing",
    "super loud and irritating",
)
TRANSCRIPT_PROBABILITY = 0.7  # share of speech regions whose raw caption quotes the words
TEMPORAL_JOINERS = (", then ", ", and then ", ", after which ", ", after that ")
CONCURRENT_JOINERS = (" while ", " as ", " and at the same time ")


def sentence(text: str) -> str:
    """Capitalise the first letter and end with a period."""
    return text[:1].upper() + text[1:] + "."


def words_of(text: str) -> list[str]:
    """Lower-case words of a caption, punctuation removed (for keyword matching)."""
    return re.findall(r"[a-z']+", text.lower())


def strong_caption(event: str, rng: np.random.Generator) -> str:
    """A clean caption of one region: one paraphrase of the event as a sentence."""
    options = EVENT_WORDS[event].paraphrases
    return sentence(pick(rng, options))


def weak_caption(ordered_events: list[tuple[str, float, float]], rng: np.random.Generator) -> str:
    """One sentence summarising (event, onset, offset) regions in temporal order.

    A region that starts before every earlier one has ended is joined with a "while" word,
    otherwise with a "then" word, so the summary keeps order but loses the timing.
    """
    regions = sorted(ordered_events, key=lambda region: (region[1], region[2]))
    text, latest_end = "", -1.0
    for event, onset, offset in regions:
        clauses = EVENT_WORDS[event].clauses
        clause = pick(rng, clauses)
        if text:
            joiners = CONCURRENT_JOINERS if onset < latest_end else TEMPORAL_JOINERS
            text += pick(rng, joiners)
        text += clause
        latest_end = max(latest_end, offset)
    return sentence(text)


def clotho_captions(events: list[str], rng: np.random.Generator, count: int = 5) -> list[str]:
    """``count`` different captions, each naming every event, without timing words."""
    captions: list[str] = []
    for _ in range(100 * count):
        use_clauses = rng.random() < 0.5
        parts = []
        for index in rng.permutation(len(events)):
            words = EVENT_WORDS[events[index]]
            options = words.clauses if use_clauses else words.phrases
            parts.append(pick(rng, options))
        text = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
        caption = sentence(text)
        if caption not in captions:
            captions.append(caption)
        if len(captions) == count:
            return captions
    raise ValueError(f"cannot write {count} different captions for {events}")


def typo(text: str, rng: np.random.Generator) -> str:
    """Drop, double or swap a letter in one word of at least four letters (always a change)."""
    spans = [match.span() for match in re.finditer(r"[A-Za-z]{4,}", text)]
    start, stop = pick(rng, spans)
    position = int(rng.integers(start + 1, stop - 1))
    operation = rng.integers(3)
    if operation == 2 and text[position] != text[position + 1]:
        swapped = text[position + 1] + text[position]
        return text[:position] + swapped + text[position + 2 :]
    if operation == 1:
        return text[:position] + text[position] + text[position:]
    return text[:position] + text[position + 1 :]


def corrupt_caption(clean: str, kinds: tuple[str, ...], rng: np.random.Generator) -> str:
    """Apply annotator-style corruptions of the given ``kinds`` to a clean caption."""
    unknown = set(kinds) - set(CORRUPTION_KINDS)
    if unknown:
        raise ValueError(f"unknown corruption kinds {sorted(unknown)}")
    body = clean.rstrip(".")
    body = body[:1].lower() + body[1:]

    if "transcript" in kinds:
        body += f', saying "{pick(rng, TRANSCRIPTS)}"'
    if "visual" in kinds:
        body += " " + pick(rng, VISUAL_REFERENCES)
    if "opinion" in kinds:
        body += ", " + pick(rng, OPINIONS)
    if "first_person" in kinds:
        body = f"{pick(rng, FIRST_PERSON)} {body}"
    if "hedge" in kinds:
        body = f"{pick(rng, HEDGES)} {body}"
    raw = body[:1].upper() + body[1:]
    return typo(raw, rng) if "typo" in kinds else raw


def raw_caption(clean: str, event: str, rng: np.random.Generator) -> str:
    """What an annotator might have typed for a region: one to three corruptions of the clean
    caption; speech regions usually quote what was said."""
    general = [kind for kind in CORRUPTION_KINDS if kind != "transcript"]
    count = int(rng.integers(1, 4))
    kinds = tuple(str(kind) for kind in rng.choice(general, size=count, replace=False))
    if event == "speech" and rng.random() < TRANSCRIPT_PROBABILITY:
        kinds += ("transcript",)
    return corrupt_caption(clean, kinds, rng)
