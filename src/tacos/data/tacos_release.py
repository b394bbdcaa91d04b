"""Reader of the TACOS release (Zenodo record 15379789) into ``Clip`` records.

Layout: ``annotations_strong.csv`` (filename,text,onset,offset), ``annotations_weak.csv``
(filename,text; older copies name the column ``caption``), ``development_split.csv`` and
``test_split.csv`` (filename), ``metadata.csv`` (filename, ..., subclass, ...) and
``audio/<filename>``. The clip set and its split come from the split files (``split="release"``)
or, as in the authors' loader, from a stratified split of ``metadata.csv`` (``split="authors"``).
"""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path

import pandas as pd
from sklearn.model_selection import train_test_split

from tacos.data import checks
from tacos.data.formats import TACOS_SPLIT_COLUMNS, TACOS_STRONG_COLUMNS, TACOS_WEAK_COLUMNS
from tacos.data.manifest import Clip, Region
from tacos.data.report import DataFormatError, DataReport
from tacos.data.tables import FIRST_DATA_ROW, numbered_rows, read_table
from tacos.names import DATASET_SPLITS

SPLIT_FILES = {split: f"{split}_split.csv" for split in DATASET_SPLITS["tacos"]}
SPLIT_MODES = ("release", "authors")
METADATA_FILE = "metadata.csv"
METADATA_COLUMNS = ("filename", "subclass")
# The authors' loader (OptimusPrimus/tacos, datasets/tacos.py): train_test_split(metadata,
# test_size=2000 / len(metadata), stratify=metadata["subclass"], random_state=42).
AUTHORS_TEST_FILES = 2000
AUTHORS_RANDOM_STATE = 42
FIX_FETCH = (
    "fetch it (data.source: download, or `tacos fetch tacos <folder>`), "
    "or point data.tacos in the config at the release"
)
FIX_AUTHORS = "set data.tacos.split: release to use the release's split files instead"


def read_tacos(
    root: str | os.PathLike,
    report: DataReport,
    strong_file: str | os.PathLike | None = None,
    weak_file: str | os.PathLike | None = None,
    audio_dir: str | os.PathLike | None = None,
    split: str = "release",
) -> list[Clip]:
    """Every clip of both splits with its weak caption(s) and strong regions.

    ``strong_file`` and ``weak_file`` replace ``annotations_strong.csv`` and
    ``annotations_weak.csv`` (e.g. by LLM-cleaned captions in the same format); ``audio_dir``
    defaults to ``root/audio``; ``split`` is one of ``SPLIT_MODES`` (see ``read_split``).
    """
    root = Path(root)
    audio_dir = Path(audio_dir) if audio_dir else root / "audio"
    splits = read_split(root, report, split)
    strong_path = Path(strong_file) if strong_file else root / "annotations_strong.csv"
    strong_rows = _rows_by_file(strong_path, TACOS_STRONG_COLUMNS, splits, report)
    weak_path = Path(weak_file) if weak_file else root / "annotations_weak.csv"
    weak_rows = _rows_by_file(weak_path, TACOS_WEAK_COLUMNS, splits, report)
    clips = checks.built_clips(
        (
            _build_clip(
                filename, split, audio_dir, strong_path, strong_rows, weak_path, weak_rows, report
            )
            for filename, split in splits.items()
        ),
        report,
    )
    for name in SPLIT_FILES:
        report.keep(f"{name}_clips", sum(clip.split == name for clip in clips))
    report.keep("weak_captions", sum(len(clip.captions) for clip in clips))
    return clips


def read_split(
    root: str | os.PathLike, report: DataReport, split: str = "release"
) -> dict[str, str]:
    """filename -> split name: the release's split files, or the authors' own split.

    The paper's numbers come from the authors' split (``"authors"``), which their loader draws
    from ``metadata.csv`` at run time; the Zenodo split files (``"release"``) may differ from it.
    The sizes of both splits are kept in the report as ``<split>_files``.
    """
    root = Path(root)
    if split == "release":
        splits = _read_splits(root, report)
    elif split == "authors":
        splits = authors_split(root / METADATA_FILE)
    else:
        raise ValueError(f"unknown TACOS split {split!r}; expected one of {list(SPLIT_MODES)}")
    for name in SPLIT_FILES:
        report.keep(f"{name}_files", sum(value == name for value in splits.values()))
    return splits


def authors_split(path: str | os.PathLike) -> dict[str, str]:
    """filename -> split name, drawn as the authors' loader draws it (``datasets/tacos.py``).

    Their ``train_test_split`` runs over every row of ``metadata.csv`` in file order, with the
    *fraction* ``2000 / rows`` as ``test_size`` (so sklearn's ``ceil`` can make the test set
    2001 files for some row counts), ``stratify`` the ``subclass`` column and seed 42; the same
    call on the same rows gives the same files. Their list of excluded Freesound ids is applied
    after the split and only removes files, so it is not part of this function.
    """
    path = Path(path)
    frame = read_table(path, METADATA_COLUMNS, fix_missing=f"{FIX_FETCH}; or {FIX_AUTHORS}")
    filenames, subclasses = _metadata_rows(path, frame)
    _check_stratifiable(path, filenames, subclasses)
    try:
        _, test = train_test_split(
            filenames,
            test_size=AUTHORS_TEST_FILES / len(filenames),
            stratify=subclasses,
            random_state=AUTHORS_RANDOM_STATE,
        )
    except ValueError as error:
        problem = f"cannot be split as the authors do ({error})"
        raise DataFormatError(path, problem, FIX_AUTHORS) from error
    test_files = set(test)
    return {name: "test" if name in test_files else "development" for name in filenames}


