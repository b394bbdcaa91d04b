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
    processes' ids collide. Processes may hold different numbers of regions: rows are padded to
    the largest count and dropped again.
    """
    world, rank = dist.get_world_size(), dist.get_rank()
    sizes = torch.tensor([len(text), batch_size], device=text.device)
    all_sizes = [torch.zeros_like(sizes) for _ in range(world)]
    dist.all_gather(all_sizes, sizes)
    counts = [int(size[0]) for size in all_sizes]
    longest = max(counts)
    widest = max(int(size[1]) for size in all_sizes)
    padding = longest - len(text)
    padded_text = torch.cat([text, text.new_zeros(padding, text.shape[1])])
    padded_ids = torch.stack([region_clip, text_groups], dim=1)
    padded_ids = torch.cat([padded_ids, padded_ids.new_zeros(padding, 2)])
    texts = all_gather(padded_text)
    ids = [torch.zeros_like(padded_ids) for _ in range(world)]
    dist.all_gather(ids, padded_ids)
    group_span = int(max(i[:, 1].max().item() for i in ids)) + 1 if longest else 1
    rows, clips, groups = [], [], []
    for source, (source_text, source_ids, n) in enumerate(zip(texts, ids, counts, strict=True)):
        rows.append(source_text[:n])
        clips.append(source_ids[:n, 0] + (source - rank) * widest)
        groups.append(source_ids[:n, 1] + source * group_span)
    return torch.cat(rows), torch.cat(clips), torch.cat(groups)


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def gather_rows(rows: Tensor) -> tuple[Tensor, int]:
    """Every process's ``rows`` stacked in rank order (gradients flow back to their owners),
    and where this process's rows start; processes may hold different numbers of rows."""
    world, rank = dist.get_world_size(), dist.get_rank()
    count = torch.tensor([len(rows)], device=rows.device)
    counts = [torch.zeros_like(count) for _ in range(world)]
    dist.all_gather(counts, count)
    counts = [int(size) for size in counts]
    padding = max(counts) - len(rows)
    padded = torch.cat([rows, rows.new_zeros(padding, *rows.shape[1:])])
    gathered = all_gather(padded)
    parts = [part[:n] for part, n in zip(gathered, counts, strict=True)]
    return torch.cat(parts), sum(counts[:rank])


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
