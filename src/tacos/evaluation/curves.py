"""PSD-ROC and ROC curves of one bootstrap replicate (or the full set) and their areas (numba).

The fast engine's second half: from every class's change points (``change_points``) and the
replicate's clip multiplicities, each class's curve and area, then PSDS1's combination over
classes. The arithmetic follows sed_scores_eval 0.0.4 step by step:

- counts: a change point of a clip drawn ``m`` times counts ``m`` times;
- PSD-ROC of a class (``_unique_cummax_sort``): TPR ``T / max(n_ref, 1)``, eFPR
  ``F / duration * 3600``, sorted by eFPR, kept where the best TPR so far rises, cut beyond
  ``max_efpr``. Both are monotone in the integer counts, so the curve is found on the counts: for
  every false-positive count ``f`` up to the cut, the best true-positive count at ``f``;
- PSDS1 (``multi_class_psd_roc_from_single_class_psd_rocs``): on the union of the classes'
  eFPRs, the mean minus ``alpha_st`` times the standard deviation of the classes' TPRs, floored
  at 0; areas are ``staircase_auc``'s sums, term by term in the library's order, so the
  per-class PSDS and pAUROC equal the library's bit for bit;
- the mean and standard deviation over classes are updated class by class along the eFPR axis
  in double-double arithmetic; the library computes them at every eFPR from scratch in float64.
  The two differ by a few float64 roundings: at most 1e-12 in PSDS1, the bound the tests check.
- ROC of a class (segment-based): TPR over positive, FPR over negative segments, in threshold
  order, which is the library's (FPR, TPR) order; the area up to ``max_fpr``.
"""

from __future__ import annotations

import numba
import numpy as np

SECONDS_PER_HOUR = 3600.0
_SPLIT = 134217729.0  # 2**27 + 1, Dekker's split of a float64 into two halves


@numba.njit(cache=True)
def _two_sum(a: float, b: float):
    total = a + b
    virtual = total - a
    return total, (a - (total - virtual)) + (b - virtual)


@numba.njit(cache=True)
def _two_product(a: float, b: float):
    product = a * b
    scaled = _SPLIT * a
    a_high = scaled - (scaled - a)
    a_low = a - a_high
    scaled = _SPLIT * b
    b_high = scaled - (scaled - b)
    b_low = b - b_high
    error = ((a_high * b_high - product) + a_high * b_low + a_low * b_high) + a_low * b_low
    return product, error


@numba.njit(cache=True)
def _dd_add(high: float, low: float, value: float):
    """A double-double ``(high, low)`` plus a float64."""
    total, error = _two_sum(high, value)
    error += low
    new_high = total + error
    return new_high, error - (new_high - total)


@numba.njit(cache=True)
def _dd_divide(high: float, low: float, divisor: float):
    """A double-double divided by a float64, as a double-double."""
    quotient = high / divisor
    product, error = _two_product(quotient, divisor)
    remainder = ((high - product) - error) + low
    correction = remainder / divisor
    new_high = quotient + correction
    return new_high, correction - (new_high - quotient)


@numba.njit(cache=True)
def _mean_minus_std(s1: tuple, s2: tuple, count: int) -> float:
    """``max(mean - std, 0)`` of ``count`` values with sum ``s1`` and sum of squares ``s2``."""
    mean_high, mean_low = _dd_divide(s1[0], s1[1], float(count))
    square_high, square_low = _dd_divide(s2[0], s2[1], float(count))
    mean_squared, error = _two_product(mean_high, mean_high)
    error += 2.0 * mean_high * mean_low
    variance = (square_high - mean_squared) + (square_low - error)
    return max((mean_high + mean_low) - np.sqrt(max(variance, 0.0)), 0.0)


@numba.njit(cache=True)
def max_false_positives(duration: float, max_efpr: float) -> int:
    """The largest count ``f`` whose eFPR ``f / duration * 3600`` is at most ``max_efpr``."""
    count = int(np.floor(max_efpr * duration / SECONDS_PER_HOUR))
    while count > 0 and (count / duration) * SECONDS_PER_HOUR > max_efpr:
        count -= 1
    while ((count + 1) / duration) * SECONDS_PER_HOUR <= max_efpr:
        count += 1
    return count


@numba.njit(cache=True)
def _best_true_positives(weights, clips, d_tp, d_fp, group_ends, first, best):
    """Fill ``best[f]`` with the most true positives at ``f`` false positives (-1: never)."""
    best[:] = -1
    best[0] = 0  # the threshold above every score
    true_positives = false_positives = 0
    start = first
    for end in group_ends:
        for point in range(start, end):
            weight = weights[clips[point]]
            true_positives += weight * d_tp[point]
            false_positives += weight * d_fp[point]
        start = end
        if false_positives < len(best) and true_positives > best[false_positives]:
            best[false_positives] = true_positives


@numba.njit(cache=True)
def _psd_roc_area(best, n_ref, duration, max_efpr, curve_f, curve_tpr, n_points):
    """The class's PSD-ROC points appended to ``curve_*`` at ``n_points``, and its PSDS."""
    running = -1
    area = 0.0
    previous_efpr = previous_tpr = 0.0
    for count in range(len(best)):
        if best[count] <= running:
            continue
        running = best[count]
        efpr = (count / duration) * SECONDS_PER_HOUR
        tpr = running / max(n_ref, 1)
        if count > 0:  # the first point is at count 0: best[0] is never -1
            area += previous_tpr * (efpr - previous_efpr)
        previous_efpr, previous_tpr = efpr, tpr
        curve_f[n_points], curve_tpr[n_points] = count, tpr
        n_points += 1
    area += previous_tpr * (max_efpr - previous_efpr)
    return area / max_efpr, n_points


