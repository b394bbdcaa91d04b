"""The whole global batch when training runs on several processes (DDP).

On one GPU the losses take their negatives from the batch's other clips and average over the
batch; under DDP each process holds only its share of the batch, so the embeddings of all
processes are gathered (with gradients flowing back to their owners), each process scores its
own rows against them, and its loss is scaled to its share of the global mean: the averaged
gradient is then exactly that of one process holding the whole batch.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor
from torch.distributed.nn.functional import all_gather


def gather_negatives(
    text: Tensor, region_clip: Tensor, text_groups: Tensor, batch_size: int
) -> tuple[Tensor, Tensor, Tensor]:
    """Caption rows of every process as (text, clip id, group id) for ``negative_*`` inputs.

    Clip ids of this process stay ``0..batch_size-1``; other processes' clips are shifted out
    of that range (by the largest batch of any process) and their groups renumbered, so no two
    processes' ids collide. Processes may hold different numbers of regions.
    """
    world, rank = dist.get_world_size(), dist.get_rank()
    widest = torch.tensor([batch_size], device=text.device)
    dist.all_reduce(widest, op=dist.ReduceOp.MAX)
    all_text, counts = gather_rows(text)
    all_ids, _ = gather_rows(torch.stack([region_clip, text_groups], dim=1))
    group_span = int(all_ids[:, 1].max()) + 1 if len(all_ids) else 1
    source = torch.repeat_interleave(
        torch.arange(world, device=text.device), torch.tensor(counts, device=text.device)
    )
    clips = all_ids[:, 0] + (source - rank) * int(widest)
    return all_text, clips, all_ids[:, 1] + source * group_span


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def gather_rows(rows: Tensor) -> tuple[Tensor, list[int]]:
    """Every process's ``rows`` stacked in rank order (gradients flow back to their owners),
    and each process's row count; processes may hold different numbers of rows (padded to the
    largest count for the exchange and dropped again)."""
    world = dist.get_world_size()
    count = torch.tensor([len(rows)], device=rows.device)
    counts = [torch.zeros_like(count) for _ in range(world)]
    dist.all_gather(counts, count)
    counts = [int(size) for size in counts]
    padding = max(counts) - len(rows)
    padded = torch.cat([rows, rows.new_zeros(padding, *rows.shape[1:])])
    gathered = all_gather(padded)
    parts = [part[:n] for part, n in zip(gathered, counts, strict=True)]
    return torch.cat(parts), counts


def global_batch_share(local_mean: Tensor, local_count: int) -> Tensor:
    """This process's share of a mean over the global batch, scaled for DDP.

    ``local_mean`` is the mean of a loss over this process's ``local_count`` terms. DDP averages
    the processes' gradients, so each process returns world x its terms' sum / the global count:
    the averaged gradient is then that of the mean over the whole global batch, exactly as one
    process holding that batch computes it, even when processes hold different counts.
    """
    count = torch.tensor([float(local_count)], device=local_mean.device)
    dist.all_reduce(count)
    # A global batch without terms (no regions anywhere) gives the zero loss, not 0 / 0.
    return local_mean * (local_count * dist.get_world_size() / count.squeeze().clamp(min=1.0))
