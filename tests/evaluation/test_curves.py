"""The curve arithmetic of one replicate: the eFPR cut, the double-double mean minus standard
deviation, and the areas of hand-made change points."""

import numpy as np
import pytest
from sed_scores_eval.base_modules.curves import staircase_auc

from tacos.evaluation import curves


@pytest.mark.parametrize("duration", [3600.0, 1234.5, 169350.25, 36.0, 0.5])
def test_max_false_positives_is_the_last_count_within_max_efpr(duration):
    count = curves.max_false_positives(duration, 100.0)
    assert (count / duration) * 3600.0 <= 100.0
    assert ((count + 1) / duration) * 3600.0 > 100.0


@pytest.mark.parametrize("seed", range(20))
def test_mean_minus_std_matches_numpy(seed):
    rng = np.random.default_rng(seed)
    values = rng.integers(0, 7, int(rng.integers(1, 400))) / rng.integers(1, 50)
    if seed % 4 == 0:
        values = np.full(len(values), 1 / 3)  # equal values: a standard deviation of 0
    s1 = s2 = (0.0, 0.0)
    for value in values:
        s1 = curves._dd_add(*s1, value)
        square, error = curves._two_product(value, value)
        s2 = curves._dd_add(*curves._dd_add(*s2, square), error)
    expected = max(np.mean(values) - np.std(values), 0.0)
    assert abs(curves._mean_minus_std(s1, s2, len(values)) - expected) <= 1e-15


def test_one_class_curve_and_areas_from_hand_made_change_points():
    """Two clips of 1800 s: three thresholds. Clip 0 gains a true positive, then both gain a
    false positive; at 100 false positives an hour the cut is at 100 counts."""
    weights = np.array([1, 1])
    cp_clip = np.array([0, 0, 1])
    d_tp, d_fp = np.array([1, 0, 0]), np.array([0, 1, 1])
    group_ends, segment_ends = np.array([1, 3]), np.array([1, 2, 3])
    segment_clip, positive = np.array([0, 1, 1]), np.array([True, False, True])
    combined, psds, pauroc = curves.replicate_metrics(
        weights, 3600.0, np.array([2]), np.array([2]), np.array([1]),
        np.array([0, 3]), np.array([0, 2]), group_ends, cp_clip, d_tp, d_fp,
        np.array([0, 3]), np.array([0, 3]), segment_ends, segment_clip, positive,
        100.0, 0.1,
    )  # fmt: skip
    # PSD-ROC: (eFPR 0, TPR 0.5) up to 2 false positives an hour, where TPR stays 0.5
    assert psds[0] == staircase_auc(np.array([0.5, 0.5]), np.array([0.0, 2.0]), 100.0) / 100.0
    assert combined == psds[0]  # one class: no spread
    # ROC: TPR 0.5 at FPR 0, then FPR 1 beyond max_fpr: the area is 0.5 * 0.1 / 0.1
    assert pauroc[0] == 0.5


def test_a_class_without_events_in_the_replicate_is_left_out():
    combined, psds, pauroc = curves.replicate_metrics(
        np.array([1]), 3600.0, np.array([0, 1]), np.array([0, 1]), np.array([1, 0]),
        np.array([0, 0, 1]), np.array([0, 0, 1]), np.array([1]), np.array([0]),
        np.array([1]), np.array([0]),
        np.array([0, 1, 1]), np.array([0, 1, 1]), np.array([1]), np.array([0]),
        np.array([False]), 100.0, 0.1,
    )  # fmt: skip
    assert np.isnan(psds[0]) and np.isnan(pauroc[0])
    assert psds[1] == 1.0 and combined == 1.0
