"""Time of the peers' preprocessing and of the tiny checkpoints on 10 s clips, per clip, side by
side: the real feature extractors at the real settings (48 kHz, CLAP at two hops), with the tiny
random models of ``tacos.models.peers.fixtures`` behind them. The feature extractors are the real
ones, so their time is what a real run spends on the CPU per clip; the models' time is not (the
real checkpoints are 100-1000x larger and run on a GPU).

    python benchmarks/bench_peers.py [--clips 20]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from tacos.models.peers.fixtures import write_tiny_clap, write_tiny_pe_audio_frame
from tacos.models.peers.registry import load_peer

RATE = 48000
REAL_CLIPS = 16935


def per_clip(function, waves) -> float:
    function(waves[0])  # warm-up
    start = time.perf_counter()
    for wave in waves:
        function(wave)
    return (time.perf_counter() - start) / len(waves)


def features_of(peer):
    """The peer's preprocessing of one clip: its feature extractor on the clip, or on each of
    its windows."""
    extractor = peer.processor.feature_extractor
    if hasattr(peer, "windows"):
        return lambda wave: extractor(list(peer.windows(wave)), sampling_rate=RATE)
    return lambda wave: extractor(wave, sampling_rate=RATE)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    waves = [0.1 * rng.standard_normal(10 * RATE).astype("f4") for _ in range(args.clips)]
    with tempfile.TemporaryDirectory() as folder:
        texts = ["a dog barks", "speech"]
        pe_path = write_tiny_pe_audio_frame(Path(folder) / "pe", texts)
        clap_path = write_tiny_clap(Path(folder) / "clap", texts)
        peers = {
            "PE-A-Frame": load_peer(
                "pe", {"adapter": "pe_audio_frame", "path": pe_path, "sample_rate": RATE}
            ),
        }
        for hop in (0.5, 0.25):
            entry = {"adapter": "clap", "path": clap_path, "sample_rate": RATE, "hop_seconds": hop}
            peers[f"CLAP, 1 s windows every {hop} s"] = load_peer("clap", entry)
        print(f"{args.clips} clips of 10 s, 1 CPU thread; seconds per clip, and for {REAL_CLIPS}")
        print(f"{'peer':34s} {'features':>9s} {'all':>9s} {'features, real size':>20s}")
        for name, peer in peers.items():
            seconds = per_clip(features_of(peer), waves)
            total = per_clip(peer.clip_frames, waves)
            hours = seconds * REAL_CLIPS / 3600
            print(f"{name:34s} {seconds:9.3f} {total:9.3f} {hours:17.2f} h")


if __name__ == "__main__":
    main()
