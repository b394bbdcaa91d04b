"""Contrastive losses of TACOS: clip-level InfoNCE and the frame-wise loss (the paper's Eq. 6;
docs/protocol.md, section 5).

Pure functions on tensors, no I/O. Similarities, softmax and logsumexp run in float32 (float64
when an input is float64) with autocast switched off: under bf16/fp16 mixed precision the logits
are cosines scaled by 1/tau (20 for tau = 0.05), and rounding them to 8 mantissa bits would
visibly change the loss.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from tacos.frames import frame_ceil, frame_floor


def global_contrastive_loss(
    audio: Tensor,
    text: Tensor,
    tau: float = 0.05,
    *,
    all_audio: Tensor | None = None,
    all_text: Tensor | None = None,
    offset: int = 0,
) -> Tensor:
    """Symmetric InfoNCE between clip embeddings audio[i] and caption embeddings text[i].

    logits = audio @ text.T / tau; the loss is the mean of the audio->text and text->audio
    cross-entropies with the matching pair (the diagonal) as target.

    Under DDP, all_audio/all_text hold the pairs of the whole global batch (gathered with
    gradients), of which this process's pairs are the rows from ``offset``: they are scored
    against every pair, and the mean is over this process's pairs only.
    """
    _check_tau(tau)
    if audio.ndim != 2 or audio.shape != text.shape:
        raise ValueError(
            f"audio and text must both be [batch, dim]; got {tuple(audio.shape)} and "
            f"{tuple(text.shape)}"
        )
    all_audio = audio if all_audio is None else all_audio
    all_text = text if all_text is None else all_text
    with _autocast_off(audio):
        all_audio, all_text = _upcast(all_audio, all_text)
        logits = all_audio @ all_text.T / tau
        rows = slice(offset, offset + len(audio))
        targets = torch.arange(offset, offset + len(audio), device=logits.device)
        return (
            F.cross_entropy(logits[rows], targets) + F.cross_entropy(logits[:, rows].T, targets)
        ) / 2


def regions_to_frames(
    onset: Tensor | float, offset: Tensor | float, delta: float, n_frames: Tensor | int
) -> tuple[Tensor, Tensor]:
    """Frame span [start, end) of each region: floor(onset/delta), ceil(offset/delta), clipped.

    The boundaries follow the frame grid (``tacos.frames``: micro-frame rounding), so a boundary
    on an exact frame multiple lands on that frame despite float error (0.58 / 0.02 ==
    28.999999999999996 gives frame 29, 0.14 / 0.02 == 7.000000000000001 ends at 7), and a region
    ending at a clip's end ends with the clip's last frame. Keep seconds in float64. A region
    with offset > onset shorter than the rounding still covers the frame it starts in (end >=
    start + 1). Both bounds
    are clipped to [0, n_frames] (n_frames: the clip's real frame count, an int or one value
    per region).

    Raises ValueError naming the first offending region when a region is not a finite interval
    with offset > onset, or when it has no frame inside [0, n_frames) (for example it starts at
    or past the clip's last real frame): such a region has no frames to supervise, and dropping
    it silently would hide a manifest/cropping mismatch, so the caller must drop or crop it.
    Returns two int64 tensors of the broadcast shape of the inputs.
    """
    if not delta > 0:
        raise ValueError(f"delta must be a positive frame duration in seconds, got {delta}")
    onset = torch.as_tensor(onset, dtype=torch.float64)
    offset = torch.as_tensor(offset, dtype=torch.float64, device=onset.device)
    n_frames = torch.as_tensor(n_frames, dtype=torch.long, device=onset.device)
    onset, offset, n_frames = torch.broadcast_tensors(onset, offset, n_frames)

    valid = torch.isfinite(onset) & torch.isfinite(offset) & (offset > onset)
    _raise_for_first(~valid, onset, offset, n_frames, "is not an interval with offset > onset")
    start = frame_floor(onset, delta)
    end = torch.maximum(frame_ceil(offset, delta), start + 1)
    start = torch.minimum(start.clamp_min(0), n_frames)
    end = torch.minimum(end, n_frames)
    _raise_for_first(
        end <= start, onset, offset, n_frames, f"has no frame inside the clip (delta {delta} s)"
    )
    return start, end


def frame_contrastive_loss(
    audio_frames: Tensor,
    text: Tensor,
    region_clip: Tensor,
    region_start: Tensor,
    region_end: Tensor,
    tau: float = 1.0,
    text_groups: Tensor | None = None,
    intra_clip_negatives: bool = False,
    *,
    negative_text: Tensor | None = None,
    negative_clip: Tensor | None = None,
    negative_groups: Tensor | None = None,
) -> Tensor:
    """Frame-wise contrastive loss of TACOS (docs/protocol.md section 5, paper Eq. 6).

    audio_frames [B, T, D] are frame embeddings; region r has caption embedding text[r], clip
    region_clip[r] and frames [region_start[r], region_end[r]). For each frame t of region r,
    l(r, t) = -log softmax over {positive A_c[t]·d_r/tau} ∪ {A_c[t]·d_n/tau, n negative}; the loss
    is the mean over regions of each region's mean over its frames (every region weighs the
    same). Negatives of r are the captions of the other clips; regions of one clip with the same
    text_groups id share one caption text, counted once, represented by the group's first row
    (text_groups None: all captions distinct). The same text in two clips counts once per clip.

    intra_clip_negatives adds, for frame t, every caption of r's own clip none of whose regions
    covers t, each text once; r's own caption covers t, so the positive is never a negative.

    negative_text/negative_clip/negative_groups replace the inter-clip negatives by another set
    of captions, e.g. the captions all-gathered across DDP ranks; clip ids there must equal
    region_clip for this batch's clips (shift other ranks' ids out of [0, B)). Rows with the
    frame's own clip id are never inter-clip negatives; intra-clip negatives always come from
    this batch's own text. negative_groups None means all rows are distinct texts.

    Memory: only frames covered by some region are gathered (F <= B*T rows); one [F, R]
    similarity matrix serves positives and negatives, and negative masks are [F, R] booleans, so
    nothing of size R*T*R is built (paper size: F <= 47,712, R ~ 128, about 6M floats).
    An empty batch (R = 0) gives a zero that is still connected to the inputs' graph.
    """
    _check_tau(tau)
    n_clips, n_frames, _ = _check_frame_inputs(audio_frames, text)
    groups = _default_groups(text_groups, len(text), text.device)
    _check_regions(region_clip, region_start, region_end, groups, len(text), n_clips, n_frames)
    if negative_text is not None:
        negative_groups = _check_negatives(negative_text, negative_clip, negative_groups, text)

    with _autocast_off(audio_frames):
        audio_frames, text = _upcast(audio_frames, text)
        if len(text) == 0:
            return (audio_frames.sum() + text.sum()) * 0.0
        pair_region, pair_flat = _region_frame_pairs(
            region_clip, region_start, region_end, n_frames
        )
        frame_ids, pair_frame = torch.unique(pair_flat, return_inverse=True)
        frames = audio_frames.reshape(n_clips * n_frames, -1).index_select(0, frame_ids)
        frame_clip = frame_ids // n_frames
        similarity = frames @ text.T / tau
        positive = similarity.reshape(-1).index_select(0, pair_frame * len(text) + pair_region)

        local_first, local_inverse = _first_of_each_text(region_clip, groups)
        local_similarity = similarity.index_select(1, local_first)
        local_clip = region_clip[local_first]
        if negative_text is None:
            inter_similarity, inter_clip = local_similarity, local_clip
        else:
            negative_first, _ = _first_of_each_text(negative_clip, negative_groups)
            negative_text = negative_text[negative_first].to(frames.dtype)
            inter_similarity = frames @ negative_text.T / tau
            inter_clip = negative_clip[negative_first]
        negative_lse = _masked_logsumexp(inter_similarity, inter_clip != frame_clip[:, None])

        if intra_clip_negatives:
            covering = torch.zeros_like(local_similarity, dtype=torch.bool)
            covering[pair_frame, local_inverse[pair_region]] = True
            intra_mask = (local_clip == frame_clip[:, None]) & ~covering
            intra_lse = _masked_logsumexp(local_similarity, intra_mask)
            negative_lse = torch.logaddexp(negative_lse, intra_lse)

        pair_loss = torch.logaddexp(positive, negative_lse[pair_frame]) - positive
        region_sum = pair_loss.new_zeros(len(text)).index_add(0, pair_region, pair_loss)
        return (region_sum / (region_end - region_start)).mean()


def _check_tau(tau: float) -> None:
    if not tau > 0:
        raise ValueError(f"temperature tau must be positive, got {tau}")


def _autocast_off(reference: Tensor) -> torch.autocast:
    return torch.autocast(device_type=reference.device.type, enabled=False)


def _upcast(*tensors: Tensor) -> tuple[Tensor, ...]:
    """Cast half-precision (or integer) tensors to float32; float64 stays float64."""
    dtype = torch.float32
    for tensor in tensors:
        dtype = torch.promote_types(dtype, tensor.dtype)
    return tuple(tensor.to(dtype) for tensor in tensors)


def _raise_for_first(
    bad: Tensor, onset: Tensor, offset: Tensor, n_frames: Tensor, problem: str
) -> None:
    if not bad.any():
        return
    index = int(bad.flatten().nonzero()[0])
    raise ValueError(
        f"region {index} (onset {float(onset.flatten()[index])!r} s, offset "
        f"{float(offset.flatten()[index])!r} s, clip of {int(n_frames.flatten()[index])} frames) "
        f"{problem}; drop or crop such regions before building frame targets"
    )


def _check_frame_inputs(audio_frames: Tensor, text: Tensor) -> tuple[int, int, int]:
    if audio_frames.ndim != 3 or text.ndim != 2 or audio_frames.shape[2] != text.shape[1]:
        raise ValueError(
            f"audio_frames must be [B, T, D] and text [R, D]; got {tuple(audio_frames.shape)} "
            f"and {tuple(text.shape)}"
        )
    return tuple(audio_frames.shape)


def _default_groups(groups: Tensor | None, count: int, device: torch.device) -> Tensor:
    """Group ids per caption row; None means every row is its own text."""
    if groups is None:
        return torch.arange(count, device=device)
    return groups


def _check_regions(
    region_clip: Tensor,
    region_start: Tensor,
    region_end: Tensor,
    groups: Tensor,
    count: int,
    n_clips: int,
    n_frames: int,
) -> None:
    for name, tensor in (
        ("region_clip", region_clip),
        ("region_start", region_start),
        ("region_end", region_end),
        ("text_groups", groups),
    ):
        if tensor.shape != (count,) or tensor.dtype != torch.long:
            raise ValueError(
                f"{name} must be an int64 tensor of shape ({count},), one entry per caption "
                f"row; got {tensor.dtype} {tuple(tensor.shape)}"
            )
    bad = (
        (region_clip < 0)
        | (region_clip >= n_clips)
        | (region_start < 0)
        | (region_end <= region_start)
        | (region_end > n_frames)
    )
    if bad.any():
        index = int(bad.nonzero()[0])
        raise ValueError(
            f"region {index} has clip {int(region_clip[index])} and frames "
            f"[{int(region_start[index])}, {int(region_end[index])}); need 0 <= clip < "
            f"{n_clips} and 0 <= start < end <= {n_frames}"
        )


def _check_negatives(
    negative_text: Tensor,
    negative_clip: Tensor | None,
    negative_groups: Tensor | None,
    text: Tensor,
) -> Tensor:
    """Validate the separate negative set and return its group ids."""
    if negative_text.ndim != 2 or negative_text.shape[1] != text.shape[1]:
        raise ValueError(
            f"negative_text must be [N, {text.shape[1]}], got {tuple(negative_text.shape)}"
        )
    count = len(negative_text)
    wrong_clip = negative_clip is None or negative_clip.dtype != torch.long
    if wrong_clip or negative_clip.shape != (count,):
        raise ValueError(f"negative_text needs negative_clip, an int64 tensor of shape ({count},)")
    groups = _default_groups(negative_groups, count, negative_text.device)
    if groups.shape != (count,) or groups.dtype != torch.long:
        raise ValueError(
            f"negative_groups must be an int64 tensor of shape ({count},), got {groups.dtype} "
            f"{tuple(groups.shape)}"
        )
    return groups


def _region_frame_pairs(
    region_clip: Tensor, region_start: Tensor, region_end: Tensor, n_frames: int
) -> tuple[Tensor, Tensor]:
    """All (region, frame) pairs: the region index and the frame's row in audio_frames[B*T]."""
    lengths = region_end - region_start
    regions = torch.arange(len(lengths), device=lengths.device)
    pair_region = torch.repeat_interleave(regions, lengths)
    first_pair = torch.cumsum(lengths, 0) - lengths
    pair_index = torch.arange(len(pair_region), device=lengths.device)
    frame = region_start[pair_region] + pair_index - first_pair[pair_region]
    return pair_region, region_clip[pair_region] * n_frames + frame


def _first_of_each_text(clip: Tensor, groups: Tensor) -> tuple[Tensor, Tensor]:
    """De-duplicate caption rows by (clip, group).

    Returns the first row of each distinct text and, per row, the index of its text.
    """
    keys = torch.stack((clip, groups), dim=1)
    distinct, inverse = torch.unique(keys, dim=0, return_inverse=True)
    rows = torch.arange(len(keys), device=keys.device)
    first = torch.full((len(distinct),), len(keys), device=keys.device)
    first = first.scatter_reduce(0, inverse, rows, reduce="amin")
    return first, inverse


def _masked_logsumexp(values: Tensor, mask: Tensor) -> Tensor:
    """logsumexp over the last dim of the entries where mask is True.

    Masked entries become the dtype's lowest finite value rather than -inf: a row with no entry
    then yields a very negative finite number whose exp is exactly 0 beside any real logit, and
    its gradients stay finite (an all -inf row would give NaN in logsumexp's backward).
    """
    lowest = torch.finfo(values.dtype).min
    return torch.logsumexp(values.masked_fill(~mask, lowest), dim=-1)