def _metadata_rows(path: Path, frame: pd.DataFrame) -> tuple[list[str], list[str]]:
    """Filenames and subclasses in file order; the split needs every row, so none is skipped."""
    filenames: list[str] = []
    subclasses: list[str] = []
    first_row: dict[str, int] = {}
    for row, record in numbered_rows(frame):
        filename = checks.clean_text(record["filename"])
        subclass = record["subclass"]  # as pandas reads it: the labels' sort order matters
        if not filename or not subclass.strip():
            column = "filename" if not filename else "subclass"
            raise DataFormatError(
                path, f"{column} is empty", f"give every row a {column}, or {FIX_AUTHORS}", row
            )
        if filename in first_row:
            raise DataFormatError(
                path,
                f"{filename} is listed again (first in row {first_row[filename]})",
                f"keep one row per file, or {FIX_AUTHORS}",
                row,
            )
        first_row[filename] = row
        filenames.append(filename)
        subclasses.append(subclass)
    return filenames, subclasses


def _check_stratifiable(path: Path, filenames: list[str], subclasses: list[str]) -> None:
    """Fail before sklearn does, naming the file count or the subclass that breaks the split."""
    if len(filenames) <= AUTHORS_TEST_FILES:
        raise DataFormatError(
            path,
            f"{len(filenames)} files listed; the authors' split holds out {AUTHORS_TEST_FILES} "
            "files for the test set and needs more",
            f"use the full metadata.csv of the release, or {FIX_AUTHORS}",
        )
    rows: dict[str, list[int]] = defaultdict(list)
    for row, subclass in enumerate(subclasses, start=FIRST_DATA_ROW):
        rows[subclass].append(row)
    for subclass, subclass_rows in rows.items():
        if len(subclass_rows) == 1:
            raise DataFormatError(
                path,
                f"subclass {subclass!r} has a single file, so it cannot be stratified",
                f"every subclass needs at least 2 files; fix the subclass, or {FIX_AUTHORS}",
                subclass_rows[0],
            )


def _read_splits(root: Path, report: DataReport) -> dict[str, str]:
    """filename -> split name, in file order; a file listed in two splits is an error."""
    splits: dict[str, str] = {}
    for split, name in SPLIT_FILES.items():
        path = root / name
        frame = read_table(path, TACOS_SPLIT_COLUMNS, fix_missing=FIX_FETCH)
        for row, record in numbered_rows(frame):
            filename = checks.clean_text(record["filename"])
            if not filename:
                report.skip("empty_filename", path, row, "filename is empty")
            elif splits.get(filename) == split:
                report.skip("duplicate_row", path, row, f"{filename} listed twice")
            elif filename in splits:
                raise DataFormatError(
                    path,
                    f"{filename} is also in the {splits[filename]} split",
                    "each file may belong to one split only; remove it from one split file",
                    row=row,
                )
            else:
                splits[filename] = split
    return splits


def _rows_by_file(
    path: Path, columns: tuple[str, ...], splits: dict[str, str], report: DataReport
) -> checks.GroupedRows:
    """Rows grouped by filename; exact duplicates and files of no split are counted skips."""
    frame = read_table(path, columns, aliases={"caption": "text"}, fix_missing=FIX_FETCH)
    if frame.empty:
        raise DataFormatError(
            path,
            "has a header but no rows, so no clip would have captions",
            "download the release again (the fetch step checks its md5) or point the config at "
            "a complete annotations file",
        )

    def reject(key: tuple[str, ...]) -> tuple[str, str] | None:
        if key[0] not in splits:
            return "not_in_split", f"{key[0]!r} is in no split file"
        return None

    return checks.group_unique_rows(frame, columns, path, report, reject)


def _build_clip(
    filename: str,
    split: str,
    audio_dir: Path,
    strong_path: Path,
    strong_rows: dict[str, list[tuple[int, dict[str, str]]]],
    weak_path: Path,
    weak_rows: dict[str, list[tuple[int, dict[str, str]]]],
    report: DataReport,
) -> Clip | None:
    rows = strong_rows.get(filename, [])
    if not rows:
        report.skip("no_annotations", strong_path, None, f"{filename} has no strong captions")
        return None
    duration = checks.probe_duration(audio_dir / filename, report, strong_path, rows[0][0])
    if duration is None:
        return None
    regions = _regions(rows, duration, strong_path, report)
    if not regions:
        report.skip("no_valid_regions", strong_path, rows[0][0], f"{filename}: no region left")
        return None
    captions = _weak_captions(filename, weak_rows, weak_path, report)
    return Clip(
        clip_id=Path(filename).stem,
        audio_path=str(audio_dir / filename),
        duration=duration,
        captions=captions,
        regions=regions,
        split=split,
    )


def _regions(
    rows: list[tuple[int, dict[str, str]]], duration: float, path: Path, report: DataReport
) -> tuple[Region, ...]:
    regions = []
    for row, record in rows:
        region = checks.checked_region(
            checks.clean_text(record["text"]),
            record["onset"],
            record["offset"],
            duration,
            report,
            path,
            row,
        )
        if region is not None:
            regions.append(region)
    return tuple(sorted(regions, key=lambda region: (region.onset, region.offset, region.text)))


def _weak_captions(
    filename: str,
    weak_rows: dict[str, list[tuple[int, dict[str, str]]]],
    path: Path,
    report: DataReport,
) -> tuple[str, ...]:
    captions = []
    for row, record in weak_rows.get(filename, []):
        text = checks.clean_text(record["text"])
        if text:
            captions.append(text)
        else:
            report.skip("empty_text", path, row, "weak caption is empty")
    if not captions:
        report.flag("no_weak_caption", path, None, f"{filename} has no weak caption")
    return tuple(captions)
