"""AudioSet Strong labels as sed_scores_eval ground truth: ``{clip_id: [(onset, offset, class)]}``.

The authors' protocol (docs/protocol.md, section 6), in the order applied here:

1. Events are named by AudioSet display name; with ``categories`` (the 50-category query set)
   the 117 pooled classes are renamed to their category and every other class is dropped.
2. Events of classes outside the evaluated set are dropped (the 9 eval-only classes when the
   set is the 407 classes of train and eval).
3. Same-class events of a clip that overlap or touch are merged into one: sed_scores_eval
   rejects such ground truth, and after pooling (step 1) "Male speech" and "Conversation" become
   two overlapping "Speech" events that must count as one.

Every clip stays in the ground truth, with an empty list if none of its events is evaluated:
its scores still produce false positives. Which classes are scored: those of the evaluated set
with at least one event in the ground truth (``scored_classes``), in the set's order. On the full
eval set these are all 407 classes (the list is defined as the classes present in eval) and all
50 categories; on a subset of clips (only part of the audio found) fewer, and the count is part
of the reported results.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence

from tacos.data.manifest import Clip

Event = tuple[float, float, str]
GroundTruth = dict[str, list[Event]]


def merge_events(events: Iterable[Event]) -> list[Event]:
    """Merge same-class events that overlap or touch; sorted by (onset, offset, class)."""
    by_class: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for onset, offset, name in events:
        by_class[name].append((float(onset), float(offset)))
    merged: list[Event] = []
    for name, spans in by_class.items():
        spans.sort()
        start, end = spans[0]
        for onset, offset in spans[1:]:
            if onset <= end:
                end = max(end, offset)
            else:
                merged.append((start, end, name))
                start, end = onset, offset
        merged.append((start, end, name))
    return sorted(merged)


def category_renaming(category_to_audioset: Mapping[str, Sequence[str]]) -> dict[str, str]:
    """Display name -> category, from ``read_categories()["category_to_audioset"]``."""
    renaming: dict[str, str] = {}
    for category, names in category_to_audioset.items():
        for name in names:
            if name in renaming:
                raise ValueError(f"{name!r} is in both {renaming[name]!r} and {category!r}")
            renaming[name] = category
    return renaming


def build_ground_truth(
    events: Mapping[str, Iterable[Event]],
    class_names: Sequence[str],
    renaming: Mapping[str, str] | None = None,
) -> GroundTruth:
    """Ground truth of the evaluated ``class_names`` from raw events named by display name.

    ``renaming`` (see ``category_renaming``) maps display names to the names in ``class_names``;
    events whose (renamed) class is not evaluated are dropped, the rest merged per class.
    """
    evaluated = set(class_names)
    ground_truth: GroundTruth = {}
    for clip_id, clip_events in events.items():
        kept = []
        for onset, offset, name in clip_events:
            if renaming is not None:
                name = renaming.get(name)
            if name in evaluated:
                kept.append((onset, offset, name))
        ground_truth[clip_id] = merge_events(kept)
    return ground_truth


def events_from_clips(clips: Iterable[Clip]) -> dict[str, list[Event]]:
    """Raw events of AudioSet clips (as ``read_audioset_strong`` makes them): region text = name."""
    return {
        clip.clip_id: [(region.onset, region.offset, region.text) for region in clip.regions]
        for clip in clips
    }


def events_from_rows(
    rows: Iterable[tuple[str, float, float, str]], mid_map: Mapping[str, str]
) -> dict[str, list[Event]]:
    """Raw events of strong-label rows ``(segment_id, onset, offset, MID)``.

    Clip ids are ``Y<ytid>`` as the AudioSet reader names clips. Use it where no audio is at
    hand; ``events_from_clips`` also has the readers' row checks and offsets clamped to the audio.
    """
    events: dict[str, list[Event]] = defaultdict(list)
    for segment_id, onset, offset, mid in rows:
        clip_id = "Y" + segment_id.rsplit("_", 1)[0]
        events[clip_id].append((float(onset), float(offset), mid_map[mid]))
    return dict(events)


def durations_from_clips(clips: Iterable[Clip]) -> dict[str, float]:
    """Clip id -> duration in seconds, the ``audio_durations`` that sed_scores_eval needs."""
    return {clip.clip_id: clip.duration for clip in clips}


def event_counts(ground_truth: GroundTruth) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for clip_events in ground_truth.values():
        for _, _, name in clip_events:
            counts[name] += 1
    return dict(counts)


def scored_classes(ground_truth: GroundTruth, class_names: Sequence[str]) -> list[str]:
    """The classes of ``class_names`` with at least one event, in their order (see module doc)."""
    counts = event_counts(ground_truth)
    return [name for name in class_names if counts.get(name, 0) > 0]
