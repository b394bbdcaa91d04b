"""The column layouts of the released files, the one writer of files in their format, and the
way their times are written (``format_seconds``).

Readers (``tacos_release``, ``clotho``, ``audioset``), the download checks (``fetch``), the
caption cleaning stage and the demo generator all take their columns from here, and the files
this project writes in a release's format (the demo's, the cleaned captions) are written by
``write_table``, with ``\\n`` line endings.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

TACOS_STRONG_COLUMNS = ("filename", "text", "onset", "offset")
"""``annotations_strong.csv``: one row per region, times in seconds."""
TACOS_WEAK_COLUMNS = ("filename", "text")
"""``annotations_weak.csv``: one caption per file (older copies name ``text`` ``caption``)."""
TACOS_SPLIT_COLUMNS = ("filename",)
"""``development_split.csv`` and ``test_split.csv``."""
TACOS_METADATA_COLUMNS = (
    "filename",
    "keywords",
    "freesound_id",
    "sound_link",
    "manufacturer",
    "license",
    "superclass",
    "subclass",
    "title",
    "description",
    "duration",
    "original_samplerate",
    "original_bitdepth",
    "original_file_type",
    "num_downloads",
    "avg_rating",
    "geotag",
    "start_time_s",
    "end_time_s",
    "original_filename",
)
"""``metadata.csv`` of TACOS."""
CLOTHO_CAPTION_COLUMNS = ("file_name", *(f"caption_{index}" for index in range(1, 6)))
"""``clotho_captions_<split>.csv``."""
CLOTHO_METADATA_COLUMNS = (
    "file_name",
    "keywords",
    "sound_id",
    "sound_link",
    "start_end_samples",
    "manufacturer",
    "license",
)
"""``clotho_metadata_<split>.csv``."""
AUDIOSET_STRONG_COLUMNS = ("segment_id", "start_time_seconds", "end_time_seconds", "label")
"""``audioset_{eval,train}_strong.tsv`` (tab-separated; the label is a MID)."""
AUDIOSET_MID_COLUMNS = ("mid", "display_name")
"""``mid_to_display_name.tsv`` (tab-separated, no header line)."""


def write_table(
    path: str | os.PathLike,
    columns: Sequence[str],
    rows: Iterable[Sequence],
    delimiter: str = ",",
    encoding: str = "utf-8",
) -> None:
    """A CSV/TSV with a header, standard quoting and ``\\n`` line endings."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding=encoding, newline="") as handle:
        writer = csv.writer(handle, delimiter=delimiter, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(rows)


def format_seconds(value: float) -> str:
    """Seconds as AudioSet writes them: at most 3 decimals, no trailing zeros ("2.5", "10")."""
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text
