"""Clotho text-to-audio retrieval: R@1, R@5, R@10 and mAP@10 from a similarity matrix.

Each caption (query) has exactly one relevant clip, so average precision is ``1 / rank`` and
mAP@10 is the mean over captions of ``1 / rank`` if the clip ranks in the top 10, else 0.
Ties count against the query: the rank of the relevant clip is one plus the number of other
clips whose similarity is greater than or equal to its own, so a model that gives every clip
the same score ranks last, not first. Values are fractions (multiply by 100 for the paper's %).
"""

from __future__ import annotations

import numpy as np

RECALL_AT = (1, 5, 10)
MAP_AT = 10


def caption_clip_index(n_clips: int, captions_per_clip: int = 5) -> np.ndarray:
    """Caption -> clip column when captions are listed clip by clip (Clotho: 5 a clip)."""
    return np.repeat(np.arange(n_clips), captions_per_clip)


def relevant_ranks(similarity: np.ndarray, caption_clip: np.ndarray) -> np.ndarray:
    """1-based rank of each caption's relevant clip among all clips (ties pessimistic).

    ``similarity`` is ``[n_captions, n_clips]``; ``caption_clip[i]`` is the column of caption
    ``i``'s clip (Clotho: 5 captions a clip).
    """
    similarity = np.asarray(similarity, dtype=np.float64)
    caption_clip = np.asarray(caption_clip, dtype=np.int64)
    if similarity.ndim != 2 or caption_clip.shape != (similarity.shape[0],):
        raise ValueError(
            f"similarity must be [n_captions, n_clips] and caption_clip [n_captions], "
            f"got {similarity.shape} and {caption_clip.shape}"
        )
    if ((caption_clip < 0) | (caption_clip >= similarity.shape[1])).any():
        raise ValueError("caption_clip holds a clip index outside the similarity matrix")
    if not np.isfinite(similarity).all():
        raise ValueError("similarity holds NaN or infinity")
    relevant = similarity[np.arange(len(caption_clip)), caption_clip]
    at_least_as_similar = (similarity >= relevant[:, None]).sum(axis=1)
    return at_least_as_similar  # counts the relevant clip itself, hence already 1-based


def retrieval_metrics(similarity: np.ndarray, caption_clip: np.ndarray) -> dict[str, float]:
    """``R@1``, ``R@5``, ``R@10`` and ``mAP@10`` of text-to-audio retrieval."""
    ranks = relevant_ranks(similarity, caption_clip)
    metrics = {f"R@{k}": float(np.mean(ranks <= k)) for k in RECALL_AT}
    metrics[f"mAP@{MAP_AT}"] = float(np.mean(np.where(ranks <= MAP_AT, 1.0 / ranks, 0.0)))
    return metrics
