"""Reader of Clotho v2.1 (Zenodo record 4783391) into ``Clip`` records.

Layout: ``clotho_captions_<split>.csv`` (file_name, caption_1 ... caption_5) and the audio of
each split in ``<split>/<file_name>`` (the folders the 7z archives extract to).
"""

from __future__ import annotations

import os
from pathlib import Path

from tacos.data.checks import clean_text, probe_duration
from tacos.data.formats import CLOTHO_CAPTION_COLUMNS
from tacos.data.manifest import Clip
from tacos.data.report import DataReport
from tacos.data.tables import numbered_rows, read_table
from tacos.names import DATASET_SPLITS

SPLITS = DATASET_SPLITS["clotho"]
CAPTION_COLUMNS = CLOTHO_CAPTION_COLUMNS[1:]


def read_clotho(
    root: str | os.PathLike, split: str, report: DataReport, encoding: str = "utf-8"
) -> list[Clip]:
    """The clips of one Clotho split, each with its (non-empty) captions."""
    if split not in SPLITS:
        raise ValueError(f"unknown Clotho split {split!r}; expected one of {SPLITS}")
    root = Path(root)
    path = root / f"clotho_captions_{split}.csv"
    frame = read_table(
        path,
        CLOTHO_CAPTION_COLUMNS,
        encoding=encoding,
        fix_missing=(
            "fetch it (data.source: download, or `tacos fetch clotho <folder>`), "
            "or point data.clotho in the config at Clotho v2.1"
        ),
    )
    clips, seen = [], set()
    for row, record in numbered_rows(frame):
        file_name = clean_text(record["file_name"])
        if file_name in seen:
            report.skip("duplicate_row", path, row, f"{file_name} listed twice")
            continue
        seen.add(file_name)
        audio_file = _audio_file(root / split, record["file_name"], file_name)
        clip = _clip(audio_file, split, record, path, row, report)
        if clip is not None:
            clips.append(clip)
    report.keep(f"{split}_clips", len(clips))
    report.keep(f"{split}_captions", sum(len(clip.captions) for clip in clips))
    return clips


def _audio_file(audio_dir: Path, listed: str, cleaned: str) -> Path:
    """The audio file of a row: the name exactly as listed when it exists (two real development
    names start with a space, and so do their files in the archive), else the cleaned name."""
    exact = audio_dir / listed
    return exact if listed != cleaned and exact.is_file() else audio_dir / cleaned


def _clip(
    audio_file: Path,
    split: str,
    record: dict[str, str],
    path: Path,
    row: int,
    report: DataReport,
) -> Clip | None:
    captions = []
    for column in CAPTION_COLUMNS:
        caption = clean_text(record[column])
        if caption:
            captions.append(caption)
        else:
            report.skip("empty_text", path, row, f"{column} is empty")
    if not captions:
        report.skip("no_captions", path, row, f"{audio_file.name} has no caption left")
        return None
    duration = probe_duration(audio_file, report, path, row)
    if duration is None:
        return None
    return Clip(
        clip_id=Path(audio_file.name.strip()).stem,
        audio_path=str(audio_file),
        duration=duration,
        captions=tuple(captions),
        split=split,
    )
