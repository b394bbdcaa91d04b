"""Training throughput of the configured model on this machine, in clips per second.

Runs the real training step (``TacosModule.training_step``: audio and text towers, the
clip-level and the frame-wise loss, backward, AdamW) on random audio with synthetic regions,
for both kinds of supervision, and prints the figures side by side.

    python benchmarks/bench_training.py [--config config/config.yaml] [--steps 5]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
import yaml

from tacos.data.manifest import Region
from tacos.models.checkpoint import ModelSpec
from tacos.models.dual import build_model
from tacos.training.data import Example, collate
from tacos.training.module import LossConfig, TacosModule
from tacos.training.stages import stage_settings

WORDS = ("a dog barks", "a bell rings", "rain falls", "a siren wails", "a car passes")


def random_examples(count: int, seconds: float, rate: int, seed: int) -> list[Example]:
    rng = np.random.default_rng(seed)
    examples = []
    for index in range(count):
        regions = []
        for _ in range(4):
            onset = float(rng.uniform(0, seconds - 1))
            offset = onset + float(rng.uniform(0.2, min(8.0, seconds - onset)))
            regions.append(Region(str(rng.choice(WORDS)), onset, offset))
        waveform = (0.1 * rng.standard_normal(int(seconds * rate))).astype(np.float32)
        caption = " then ".join(region.text for region in regions)
        examples.append(Example(str(index), waveform, caption, (caption,), tuple(regions)))
    return examples


def clips_per_second(module: TacosModule, batch, steps: int) -> float:
    optimizer = torch.optim.AdamW([p for p in module.parameters() if p.requires_grad], lr=1e-4)
    module.train()
    module.training_step(batch, 0).backward()  # warm-up (caches, allocator)
    optimizer.zero_grad()
    start = time.perf_counter()
    for step in range(steps):
        module.training_step(batch, step).backward()
        optimizer.step()
        optimizer.zero_grad()
    return steps * len(batch.clip_ids) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=Path("config/config.yaml"))
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = yaml.safe_load(args.config.read_text())
    trainer, optim, _ = stage_settings(config, "strong")
    rate = config["audio"]["sample_rate"]
    examples = random_examples(trainer.batch_size, trainer.max_seconds, rate, seed=0)
    n_samples = round(trainer.max_seconds * rate)
    results = {}
    for name, loss, mode in (
        ("weak (clip-level InfoNCE)", LossConfig(global_weight=1.0), "clip"),
        ("strong (frame-wise Eq. 6)", LossConfig(global_weight=0.0, frame_weight=1.0), "frame"),
    ):
        model = build_model(config["model"])
        spec = ModelSpec(config["model"], trainer.max_seconds, rate, "strong", seed=0)
        module = TacosModule(model, loss, optim, spec)
        module.log = lambda *args, **kwargs: None  # no trainer attached
        batch = collate(examples, n_samples, mode)
        results[name] = clips_per_second(module, batch, args.steps)
    print(
        f"model {config['model']['audio']['encoder']}, batch {trainer.batch_size} x "
        f"{trainer.max_seconds:g} s at {rate} Hz, {args.threads} threads, {args.steps} steps"
    )
    print(f"{'supervision':<28}{'clips/s':>10}")
    for name, value in results.items():
        print(f"{name:<28}{value:>10.1f}")


if __name__ == "__main__":
    main()
