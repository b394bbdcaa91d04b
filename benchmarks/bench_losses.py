"""Frame-wise loss, forward + backward: vectorised tacos.losses vs a per-region Python loop.

The loop is the straightforward implementation (one iteration per region, each vectorised over
that region's frames), so the ratio measures what batching regions buys, not a strawman.
Run: .venv/bin/python benchmarks/bench_losses.py [--clips 32 --frames 1491 --dim 1024 ...]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from torch import Tensor

from tacos.losses import frame_contrastive_loss


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=32, help="batch size B")
    parser.add_argument("--frames", type=int, default=1491, help="frames per clip T")
    parser.add_argument("--dim", type=int, default=1024, help="embedding size D")
    parser.add_argument("--regions-per-clip", type=int, default=4)
    parser.add_argument(
        "--max-region-frames", type=int, default=500, help="longest region (500 = 10 s)"
    )
    parser.add_argument("--tau", type=float, default=1.0)
    parser.add_argument("--repeats", type=int, default=3, help="timed runs after one warm-up")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


def make_batch(args: argparse.Namespace) -> tuple[Tensor, ...]:
    """Unit-norm frames and captions; regions of random start and length inside each clip."""
    generator = torch.Generator().manual_seed(args.seed)
    frames = torch.randn(args.clips, args.frames, args.dim, generator=generator)
    frames = torch.nn.functional.normalize(frames, dim=-1)
    n_regions = args.clips * args.regions_per_clip
    text = torch.randn(n_regions, args.dim, generator=generator)
    text = torch.nn.functional.normalize(text, dim=-1)
    clip = torch.arange(args.clips).repeat_interleave(args.regions_per_clip)
    start = torch.randint(0, args.frames, (n_regions,), generator=generator)
    length = torch.randint(1, args.max_region_frames + 1, (n_regions,), generator=generator)
    end = torch.minimum(start + length, torch.tensor(args.frames))
    return frames, text, clip, start, end


def per_region_loop_loss(
    frames: Tensor, text: Tensor, clip: Tensor, start: Tensor, end: Tensor, tau: float
) -> Tensor:
    """Eq. 6 with one Python iteration per region; every caption row is a distinct text."""
    clips = clip.tolist()
    negatives_of_clip = {
        c: torch.tensor([n for n, other in enumerate(clips) if other != c]) for c in set(clips)
    }
    region_losses = []
    for r, (c, s, e) in enumerate(zip(clips, start.tolist(), end.tolist(), strict=True)):
        region_frames = frames[c, s:e]
        positive = region_frames @ text[r] / tau
        negative = region_frames @ text[negatives_of_clip[c]].T / tau
        frame_losses = torch.logaddexp(positive, torch.logsumexp(negative, dim=1)) - positive
        region_losses.append(frame_losses.mean())
    return torch.stack(region_losses).mean()


def time_forward_backward(
    loss_fn: Callable[..., Tensor], frames: Tensor, text: Tensor, repeats: int, *rest
) -> tuple[float, Tensor, Tensor, Tensor]:
    """Median seconds of forward+backward, with the last loss and gradients."""
    seconds = []
    for _ in range(repeats + 1):
        frames_leaf = frames.detach().requires_grad_()
        text_leaf = text.detach().requires_grad_()
        began = time.perf_counter()
        loss = loss_fn(frames_leaf, text_leaf, *rest)
        loss.backward()
        seconds.append(time.perf_counter() - began)
    return statistics.median(seconds[1:]), loss.detach(), frames_leaf.grad, text_leaf.grad


def main() -> None:
    args = parse_args()
    frames, text, clip, start, end = make_batch(args)
    regions = (clip, start, end, args.tau)
    print(
        f"B={args.clips} T={args.frames} D={args.dim} R={len(text)} "
        f"region frames={int((end - start).sum())} threads={torch.get_num_threads()}"
    )
    fast = time_forward_backward(frame_contrastive_loss, frames, text, args.repeats, *regions)
    loop = time_forward_backward(per_region_loop_loss, frames, text, args.repeats, *regions)
    intra = time_forward_backward(
        frame_contrastive_loss, frames, text, args.repeats, *regions, None, True
    )
    print(f"vectorised      {fast[0]:.3f} s  loss {fast[1].item():.6f}")
    print(f"per-region loop {loop[0]:.3f} s  loss {loop[1].item():.6f}")
    print(f"speed-up        {loop[0] / fast[0]:.1f}x")
    print(f"max |loss diff| {(fast[1] - loop[1]).abs().item():.2e}")
    for name, mine, theirs in (("frames", fast[2], loop[2]), ("text", fast[3], loop[3])):
        print(f"max |grad diff| {name}: {(mine - theirs).abs().max().item():.2e}")
    print(f"vectorised with intra-clip negatives {intra[0]:.3f} s")


if __name__ == "__main__":
    main()