@numba.njit(cache=True)
def _combined_psds(curve_f, curve_class, curve_tpr, n_classes, n_present, duration, max_efpr):
    """PSDS of the classes' PSD-ROCs combined (mean minus std of the TPRs at each eFPR)."""
    order = np.argsort(curve_f, kind="mergesort")
    current = np.zeros(n_classes)
    s1 = (0.0, 0.0)
    s2 = (0.0, 0.0)
    area = 0.0
    previous_efpr = previous_tpr = 0.0
    position = 0
    while position < len(order):
        count = curve_f[order[position]]
        while position < len(order) and curve_f[order[position]] == count:
            point = order[position]
            position += 1
            old, new = current[curve_class[point]], curve_tpr[point]
            current[curve_class[point]] = new
            s1 = _dd_add(*_dd_add(s1[0], s1[1], new), -old)
            for value, sign in ((new, 1.0), (old, -1.0)):
                square, error = _two_product(value, value)
                s2 = _dd_add(*_dd_add(s2[0], s2[1], sign * square), sign * error)
        efpr = (count / duration) * SECONDS_PER_HOUR
        tpr = _mean_minus_std(s1, s2, n_present)
        if count > 0:
            area += previous_tpr * (efpr - previous_efpr)
        previous_efpr, previous_tpr = efpr, tpr
    area += previous_tpr * (max_efpr - previous_efpr)
    return area / max_efpr


@numba.njit(cache=True)
def _roc_area(weights, clips, positive, group_ends, first, n_positive, n_negative, max_fpr):
    """Segment-based ROC area up to ``max_fpr``, normalised by it (``staircase_auc``)."""
    true_positives = false_positives = 0
    area = 0.0
    previous_fpr = previous_tpr = 0.0
    start = first
    for end in group_ends:
        for segment in range(start, end):
            weight = weights[clips[segment]]
            if positive[segment]:
                true_positives += weight
            else:
                false_positives += weight
        start = end
        fpr = false_positives / n_negative
        tpr = true_positives / n_positive
        if fpr > max_fpr:
            break
        area += previous_tpr * (fpr - previous_fpr)
        previous_fpr, previous_tpr = fpr, tpr
    area += previous_tpr * (max_fpr - previous_fpr)
    return area / max_fpr


@numba.njit(cache=True, error_model="numpy")
def replicate_metrics(
    weights,
    duration,
    n_ref,
    n_positive,
    n_negative,
    cp_ptr,
    cp_groups,
    cp_group_ends,
    cp_clip,
    cp_d_tp,
    cp_d_fp,
    segment_ptr,
    segment_groups,
    segment_group_ends,
    segment_clip,
    segment_positive,
    max_efpr,
    max_fpr,
):
    """PSDS1, per-class PSDS and per-class pAUROC of one replicate.

    ``weights[c]`` is clip ``c``'s multiplicity; ``duration`` the replicate's summed duration;
    ``n_ref``, ``n_positive``, ``n_negative`` each class's weighted event and segment counts.
    Class ``k``'s change points are ``cp_*[cp_ptr[k]:cp_ptr[k + 1]]`` in falling score order, in
    tie groups ending at ``cp_group_ends[cp_groups[k]:cp_groups[k + 1]]``; its segments likewise.
    A class without events in the replicate gets NaN and stays out of PSDS1.
    """
    n_classes = len(n_ref)
    best = np.empty(max_false_positives(duration, max_efpr) + 1, dtype=np.int64)
    capacity = 0  # a class's curve has a point for each rise of its true positives
    for k in range(n_classes):
        capacity += min(len(best), n_ref[k] + 1) if n_ref[k] > 0 else 0
    curve_f = np.empty(capacity, dtype=np.int64)
    curve_class = np.empty(capacity, dtype=np.int64)
    curve_tpr = np.empty(capacity)
    psds = np.full(n_classes, np.nan)
    pauroc = np.full(n_classes, np.nan)
    n_points = n_present = 0
    for k in range(n_classes):
        if n_ref[k] == 0:
            continue
        n_present += 1
        groups = cp_group_ends[cp_groups[k] : cp_groups[k + 1]]
        _best_true_positives(weights, cp_clip, cp_d_tp, cp_d_fp, groups, cp_ptr[k], best)
        start = n_points
        psds[k], n_points = _psd_roc_area(
            best, n_ref[k], duration, max_efpr, curve_f, curve_tpr, n_points
        )
        curve_class[start:n_points] = k
        groups = segment_group_ends[segment_groups[k] : segment_groups[k + 1]]
        pauroc[k] = _roc_area(
            weights, segment_clip, segment_positive, groups, segment_ptr[k],
            n_positive[k], n_negative[k], max_fpr,
        )  # fmt: skip
    combined = _combined_psds(
        curve_f[:n_points], curve_class[:n_points], curve_tpr[:n_points],
        n_classes, n_present, duration, max_efpr,
    )  # fmt: skip
    return combined, psds, pauroc
