"""Text-to-audio retrieval metrics on hand-made similarity matrices."""

import numpy as np
import pytest

from tacos.training.retrieval import caption_clip_index, relevant_ranks, retrieval_metrics


def test_ranks_and_metrics_of_a_hand_made_matrix():
    similarity = np.full((4, 12), -1.0)
    similarity[:, :3] = [
        [0.9, 0.1, 0.2],  # caption 0 -> clip 0: rank 1
        [0.5, 0.6, 0.7],  # caption 1 -> clip 0: rank 3
        [0.3, 0.3, 0.1],  # caption 2 -> clip 1: tied with clip 0, counted against it: rank 2
        [0.0, 0.0, 0.0],  # caption 3 -> clip 11 (-1.0, the lowest): rank 12
    ]
    caption_clip = np.array([0, 0, 1, 11])
    assert relevant_ranks(similarity, caption_clip).tolist() == [1, 3, 2, 12]
    assert retrieval_metrics(similarity, caption_clip) == {
        "R@1": 0.25,
        "R@5": 0.75,
        "R@10": 0.75,
        "mAP@10": pytest.approx((1 + 1 / 3 + 1 / 2 + 0) / 4, abs=1e-15),
    }


def test_rank_eleven_counts_for_nothing_and_rank_ten_for_a_tenth():
    similarity = np.tile(-np.arange(12.0), (2, 1))  # clip j has the (j+1)-th highest score
    metrics = retrieval_metrics(similarity, np.array([9, 10]))
    assert metrics == {"R@1": 0.0, "R@5": 0.0, "R@10": 0.5, "mAP@10": pytest.approx(0.05)}


def test_constant_scores_rank_every_clip_last():
    ranks = relevant_ranks(np.zeros((10, 2)), caption_clip_index(2))
    assert ranks.tolist() == [2] * 10


def test_caption_index_lists_five_captions_per_clip():
    assert caption_clip_index(3).tolist() == [0] * 5 + [1] * 5 + [2] * 5
    assert caption_clip_index(2, captions_per_clip=2).tolist() == [0, 0, 1, 1]


def test_inconsistent_inputs_are_refused():
    with pytest.raises(ValueError, match="outside"):
        relevant_ranks(np.zeros((2, 3)), np.array([0, 3]))
    with pytest.raises(ValueError, match=r"\[n_captions\]"):
        relevant_ranks(np.zeros((2, 3)), np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="NaN"):
        relevant_ranks(np.array([[np.nan, 0.0]]), np.array([0]))
