"""Row checks shared by the dataset readers; each failure is a counted, reported skip.

Skip kinds (keys of ``DataReport.skipped``):
- ``missing_audio`` / ``unreadable_audio``: the clip's audio file is absent or cannot be decoded.
- ``nan_value``: onset or offset is empty, NaN or not a number.
- ``negative_time``: onset or offset below zero.
- ``onset_not_before_offset``: onset >= offset.
- ``region_past_end``: the region starts at or after the end of the audio.
- ``empty_text``: caption (or class name) is empty.
- ``duplicate_row``: a row identical to an earlier one.

A region that starts inside the clip but ends past its end is kept with its offset clamped to
the audio's duration and counted as ``offset_clamped`` in ``DataReport.flagged`` (AudioSet labels
often run to 10 s on clips that are a little shorter).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path

from tacos.data.audio import AudioReadError, audio_info
from tacos.data.manifest import Clip, Region
from tacos.data.report import DataReport
from tacos.data.tables import numbered_rows, parse_seconds

GroupedRows = dict[str, list[tuple[int, dict[str, str]]]]
"""Rows by their first column's value: (row number in the file, the row's values)."""


def probe_duration(audio_path: Path, report: DataReport, source: Path, row: int) -> float | None:
    """Duration of a clip's audio in seconds, or None after counting why it is unusable."""
    if not audio_path.is_file():
        report.skip("missing_audio", source, row, f"audio file {audio_path} does not exist")
        return None
    try:
        return audio_info(audio_path).duration
    except AudioReadError as error:
        report.skip("unreadable_audio", source, row, str(error))
        return None


def clean_text(value: str | None) -> str:
    return " ".join(str(value or "").split())


def checked_region(
    text: str,
    onset_text: str,
    offset_text: str,
    duration: float,
    report: DataReport,
    source: Path,
    row: int,
    label: str | None = None,
) -> Region | None:
    """A validated region, or None after counting the reason it was skipped."""
    onset, offset = parse_seconds(onset_text), parse_seconds(offset_text)
    where = f"onset={onset_text!r}, offset={offset_text!r}"
    if onset is None or offset is None:
        report.skip("nan_value", source, row, f"onset/offset is not a number ({where})")
        return None
    if onset < 0 or offset < 0:
        report.skip("negative_time", source, row, f"negative time ({where})")
        return None
    if onset >= offset:
        report.skip("onset_not_before_offset", source, row, f"onset >= offset ({where})")
        return None
    if not text:
        report.skip("empty_text", source, row, "caption text is empty")
        return None
    if onset >= duration:
        report.skip(
            "region_past_end", source, row, f"starts at or after the audio's end {duration:.3f} s"
        )
        return None
    if offset > duration:
        report.flag(
            "offset_clamped", source, row, f"offset {offset} clamped to duration {duration:.3f} s"
        )
        offset = duration
    return Region(text=text, onset=onset, offset=offset, label=label)


def group_unique_rows(
    frame,
    columns: tuple[str, ...],
    path: Path,
    report: DataReport,
    reject: Callable[[tuple[str, ...]], tuple[str, str] | None],
) -> GroupedRows:
    """Rows grouped by their first column; an exact duplicate of an earlier row, and a row that
    ``reject`` names a ``(skip kind, reason)`` for, are counted skips."""
    grouped: GroupedRows = defaultdict(list)
    seen: set[tuple[str, ...]] = set()
    for row, record in numbered_rows(frame):
        key = tuple(clean_text(record[name]) for name in columns)
        problem = (
            ("duplicate_row", f"same as an earlier row: {key}") if key in seen else reject(key)
        )
        if problem is not None:
            report.skip(problem[0], path, row, problem[1])
            continue
        seen.add(key)
        grouped[key[0]].append((row, record))
    return grouped


def built_clips(candidates: Iterable[Clip | None], report: DataReport) -> list[Clip]:
    """The clips a reader built (None: a clip it skipped, already counted), kept in the report
    with their regions."""
    clips = [clip for clip in candidates if clip is not None]
    report.keep("clips", len(clips))
    report.keep("regions", sum(len(clip.regions) for clip in clips))
    return clips
