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

import re
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class EventWords:
    """How people describe one event type."""

    clauses: tuple[str, ...]  # subject + verb, lower case, no final period
    phrases: tuple[str, ...]  # noun phrases, lower case, no final period
    keywords: tuple[str, ...]  # whole words that identify this event (and no other)

    @property
    def paraphrases(self) -> tuple[str, ...]:
        return self.clauses + self.phrases


EVENT_WORDS: dict[str, EventWords] = {
    "beep": EventWords(
        clauses=(
            "a device beeps",
            "something beeps a few times",
            "a machine is beeping",
            "an electronic device beeps",
            "a short beep sounds",
            "a timer beeps",
            "a high beep is heard",
        ),
        phrases=(
            "beeping of an electronic device",
            "a series of short beeps",
            "electronic beeps",
            "a beeping sound",
            "a bleep from a machine",
        ),
        keywords=("beep", "beeps", "beeping", "bleep"),
    ),
    "siren": EventWords(
        clauses=(
            "a siren wails",
            "a siren is blaring",
            "an ambulance siren sounds",
            "a police siren wails in the distance",
            "a siren goes off",
            "an emergency siren rises and falls",
        ),
        phrases=(
            "the wail of a siren",
            "a siren blaring",
            "sound of an emergency siren",
            "a loud siren",
            "an ambulance siren wailing",
        ),
        keywords=("siren",),
    ),
    "car_engine": EventWords(
        clauses=(
            "a car engine idles",
            "an engine is running",
            "a car engine hums",
            "the engine of a car rumbles",
            "a car idles with a low rumble",
            "a motor runs steadily",
        ),
        phrases=(
            "a car engine idling",
            "the low hum of an engine",
            "an idling car",
            "engine noise from a car",
            "a running motor",
        ),
        keywords=("car", "engine", "motor"),
    ),
    "knock": EventWords(
        clauses=(
            "someone knocks on a door",
            "a person knocks on the door",
            "somebody knocks on a wooden door",
            "someone knocks a few times",
            "a person is knocking on wood",
        ),
        phrases=(
            "knocking on a door",
            "a knock at the door",
            "a few knocks on wood",
            "several quick knocks",
            "knocks on a wooden surface",
        ),
        keywords=("knock", "knocks", "knocking"),
    ),
    "clock_tick": EventWords(
        clauses=(
            "a clock ticks",
            "a clock is ticking steadily",
            "a wall clock ticks",
            "the clock ticks in a steady rhythm",
            "a clock is ticking",
        ),
        phrases=(
            "a ticking clock",
            "the ticking of a clock",
            "steady clock ticks",
            "the tick tock of a clock",
            "a clock ticking",
        ),
        keywords=("clock", "tick", "ticks", "ticking"),
    ),
    "bird_chirp": EventWords(
        clauses=(
            "a bird chirps",
            "birds are chirping",
            "a small bird tweets",
            "birds chirp and tweet",
            "a bird sings a few short chirps",
        ),
        phrases=(
            "chirping birds",
            "a bird chirping",
            "the tweeting of small birds",
            "bird chirps",
            "high chirps of a bird",
        ),
        keywords=("bird", "birds", "chirp", "chirps", "chirping", "tweet", "tweets", "tweeting"),
    ),
    "rain": EventWords(
        clauses=(
            "rain falls",
            "rain is falling steadily",
            "it is raining",
            "rain patters on the ground",
            "heavy rain pours down",
            "light rain falls on a roof",
        ),
        phrases=(
            "rainfall",
            "the patter of rain",
            "rain falling on a surface",
            "steady rain",
            "the sound of rain",
        ),
        keywords=("rain", "raining", "rainfall"),
    ),
    "bell": EventWords(
        clauses=(
            "a bell rings",
            "a church bell rings",
            "a bell is ringing",
            "a large bell tolls",
            "a bell chimes",
            "a bell is struck",
        ),
        phrases=(
            "the ringing of a bell",
            "a tolling church bell",
            "a chiming bell",
            "bell chimes",
            "a ringing bell",
        ),
        keywords=("bell", "bells", "chime", "chimes", "chiming"),
    ),
    "speech": EventWords(
        clauses=(
            "a man speaks",
            "a woman is talking",
            "someone speaks",
            "a person talks quietly",
            "a man is speaking",
            "someone is talking",
        ),
        phrases=(
            "a man speaking",
            "a woman talking",
            "human speech",
            "a person's voice",
            "a male voice speaking",
        ),
        keywords=("speaks", "speaking", "talking", "talks", "speech", "voice"),
    ),
    "dog_bark": EventWords(
        clauses=(
            "a dog barks",
            "a dog barks loudly",
            "a dog is barking",
            "a large dog barks a few times",
            "a small dog barks",
        ),
        phrases=(
            "barking of a dog",
            "a dog barking",
            "dog barks",
            "loud barking from a dog",
            "the bark of a dog",
        ),
        keywords=("dog", "barks", "barking", "bark"),
    ),
    "phone_ring": EventWords(
        clauses=(
            "a phone rings",
            "a telephone is ringing",
            "an old telephone rings",
            "the phone rings repeatedly",
            "a landline phone rings",
        ),
        phrases=(
            "a ringing telephone",
            "a phone ringing",
            "the ring of an old phone",
            "telephone ringing",
            "an old phone ringing",
        ),
        keywords=("phone", "telephone"),
    ),
    "stream": EventWords(
        clauses=(
            "water flows",
            "a stream is flowing",
            "water runs over rocks",
            "a river flows steadily",
            "water is trickling",
            "a brook babbles",
        ),
        phrases=(
            "running water",
            "a flowing stream",
            "the gurgle of a river",
            "water flowing",
            "a babbling brook",
        ),
        keywords=("water", "stream", "river", "brook"),
    ),
    "hammer": EventWords(
        clauses=(
            "someone hammers a nail",
            "a hammer strikes metal",
            "a hammer is hitting something",
            "a person is hammering",
            "a hammer bangs repeatedly",
        ),
        phrases=(
            "hammering",
            "the sound of a hammer",
            "a hammer hitting metal",
            "repeated hammer blows",
            "hammering on metal",
        ),
        keywords=("hammer", "hammers", "hammering"),
    ),
    "whistling": EventWords(
        clauses=(
            "someone whistles",
            "a man whistles a tune",
            "a person is whistling",
            "someone whistles a short melody",
            "a woman whistles",
        ),
        phrases=(
            "whistling",
            "a person whistling",
            "a whistled tune",
            "a man whistling a melody",
            "human whistling",
        ),
        keywords=("whistles", "whistling", "whistled", "whistle"),
    ),
    "wind": EventWords(
        clauses=(
            "wind blows",
            "the wind is blowing",
            "strong wind gusts",
            "wind howls",
            "a gusty wind blows",
        ),
        phrases=(
            "blowing wind",
            "gusts of wind",
            "the howling of wind",
            "a strong breeze",
            "wind noise",
        ),
        keywords=("wind", "breeze", "gusts", "gusty"),
    ),
    "bee_buzz": EventWords(
        clauses=(
            "a bee buzzes",
            "a bee is buzzing around",
            "an insect buzzes",
            "a wasp buzzes nearby",
            "bees are buzzing",
        ),
        phrases=(
            "a buzzing bee",
            "the buzz of an insect",
            "buzzing insects",
            "a bee buzzing",
            "a wasp flying by",
        ),
        keywords=("bee", "bees", "buzz", "buzzes", "buzzing", "insect", "insects", "wasp"),
    ),
}

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
    return sentence(options[rng.integers(len(options))])


