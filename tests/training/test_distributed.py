"""Frame-wise loss under DDP: two CPU processes (gloo) see the negatives of the global batch."""

from __future__ import annotations

import socket

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from tacos.losses import frame_contrastive_loss
from tacos.training.distributed import gather_negatives

CLIPS_PER_RANK = 2
FRAMES = 6
DIM = 4
# (clip in the global batch, start, end, text group within its clip)
REGIONS = [(0, 0, 3, 0), (0, 2, 6, 1), (1, 1, 2, 0), (2, 0, 6, 0), (3, 4, 6, 0), (3, 0, 2, 1)]


def global_batch():
    generator = torch.Generator().manual_seed(0)
    audio = torch.nn.functional.normalize(
        torch.randn(2 * CLIPS_PER_RANK, FRAMES, DIM, generator=generator, dtype=torch.float64),
        dim=-1,
    )
    text = torch.randn(len(REGIONS), DIM, generator=generator, dtype=torch.float64)
    return audio, torch.nn.functional.normalize(text, dim=-1)


def rank_rows(rank: int) -> list[int]:
    return [row for row, region in enumerate(REGIONS) if region[0] // CLIPS_PER_RANK == rank]


def local_loss(audio, text, rows, clip_offset, **negatives):
    regions = torch.tensor([REGIONS[row] for row in rows])
    groups = regions[:, 0] * 10 + regions[:, 3]
    return frame_contrastive_loss(
        audio,
        text,
        regions[:, 0] - clip_offset,
        regions[:, 1],
        regions[:, 2],
        tau=0.5,
        text_groups=groups,
        **negatives,
    )


def worker(rank: int, port: int, results) -> None:
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    audio, text = global_batch()
    rows = rank_rows(rank)
    my_text = text[rows].clone().requires_grad_(True)
    regions = torch.tensor([REGIONS[row] for row in rows])
    clips = regions[:, 0] - rank * CLIPS_PER_RANK
    groups = regions[:, 0] * 10 + regions[:, 3]
    negative_text, negative_clip, negative_groups = gather_negatives(
        my_text, clips, groups, CLIPS_PER_RANK
    )
    start = rank * CLIPS_PER_RANK
    loss = local_loss(
        audio[start : start + CLIPS_PER_RANK],
        my_text,
        rows,
        start,
        negative_text=negative_text,
        negative_clip=negative_clip,
        negative_groups=negative_groups,
    )
    loss.backward()
    results[rank] = (loss.item(), my_text.grad.clone())
    dist.destroy_process_group()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_two_processes_match_one_process_with_the_whole_batch():
    with mp.Manager() as manager:
        results = manager.dict()
        mp.spawn(worker, args=(free_port(), results), nprocs=2, join=True)
        results = dict(results)

    audio, text = global_batch()
    whole = local_loss(audio, text, list(range(len(REGIONS))), 0)
    counts = [len(rank_rows(rank)) for rank in (0, 1)]
    combined = sum(results[rank][0] * counts[rank] for rank in (0, 1)) / sum(counts)
    assert abs(combined - whole.item()) < 1e-12

    # The gradient each process gets for its captions is that of the sum of both processes'
    # losses, as if one process held the global batch.
    leaf = text.clone().requires_grad_(True)
    all_groups = torch.tensor([r[0] * 10 + r[3] for r in REGIONS])
    all_clips = torch.tensor([r[0] for r in REGIONS])
    total = 0
    for rank in (0, 1):
        rows = rank_rows(rank)
        start = rank * CLIPS_PER_RANK
        total = total + local_loss(
            audio[start : start + CLIPS_PER_RANK],
            leaf[rows],
            rows,
            start,
            negative_text=leaf,
            negative_clip=all_clips - start,
            negative_groups=all_groups,
        )
    total.backward()
    for rank in (0, 1):
        assert torch.allclose(results[rank][1], leaf.grad[rank_rows(rank)], atol=1e-12)
