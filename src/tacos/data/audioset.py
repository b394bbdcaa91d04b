"""Reader of the AudioSet Strong labels (Google, May 2021) and the class lists we own.

Labels: ``audioset_{eval,train}_strong.tsv`` with ``segment_id start_time_seconds
end_time_seconds label`` (tab-separated; segment_id = ``<ytid>_<start_ms>``; label = MID) and
``mid_to_display_name.tsv`` (no header). Audio is brought by the user as ``Y<ytid>.wav|flac|mp3``;
clips listed in the labels but absent on disk are counted in the report.
"""

from __future__ import annotations

import json
import os
from importlib import resources
from pathlib import Path

from tacos.data import checks
from tacos.data.formats import AUDIOSET_MID_COLUMNS, AUDIOSET_STRONG_COLUMNS
from tacos.data.manifest import Clip
from tacos.data.report import DataFormatError, DataReport
from tacos.data.tables import numbered_rows, read_table
from tacos.names import QUERY_SETS

AUDIO_EXTENSIONS = (".wav", ".flac", ".mp3")
CLASS_LISTS = {
    "train": "classes_train_447.txt",
    "eval": "classes_eval_416.txt",
    "eval_train": "classes_eval_train_407.txt",
}


def resource_path(name: str) -> Path:
    """A reference file shipped in ``tacos/data/resources``."""
    return Path(str(resources.files("tacos.data") / "resources" / name))


def read_class_list(which: str = "eval_train") -> list[str]:
    """AudioSet display names: ``train`` (447), ``eval`` (416) or ``eval_train`` (407)."""
    text = resource_path(CLASS_LISTS[which]).read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip()]


def read_categories() -> dict:
    """The 50 evaluation categories: ``category_to_audioset`` and ``category_to_sentence``."""
    return json.loads(resource_path("audioset_50_categories.json").read_text(encoding="utf-8"))


def query_set(name: str) -> tuple[list[str], list[str]]:
    """Class names and their text queries: ``classes407`` (each display name queried by itself)
    or ``categories50`` (each category queried by its sentence, e.g. "A dog is barking.")."""
    if name == "classes407":
        names = read_class_list("eval_train")
        return names, list(names)
    if name == "categories50":
        sentences = read_categories()["category_to_sentence"]
        return list(sentences), list(sentences.values())
    raise ValueError(f"unknown query set {name!r}; choose one of {QUERY_SETS}")


def read_mid_map(path: str | os.PathLike | None = None) -> dict[str, str]:
    """MID -> display name; the project's copy unless ``path`` is given."""
    path = Path(path) if path else resource_path("mid_to_display_name.tsv")
    frame = read_table(path, AUDIOSET_MID_COLUMNS, sep="\t", header=False)
    mapping: dict[str, str] = {}
    for row, record in numbered_rows(frame, first_row=1):
        mid, name = checks.clean_text(record["mid"]), checks.clean_text(record["display_name"])
        if mid in mapping and mapping[mid] != name:
            raise DataFormatError(
                path, f"MID {mid} maps to both {mapping[mid]!r} and {name!r}", "keep one", row
            )
        mapping[mid] = name
    return mapping


def index_audio(audio_dir: str | os.PathLike) -> dict[str, Path]:
    """ytid -> audio file for every ``Y<ytid>.<ext>`` in ``audio_dir`` (one listing, no probing)."""
    audio_dir = Path(audio_dir)
    if not audio_dir.is_dir():
        return {}
    found = {}
    for path in sorted(audio_dir.iterdir()):
        if path.suffix.lower() in AUDIO_EXTENSIONS and path.name.startswith("Y"):
            found.setdefault(path.stem[1:], path)
    return found


def read_audioset_strong(
    labels_path: str | os.PathLike,
    audio_dir: str | os.PathLike,
    report: DataReport,
    mid_map: dict[str, str] | None = None,
    split: str = "eval",
) -> list[Clip]:
    """Clips of the strong labels that have audio, each region labelled with MID and name."""
    labels_path = Path(labels_path)
    mid_map = mid_map if mid_map is not None else read_mid_map()
    frame = read_table(
        labels_path,
        AUDIOSET_STRONG_COLUMNS,
        sep="\t",
        fix_missing=(
            "fetch it (data.source: download, or `tacos fetch audioset_strong <folder>`), "
            "or point data.audioset.labels at the TSV"
        ),
    )
    rows = _rows_by_segment(frame, labels_path, mid_map, report)
    audio = index_audio(audio_dir)
    report.keep("clips_listed", len(rows))
    return checks.built_clips(
        (
            _clip(segment_id, segment_rows, audio, audio_dir, labels_path, mid_map, report, split)
            for segment_id, segment_rows in rows.items()
        ),
        report,
    )


def _rows_by_segment(
    frame, path: Path, mid_map: dict[str, str], report: DataReport
) -> checks.GroupedRows:
    def reject(key: tuple[str, ...]) -> tuple[str, str] | None:
        segment_id, mid = key[0], key[3]
        if "_" not in segment_id or not segment_id.rsplit("_", 1)[1].isdigit():
            return "bad_segment_id", f"{segment_id!r} is not <ytid>_<start_ms>"
        if mid not in mid_map:
            return "unknown_mid", f"{mid!r} is not in mid_to_display_name.tsv"
        return None

    return checks.group_unique_rows(frame, AUDIOSET_STRONG_COLUMNS, path, report, reject)


def _clip(
    segment_id: str,
    rows: list[tuple[int, dict[str, str]]],
    audio: dict[str, Path],
    audio_dir: str | os.PathLike,
    path: Path,
    mid_map: dict[str, str],
    report: DataReport,
    split: str,
) -> Clip | None:
    ytid = segment_id.rsplit("_", 1)[0]
    first_row = rows[0][0]
    audio_path = audio.get(ytid, Path(audio_dir) / f"Y{ytid}.wav")
    duration = checks.probe_duration(audio_path, report, path, first_row)
    if duration is None:
        return None
    regions = []
    for row, record in rows:
        mid = checks.clean_text(record["label"])
        region = checks.checked_region(
            mid_map[mid],
            record["start_time_seconds"],
            record["end_time_seconds"],
            duration,
            report,
            path,
            row,
            label=mid,
        )
        if region is not None:
            regions.append(region)
    if not regions:
        report.skip("no_valid_regions", path, first_row, f"{segment_id}: no region left")
        return None
    regions.sort(key=lambda region: (region.onset, region.offset, region.label or ""))
    return Clip(
        clip_id=f"Y{ytid}",
        audio_path=str(audio_path),
        duration=duration,
        regions=tuple(regions),
        split=split,
    )
