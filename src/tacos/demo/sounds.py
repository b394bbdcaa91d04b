"""The demo's sound vocabulary: procedurally synthesised event types tied to real AudioSet classes.

Each event type occupies its own corner of the spectrogram (pitch range, harmonic or noisy,
steady or impulsive, rhythm), so a small model can tell them apart, and each is tied to a real
AudioSet class (MID and display name exactly as in ``mid_to_display_name.tsv``, all of them among
the 407 evaluated classes, most of them inside one of the 50 query categories) so the text-based
SED evaluation has ground truth for the demo clips.

A synthesiser is ``f(rng, duration, sample_rate) -> waveform`` of ``round(duration * rate)``
samples; ``synthesize_event`` trims it to its audible extent (first to last sample within 30 dB
of the peak), so the region written to the annotations is where the sound really is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

Synthesizer = Callable[[np.random.Generator, float, int], np.ndarray]

AUDIBLE_RANGE_DB = 30.0  # an event's extent ends where it falls this far below its peak
EDGE_FADE_S = 0.004


@dataclass(frozen=True)
class SoundEvent:
    """One event type: its synthesiser, its real AudioSet class and its natural duration range."""

    name: str
    mid: str
    display_name: str
    min_duration: float
    max_duration: float
    synthesize: Synthesizer


# ---------------------------------------------------------------------------------------------
# Building blocks (vectorised; every random draw comes from the caller's Generator)


def _samples(duration: float, sample_rate: int) -> int:
    return max(1, int(round(duration * sample_rate)))


def _times(n: int, sample_rate: int) -> np.ndarray:
    return np.arange(n) / sample_rate


def _nyquist_guard(sample_rate: int) -> float:
    """Highest frequency a synthesiser may use (keeps clear of aliasing at low rates)."""
    return 0.45 * sample_rate


def _fast_length(n: int) -> int:
    """Smallest 2**a * 3**b * 5**c >= n: FFTs of such lengths are many times faster."""
    best = 1 << max(0, (n - 1).bit_length())
    power5 = 1
    while power5 < best:
        power35 = power5
        while power35 < best:
            candidate = power35 << max(0, (-(-n // power35) - 1).bit_length())
            best = min(best, candidate)
            power35 *= 3
        power5 *= 5
    return best


def _shaped_noise(
    rng: np.random.Generator, n: int, sample_rate: int, gain: Callable[[np.ndarray], np.ndarray]
) -> np.ndarray:
    """White noise shaped by ``gain(frequencies)`` in the frequency domain, unit RMS."""
    size = _fast_length(n)
    spectrum = np.fft.rfft(rng.standard_normal(size)) * gain(np.fft.rfftfreq(size, 1 / sample_rate))
    noise = np.fft.irfft(spectrum, size)[:n]
    return noise / (np.sqrt(np.mean(noise**2)) + 1e-12)


def _band_noise(
    rng: np.random.Generator, n: int, sample_rate: int, low: float, high: float
) -> np.ndarray:
    """White noise band-limited to [low, high] Hz, unit RMS."""
    high = min(high, _nyquist_guard(sample_rate))
    return _shaped_noise(rng, n, sample_rate, lambda f: ((f >= low) & (f <= high)).astype(float))


def coloured_noise(
    rng: np.random.Generator, n: int, sample_rate: int, exponent: float
) -> np.ndarray:
    """Noise with power spectrum 1/f**exponent (1: pink, 2: brown) above 20 Hz, unit RMS."""
    return _shaped_noise(
        rng, n, sample_rate, lambda f: np.where(f > 0, np.maximum(f, 20.0) ** (-exponent / 2), 0.0)
    )


def _harmonics(frequency: np.ndarray, sample_rate: int, amplitudes: np.ndarray) -> np.ndarray:
    """Sum of harmonics of a time-varying fundamental; ``amplitudes`` is (K,) or (K, n).

    Harmonics above the Nyquist guard are silenced sample by sample.
    """
    phase = 2.0 * np.pi * np.cumsum(frequency) / sample_rate
    orders = np.arange(1, len(amplitudes) + 1)[:, None]
    gains = amplitudes if np.ndim(amplitudes) == 2 else np.asarray(amplitudes)[:, None]
    audible = orders * frequency[None, :] < _nyquist_guard(sample_rate)
    return np.sum(gains * audible * np.sin(orders * phase[None, :]), axis=0)


def _decaying_partials(
    length: int, sample_rate: int, freqs: np.ndarray, taus: np.ndarray, amps: np.ndarray
) -> np.ndarray:
    """An impact: exponentially decaying sinusoids, one per partial."""
    t = _times(length, sample_rate)[None, :]
    keep = np.asarray(freqs) < _nyquist_guard(sample_rate)
    freqs, taus, amps = (np.asarray(a)[keep][:, None] for a in (freqs, taus, amps))
    return np.sum(amps * np.exp(-t / taus) * np.sin(2.0 * np.pi * freqs * t), axis=0)


def _overlap_add(n: int, starts: np.ndarray, grains: np.ndarray) -> np.ndarray:
    """Add grains (count, length) into a signal of n samples at the given start samples."""
    index = np.asarray(starts, dtype=int)[:, None] + np.arange(grains.shape[1])[None, :]
    inside = index < n
    return np.bincount(index[inside], weights=grains[inside], minlength=n)[:n]


def _smooth(signal: np.ndarray, sample_rate: int, seconds: float) -> np.ndarray:
    """Moving average with a Hann kernel (used to round off gates and pitch steps)."""
    width = max(3, int(seconds * sample_rate) | 1)
    kernel = np.hanning(width)
    return np.convolve(signal, kernel / kernel.sum(), mode="same")


def _slow_wobble(rng: np.random.Generator, n: int, sample_rate: int, max_rate: float) -> np.ndarray:
    """A smooth random curve in about [-1, 1]: a few slow sinusoids with random phases."""
    t = _times(n, sample_rate)[None, :]
    rates = rng.uniform(0.05, max_rate, size=(3, 1))
    phases = rng.uniform(0.0, 2.0 * np.pi, size=(3, 1))
    return np.sum(np.sin(2.0 * np.pi * rates * t + phases), axis=0) / 3.0


def _train_starts(
    rng: np.random.Generator, duration: float, sample_rate: int, unit: float, gap: tuple
) -> np.ndarray:
    """Start samples of a train of units of ``unit`` s separated by random gaps, within duration."""
    starts, position = [], 0.0
    while position + unit <= duration or not starts:
        starts.append(position)
        position += unit + rng.uniform(*gap)
    return (np.asarray(starts) * sample_rate).astype(int)


# ---------------------------------------------------------------------------------------------
# Synthesisers, one per event type


def _beeps(rng: np.random.Generator, duration: float, sample_rate: int) -> np.ndarray:
    """Electronic beep train: a square-ish tone (odd harmonic) gated on and off."""
    n = _samples(duration, sample_rate)
    t = _times(n, sample_rate)
    freq = rng.uniform(850.0, 1150.0)
    beep, gap = rng.uniform(0.08, 0.22), rng.uniform(0.08, 0.25)
    period = beep + gap
    count = max(1, int((duration + gap) // period))
    gate = ((t % period) < beep) & (t < count * period - gap)
    tone = np.sin(2 * np.pi * freq * t) + 0.3 * np.sin(2 * np.pi * 3 * freq * t)
    return tone * _smooth(gate.astype(float), sample_rate, 0.006)


def _siren(rng: np.random.Generator, duration: float, sample_rate: int) -> np.ndarray:
    """Emergency siren: a harmonic tone sweeping up and down (slow wail or fast yelp)."""
    n = _samples(duration, sample_rate)
    t = _times(n, sample_rate)
    rate = rng.uniform(0.2, 0.4) if rng.random() < 0.5 else rng.uniform(2.5, 4.0)
    centre, depth = rng.uniform(850.0, 1100.0), rng.uniform(250.0, 400.0)
    freq = centre + depth * np.sin(2 * np.pi * rate * t + rng.uniform(0, 2 * np.pi))
    return _harmonics(freq, sample_rate, np.array([1.0, 0.45, 0.2]))


def _car_engine(rng: np.random.Generator, duration: float, sample_rate: int) -> np.ndarray:
    """Idling engine: a low harmonic series with firing-rate modulation and rumble noise."""
    n = _samples(duration, sample_rate)
    f0 = rng.uniform(28.0, 50.0) * (1.0 + 0.12 * _slow_wobble(rng, n, sample_rate, 0.3))
    amps = (1.0 / np.arange(1, 15) ** 0.7) * rng.uniform(0.5, 1.0, size=14)
    tone = _harmonics(f0, sample_rate, amps)
    firing = 1.0 + 0.5 * np.sin(np.pi * np.cumsum(f0) / sample_rate)
    rumble = _band_noise(rng, n, sample_rate, 20.0, 300.0)
    return tone * firing + 0.4 * rumble * np.std(tone)


def _knocks(rng: np.random.Generator, duration: float, sample_rate: int) -> np.ndarray:
    """Knocking on wood: a quick group of low, fast-decaying resonant thumps."""
    n = _samples(duration, sample_rate)
    length = int(0.09 * sample_rate)
    starts = _train_starts(rng, duration - 0.09, sample_rate, 0.0, (0.12, 0.25))
    base = rng.uniform(300.0, 420.0)
    knock = _decaying_partials(
        length, sample_rate, [base, 2.3 * base, 3.9 * base], [0.03, 0.02, 0.012], [1.0, 0.6, 0.3]
    )
    click = _band_noise(rng, length, sample_rate, 300.0, 3000.0) * np.exp(
        -_times(length, sample_rate) / 0.003
    )
    gains = rng.uniform(0.7, 1.0, size=(len(starts), 1))
    return _overlap_add(n, starts, gains * (knock + 0.3 * click)[None, :])


def _clock_ticks(rng: np.random.Generator, duration: float, sample_rate: int) -> np.ndarray:
    """Clock: very short, bright clicks on a steady beat, alternating tick and tock."""
    n = _samples(duration, sample_rate)
    period = rng.uniform(0.45, 0.55)
    count = max(1, int(duration / period))
    length = int(0.03 * sample_rate)
    decay = np.exp(-_times(length, sample_rate) / 0.003)
    pitches = rng.uniform(4800.0, 5400.0), rng.uniform(5800.0, 6600.0)
    grains = np.stack(
        [
            (
                _band_noise(rng, length, sample_rate, 4000.0, 8000.0)
                + _decaying_partials(length, sample_rate, [pitches[i % 2]], [0.006], [2.0])
            )
            * decay
            for i in range(count)
        ]
    )
    starts = (np.arange(count) * period * sample_rate).astype(int)
    return _overlap_add(n, starts, grains)


def _bird_chirps(rng: np.random.Generator, duration: float, sample_rate: int) -> np.ndarray:
    """Small bird: short, fast frequency sweeps high in the spectrum, in irregular groups."""
    n = _samples(duration, sample_rate)
    length = int(0.12 * sample_rate)
    starts = _train_starts(rng, duration, sample_rate, 0.12, (0.02, 0.25))
    t = _times(length, sample_rate)[None, :]
    chirp_len = rng.uniform(0.05, 0.12, size=(len(starts), 1))
    begin = rng.uniform(2800.0, 4000.0, size=(len(starts), 1))
    end = begin * rng.uniform(1.25, 1.6, size=(len(starts), 1))
    if rng.random() < 0.5:
        begin, end = end, begin
    sweep = begin + (end - begin) * np.minimum(t / chirp_len, 1.0)
    phase = 2 * np.pi * np.cumsum(sweep, axis=1) / sample_rate
    window = np.where(t < chirp_len, np.sin(np.pi * np.minimum(t / chirp_len, 1.0)) ** 2, 0.0)
    return _overlap_add(n, starts, np.sin(phase) * window)


def _rain(rng: np.random.Generator, duration: float, sample_rate: int) -> np.ndarray:
    """Rain: a dense crackle of tiny broadband drop impacts over a soft high hiss."""
    n = _samples(duration, sample_rate)
    size = _fast_length(n)
    count = int(rng.uniform(300.0, 700.0) * duration)
    drops = np.bincount(
        rng.integers(0, n, count), weights=rng.lognormal(0.0, 0.6, count), minlength=size
    )
    kernel_length = int(0.004 * sample_rate)
    kernel = rng.standard_normal(kernel_length) * np.exp(
        -_times(kernel_length, sample_rate) / 0.0008
    )
    spectrum = np.fft.rfft(drops) * np.fft.rfft(kernel, size)
    spectrum[np.fft.rfftfreq(size, 1.0 / sample_rate) < 1200.0] = 0.0
    crackle = np.fft.irfft(spectrum, size)[:n]
    crackle /= np.sqrt(np.mean(crackle**2)) + 1e-12
    hiss = _band_noise(rng, n, sample_rate, 2000.0, 8000.0)
    return crackle + 0.3 * hiss


BELL_RATIOS = np.array([0.5, 1.0, 1.19, 1.5, 2.0, 2.52, 2.66, 3.01, 4.1])
BELL_AMPS = np.array([0.6, 1.0, 0.7, 0.5, 0.6, 0.3, 0.3, 0.2, 0.15])


def _bell(rng: np.random.Generator, duration: float, sample_rate: int) -> np.ndarray:
    """Bell: inharmonic partials with long decays, struck one to a few times."""
    n = _samples(duration, sample_rate)
    strike = int(rng.uniform(0.8, 1.6) * sample_rate)
    starts = np.arange(0, max(1, n - strike // 2), strike)[:3]
    base = rng.uniform(480.0, 600.0)
    taus = rng.uniform(0.8, 1.4) * BELL_RATIOS**-0.8
    ring = _decaying_partials(n, sample_rate, base * BELL_RATIOS, taus, BELL_AMPS)
    return _overlap_add(n, starts, np.repeat(ring[None, :], len(starts), axis=0))


VOWEL_FORMANTS = np.array(
    [[730, 1090, 2440], [270, 2290, 3010], [300, 870, 2240], [530, 1840, 2480], [570, 840, 2410]],
    dtype=float,
)
FORMANT_BANDWIDTHS = np.array([90.0, 110.0, 170.0])


def _speech(rng: np.random.Generator, duration: float, sample_rate: int) -> np.ndarray:
    """Speech-like babble: a voiced source through changing vowel formants, syllable by syllable."""
    n = _samples(duration, sample_rate)
    t = _times(n, sample_rate)
    base = rng.uniform(100.0, 210.0)
    f0 = base * (1.0 + 0.12 * _slow_wobble(rng, n, sample_rate, 1.5))
    syllable_bounds = np.cumsum(rng.uniform(0.12, 0.3, size=int(duration / 0.12) + 2))
    syllable = np.searchsorted(syllable_bounds, t)
    vowel = rng.integers(0, len(VOWEL_FORMANTS), size=len(syllable_bounds) + 1)[syllable]
    voiced = rng.random(len(syllable_bounds) + 1)[syllable] > 0.15  # some syllables are pauses
    starts = np.concatenate([[0.0], syllable_bounds])[syllable]
    lengths = np.diff(np.concatenate([[0.0], syllable_bounds, [np.inf]]))[syllable]
    envelope = np.sin(np.pi * np.clip((t - starts) / lengths, 0.0, 1.0)) ** 0.6 * voiced
    orders = np.arange(1, int(4000.0 / base) + 1)[:, None]
    partials = orders * f0[None, :]
    formants = VOWEL_FORMANTS[vowel].T  # (3, n)
    shape = sum(
        1.0 / (1.0 + ((partials - formant[None, :]) / bandwidth) ** 2)
        for formant, bandwidth in zip(formants, FORMANT_BANDWIDTHS, strict=True)
    )
    voice = _harmonics(f0, sample_rate, shape / orders**0.5)
    return (voice + 0.05 * _band_noise(rng, n, sample_rate, 1000.0, 4000.0)) * envelope


def _dog_barks(rng: np.random.Generator, duration: float, sample_rate: int) -> np.ndarray:
    """Dog barks: short, loud harmonic bursts with a falling pitch and a noisy edge."""
    n = _samples(duration, sample_rate)
    length = int(0.22 * sample_rate)
    starts = _train_starts(rng, duration, sample_rate, 0.22, (0.12, 0.35))
    t = _times(length, sample_rate)
    grains = []
    for _ in starts:
        bark_len = rng.uniform(0.12, 0.22)
        f0 = rng.uniform(450.0, 650.0) * (1.0 - 0.3 * np.minimum(t / bark_len, 1.0))
        orders = np.arange(1, 9)
        formant = rng.uniform(1000.0, 1600.0)
        amps = 1.0 / (1.0 + ((orders * f0.mean() - formant) / 600.0) ** 2)
        envelope = np.minimum(t / 0.006, 1.0) * np.exp(-t / (0.35 * bark_len)) * (t < bark_len)
        noise = _band_noise(rng, length, sample_rate, 500.0, 3000.0)
        grains.append((_harmonics(f0, sample_rate, amps) + 0.35 * noise) * envelope)
    return _overlap_add(n, starts, np.stack(grains))


def _phone_ring(rng: np.random.Generator, duration: float, sample_rate: int) -> np.ndarray:
    """Old telephone: a small bell struck about 20 times a second, in ring bursts with pauses."""
    n = _samples(duration, sample_rate)
    t = _times(n, sample_rate)
    ring_on, ring_off = rng.uniform(0.8, 1.4), rng.uniform(0.6, 1.2)
    gate = (t % (ring_on + ring_off)) < ring_on
    strike_period = 1.0 / rng.uniform(18.0, 25.0)
    strikes = np.exp(-(t % strike_period) / 0.02)
    base = rng.uniform(1900.0, 2300.0)
    partials = np.sum(
        [a * np.sin(2 * np.pi * base * r * t) for r, a in ((1.0, 1.0), (1.53, 0.6), (2.2, 0.3))],
        axis=0,
    )
    return partials * strikes * _smooth(gate.astype(float), sample_rate, 0.006)


def _stream(rng: np.random.Generator, duration: float, sample_rate: int) -> np.ndarray:
    """Running water: a mid-band rush with many tiny rising bubbles."""
    n = _samples(duration, sample_rate)
    rush = _band_noise(rng, n, sample_rate, 250.0, 2500.0)
    rush *= 1.0 + 0.3 * _slow_wobble(rng, n, sample_rate, 2.0)
    count = int(rng.uniform(25.0, 60.0) * duration)
    length = int(0.04 * sample_rate)
    t = _times(length, sample_rate)[None, :]
    bubble_len = rng.uniform(0.01, 0.04, size=(count, 1))
    f_start = rng.uniform(400.0, 1400.0, size=(count, 1))
    sweep = f_start * (1.0 + 0.6 * np.minimum(t / bubble_len, 1.0))
    window = np.where(t < bubble_len, np.sin(np.pi * np.minimum(t / bubble_len, 1.0)), 0.0)
    bubbles = np.sin(2 * np.pi * np.cumsum(sweep, axis=1) / sample_rate) * window
    starts = rng.integers(0, max(1, n - length), count)
    return 0.6 * rush + 2.0 * _overlap_add(n, starts, bubbles)


def _hammer(rng: np.random.Generator, duration: float, sample_rate: int) -> np.ndarray:
    """Hammer on metal: regular blows, each a sharp crack and a short metallic ring."""
    n = _samples(duration, sample_rate)
    length = int(0.25 * sample_rate)
    period = rng.uniform(0.35, 0.7)
    count = max(1, int((duration - 0.25) / period) + 1)
    base = rng.uniform(1200.0, 1700.0)
    ring = _decaying_partials(
        length, sample_rate, [base, 2.76 * base, 120.0], [0.06, 0.03, 0.02], [1.0, 0.5, 0.8]
    )
    crack = _band_noise(rng, length, sample_rate, 500.0, 8000.0) * np.exp(
        -_times(length, sample_rate) / 0.002
    )
    gains = rng.uniform(0.7, 1.0, size=(count, 1))
    starts = (np.arange(count) * period * sample_rate).astype(int)
    return _overlap_add(n, starts, gains * (ring + crack)[None, :])


def _whistling(rng: np.random.Generator, duration: float, sample_rate: int) -> np.ndarray:
    """Human whistling: a nearly pure tone gliding between notes of a tune, with vibrato."""
    n = _samples(duration, sample_rate)
    t = _times(n, sample_rate)
    note_bounds = np.cumsum(rng.uniform(0.15, 0.5, size=int(duration / 0.15) + 2))
    steps = rng.integers(0, 10, size=len(note_bounds) + 1)[np.searchsorted(note_bounds, t)]
    semitones = _smooth(steps.astype(float), sample_rate, 0.03)
    pitch = rng.uniform(1100.0, 1500.0) * 2.0 ** (semitones / 12.0)
    pitch *= 1.0 + 0.015 * np.sin(2 * np.pi * rng.uniform(5.0, 6.5) * t)
    tone = _harmonics(pitch, sample_rate, np.array([1.0, 0.08]))
    breath = 0.05 * _band_noise(rng, n, sample_rate, 1000.0, 3000.0)
    return tone + breath


def _wind(rng: np.random.Generator, duration: float, sample_rate: int) -> np.ndarray:
    """Wind: low, rumbling noise in slow gusts with a faint howling resonance."""
    n = _samples(duration, sample_rate)
    gusts = 0.6 + 0.4 * _slow_wobble(rng, n, sample_rate, 0.5)
    rush = coloured_noise(rng, n, sample_rate, 2.0)
    rush += 0.5 * _band_noise(rng, n, sample_rate, 80.0, 800.0)
    howl_freq = rng.uniform(300.0, 600.0) * (1.0 + 0.2 * _slow_wobble(rng, n, sample_rate, 0.4))
    howl = _harmonics(howl_freq, sample_rate, np.array([1.0]))
    return (rush + 0.3 * howl) * gusts


def _bee_buzz(rng: np.random.Generator, duration: float, sample_rate: int) -> np.ndarray:
    """Bee: a bright, buzzing harmonic drone with wing-beat flutter, drifting as it flies by."""
    n = _samples(duration, sample_rate)
    t = _times(n, sample_rate)
    f0 = rng.uniform(190.0, 260.0) * (1.0 + 0.05 * _slow_wobble(rng, n, sample_rate, 0.8))
    f0 *= 1.0 + 0.02 * np.sin(2 * np.pi * rng.uniform(8.0, 15.0) * t)
    orders = np.arange(1, 31)
    tone = _harmonics(f0, sample_rate, 1.0 / orders**0.8)
    return tone * (1.0 + 0.3 * _slow_wobble(rng, n, sample_rate, 1.0))


VOCABULARY: tuple[SoundEvent, ...] = (
    SoundEvent("beep", "/m/02fs_r", "Beep, bleep", 0.2, 2.0, _beeps),
    SoundEvent("siren", "/m/03kmc9", "Siren", 3.0, 9.0, _siren),
    SoundEvent("car_engine", "/m/0k4j", "Car", 3.0, 10.0, _car_engine),
    SoundEvent("knock", "/m/07r4wb8", "Knock", 0.3, 1.2, _knocks),
    SoundEvent("clock_tick", "/m/07qjznl", "Tick-tock", 2.0, 8.0, _clock_ticks),
    SoundEvent("bird_chirp", "/m/07pggtn", "Chirp, tweet", 0.5, 4.0, _bird_chirps),
    SoundEvent("rain", "/m/06mb1", "Rain", 4.0, 14.0, _rain),
    SoundEvent("bell", "/m/0395lw", "Bell", 1.5, 5.0, _bell),
    SoundEvent("speech", "/m/09x0r", "Speech", 1.5, 6.0, _speech),
    SoundEvent("dog_bark", "/m/05tny_", "Bark", 0.3, 1.8, _dog_barks),
    SoundEvent("phone_ring", "/m/07pp8cl", "Telephone bell ringing", 1.5, 6.0, _phone_ring),
    SoundEvent("stream", "/m/0j6m2", "Stream, river", 4.0, 14.0, _stream),
    SoundEvent("hammer", "/m/03l9g", "Hammer", 1.0, 4.0, _hammer),
    SoundEvent("whistling", "/m/01w250", "Whistling", 1.0, 4.0, _whistling),
    SoundEvent("wind", "/m/03m9d0z", "Wind", 4.0, 12.0, _wind),
    SoundEvent("bee_buzz", "/m/01h3n", "Bee, wasp, etc.", 1.0, 5.0, _bee_buzz),
)
EVENTS: dict[str, SoundEvent] = {event.name: event for event in VOCABULARY}


def audible_extent(waveform: np.ndarray, range_db: float = AUDIBLE_RANGE_DB) -> tuple[int, int]:
    """First and one-past-last sample whose magnitude is within ``range_db`` of the peak."""
    magnitude = np.abs(waveform)
    loud = np.flatnonzero(magnitude >= magnitude.max() * 10.0 ** (-range_db / 20.0))
    return int(loud[0]), int(loud[-1]) + 1


def synthesize_event(
    event: SoundEvent, rng: np.random.Generator, duration: float, sample_rate: int
) -> np.ndarray:
    """One instance of ``event``, trimmed to its audible extent, faded at the edges, peak 1."""
    raw = event.synthesize(rng, duration, sample_rate)
    start, stop = audible_extent(raw)
    wave = raw[start:stop].astype(np.float64)
    fade = min(int(EDGE_FADE_S * sample_rate), len(wave) // 2)
    if fade > 0:
        ramp = 0.5 - 0.5 * np.cos(np.pi * np.arange(fade) / fade)
        wave[:fade] *= ramp
        wave[-fade:] *= ramp[::-1]
    return wave / (np.abs(wave).max() + 1e-12)