def weak_caption(ordered_events: list[tuple[str, float, float]], rng: np.random.Generator) -> str:
    """One sentence summarising (event, onset, offset) regions in temporal order.

    A region that starts before every earlier one has ended is joined with a "while" word,
    otherwise with a "then" word, so the summary keeps order but loses the timing.
    """
    regions = sorted(ordered_events, key=lambda region: (region[1], region[2]))
    text, latest_end = "", -1.0
    for event, onset, offset in regions:
        clauses = EVENT_WORDS[event].clauses
        clause = clauses[rng.integers(len(clauses))]
        if text:
            joiners = CONCURRENT_JOINERS if onset < latest_end else TEMPORAL_JOINERS
            text += joiners[rng.integers(len(joiners))]
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
            parts.append(options[rng.integers(len(options))])
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
    start, stop = spans[rng.integers(len(spans))]
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

    def pick(options: tuple[str, ...]) -> str:
        return options[rng.integers(len(options))]

    if "transcript" in kinds:
        body += f', saying "{pick(TRANSCRIPTS)}"'
    if "visual" in kinds:
        body += " " + pick(VISUAL_REFERENCES)
    if "opinion" in kinds:
        body += ", " + pick(OPINIONS)
    if "first_person" in kinds:
        body = f"{pick(FIRST_PERSON)} {body}"
    if "hedge" in kinds:
        body = f"{pick(HEDGES)} {body}"
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
