"""The demo's scenes: a noise bed with a few synthesised events at random positions and gains.

A ``Scene`` is a clip's samples and its ``EventRegion``s; ``compose_scene`` draws one from a
random generator, so a seed fixes every clip of the demo.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tacos.demo.sounds import EVENTS, VOCABULARY, coloured_noise, synthesize_event

EVENT_PEAK_DB = (-14.0, -4.0)
BACKGROUND_RMS_DB = (-52.0, -40.0)
MIX_PEAK = 0.95
MAX_EVENT_SHARE = 0.9  # no event is longer than this share of its clip


@dataclass(frozen=True)
class EventRegion:
    """Where an event of the vocabulary is audible in a clip (seconds, 3 decimals)."""

    event: str
    onset: float
    offset: float


@dataclass(frozen=True)
class Scene:
    """A synthesised clip: its samples and its regions sorted by onset."""

    waveform: np.ndarray
    sample_rate: int
    regions: tuple[EventRegion, ...]

    @property
    def duration(self) -> float:
        return len(self.waveform) / self.sample_rate


def _db(value: float) -> float:
    return 10.0 ** (value / 20.0)


def _choose_events(rng: np.random.Generator, max_events: int, required: str | None) -> list[str]:
    """1..max_events distinct event types at random; ``required`` is always among them."""
    count = int(rng.integers(1, min(max_events, len(VOCABULARY)) + 1))
    names = [VOCABULARY[i].name for i in rng.choice(len(VOCABULARY), size=count, replace=False)]
    if required is not None and required not in names:
        names[int(rng.integers(count))] = required
    return names


def _background(rng: np.random.Generator, n: int, sample_rate: int) -> np.ndarray:
    """A low pink or brown noise bed."""
    exponent = 1.0 if rng.random() < 0.5 else 2.0
    return coloured_noise(rng, n, sample_rate, exponent) * _db(rng.uniform(*BACKGROUND_RMS_DB))


def compose_scene(
    rng: np.random.Generator,
    duration: float,
    sample_rate: int,
    max_events: int,
    required: str | None = None,
) -> Scene:
    """Background plus 1..max_events distinct events at random positions and gains.

    Event lengths come from each type's natural range (capped at 90 % of the clip); events may
    overlap. A region spans the event's audible extent; onsets and offsets are exact sample
    positions rounded to milliseconds.
    """
    n = max(1, int(round(duration * sample_rate)))
    mix = _background(rng, n, sample_rate)
    regions = []
    for name in _choose_events(rng, max_events, required):
        event = EVENTS[name]
        longest = min(event.max_duration, MAX_EVENT_SHARE * n / sample_rate)
        length = rng.uniform(min(event.min_duration, longest), longest)
        wave = synthesize_event(event, rng, length, sample_rate)
        start = int(rng.integers(0, n - len(wave) + 1))
        mix[start : start + len(wave)] += _db(rng.uniform(*EVENT_PEAK_DB)) * wave
        onset, offset = round(start / sample_rate, 3), round((start + len(wave)) / sample_rate, 3)
        regions.append(EventRegion(name, onset, offset))
    peak = np.abs(mix).max()
    if peak > MIX_PEAK:
        mix *= MIX_PEAK / peak
    ordered = tuple(sorted(regions, key=lambda r: (r.onset, r.offset, r.event)))
    return Scene(mix.astype(np.float32), sample_rate, ordered)
