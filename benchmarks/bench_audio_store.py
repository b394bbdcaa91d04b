"""How much faster training reads audio from the HDF5 store than from the mp3 files.

Generates mp3 clips like TACOS's (32 kHz, 10-30 s), builds a 16 kHz store, then reads random
clips (and random crops) both ways: from the store, and by decoding and resampling the mp3 each
time, which is what a dataloader without a store does. Both run in the same process on a warm
page cache, so the ratio compares CPU cost, not disk speed.

    python benchmarks/bench_audio_store.py --clips 200 --threads 2
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from tacos.data.audio import load_audio, write_audio
from tacos.data.manifest import Clip
from tacos.data.store import AudioStore, build_audio_store


def synthetic_waveform(duration: float, sample_rate: int, seed: int) -> np.ndarray:
    """Harmonic tones with a slow envelope over coloured noise: mp3 encodes it like real audio."""
    rng = np.random.default_rng(seed)
    time_s = np.arange(int(duration * sample_rate)) / sample_rate
    wave = np.zeros_like(time_s)
    for _ in range(3):
        pitch, rate, phase = rng.uniform(80, 2000), rng.uniform(0.1, 2.0), rng.uniform(0, 7)
        envelope = 0.5 + 0.5 * np.sin(2 * np.pi * rate * time_s + phase)
        for harmonic in range(1, 5):
            wave += envelope * np.sin(2 * np.pi * pitch * harmonic * time_s) / (harmonic * 6)
    noise = np.cumsum(rng.standard_normal(time_s.size)) * 0.002
    wave += noise - np.convolve(noise, np.ones(64) / 64, mode="same")
    return (0.9 * wave / np.abs(wave).max()).astype(np.float32)


def generate_clips(folder: Path, args: argparse.Namespace) -> list[Clip]:
    rng = random.Random(args.seed)
    durations = [rng.uniform(args.min_duration, args.max_duration) for _ in range(args.clips)]

    def write(index: int) -> Clip:
        path = folder / f"{index:06d}.mp3"
        wave = synthetic_waveform(durations[index], args.source_rate, args.seed + index)
        write_audio(path, wave, args.source_rate)
        return Clip(str(index), str(path), durations[index])

    with ThreadPoolExecutor(args.threads) as pool:
        return list(pool.map(write, range(args.clips)))


def clips_per_second(read: Callable[[Clip], np.ndarray], order: list[Clip], seconds: float):
    """Read clips in ``order`` (cycling) for at least ``seconds``; return clips per second."""
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds or count == 0:
        read(order[count % len(order)])
        count += 1
    return count / (time.perf_counter() - start)


def measure(store: AudioStore, clips: list[Clip], args: argparse.Namespace) -> list[tuple]:
    """Rows of (what, store clips/s, decode clips/s) for full clips and random crops."""
    rng = random.Random(args.seed + 1)
    order = rng.choices(clips, k=10 * len(clips))
    starts = {c.clip_id: rng.uniform(0, max(0.0, c.duration - args.crop)) for c in clips}

    def decode_crop(clip: Clip) -> np.ndarray:
        first = round(starts[clip.clip_id] * args.store_rate)
        return load_audio(clip.audio_path, args.store_rate)[
            first : first + round(args.crop * args.store_rate)
        ]

    readers = {
        "full clip": (
            lambda c: store[c.clip_id],
            lambda c: load_audio(c.audio_path, args.store_rate),
        ),
        f"{args.crop:g} s crop": (
            lambda c: store.read(c.clip_id, starts[c.clip_id], args.crop),
            decode_crop,
        ),
    }
    return [
        (
            what,
            clips_per_second(from_store, order, args.seconds),
            clips_per_second(from_mp3, order, args.seconds),
        )
        for what, (from_store, from_mp3) in readers.items()
    ]


def run(folder: Path, args: argparse.Namespace) -> None:
    started = time.perf_counter()
    clips = generate_clips(folder, args)
    hours = sum(clip.duration for clip in clips) / 3600
    print(
        f"generated {len(clips)} mp3 clips at {args.source_rate} Hz ({hours * 60:.1f} min of "
        f"audio, {args.min_duration:g}-{args.max_duration:g} s) in "
        f"{time.perf_counter() - started:.1f} s"
    )
    out = folder / "store.h5"
    started = time.perf_counter()
    build_audio_store(clips, out, args.store_rate, threads=args.threads, progress=False)
    built = time.perf_counter() - started
    print(
        f"built the {args.store_rate} Hz store ({out.stat().st_size / 2**20:.0f} MiB) in "
        f"{built:.1f} s: {len(clips) / built:.1f} clips/s with {args.threads} threads"
    )
    with AudioStore(out) as store:
        rows = measure(store, clips, args)
    print(f"{'random reads':<14}{'store clips/s':>15}{'mp3 decode clips/s':>20}{'ratio':>9}")
    for what, from_store, from_mp3 in rows:
        print(f"{what:<14}{from_store:>15.1f}{from_mp3:>20.1f}{from_store / from_mp3:>8.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=int, default=200)
    parser.add_argument("--min-duration", type=float, default=10.0)
    parser.add_argument("--max-duration", type=float, default=30.0)
    parser.add_argument("--source-rate", type=int, default=32_000)
    parser.add_argument("--store-rate", type=int, default=16_000)
    parser.add_argument("--crop", type=float, default=10.0, help="crop length in seconds")
    parser.add_argument("--seconds", type=float, default=5.0, help="time per measurement")
    parser.add_argument("--threads", type=int, default=2, help="for generating and building")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", type=Path, help="keep the clips and store here")
    args = parser.parse_args()
    if args.workdir is not None:
        args.workdir.mkdir(parents=True, exist_ok=True)
        run(args.workdir, args)
    else:
        with tempfile.TemporaryDirectory(prefix="bench_audio_store_") as folder:
            run(Path(folder), args)


if __name__ == "__main__":
    main()
