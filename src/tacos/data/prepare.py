"""Read a dataset release and write its per-split manifests and its report (one call per rule)."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path

from tacos.data.audioset import read_audioset_strong
from tacos.data.clotho import read_clotho
from tacos.data.manifest import Clip, write_manifest
from tacos.data.report import DataReport
from tacos.data.tacos_release import read_tacos
from tacos.names import DATASET_SPLITS

log = logging.getLogger(__name__)


def prepare_dataset(dataset: str, source: dict, out_dir: str | os.PathLike) -> DataReport:
    """Write ``<out_dir>/<split>.jsonl`` for every split and ``<out_dir>/report.json``.

    ``source`` holds the dataset's config entry: ``root`` (TACOS, Clotho), ``strong_file``,
    ``weak_file`` and ``split`` (TACOS, optional; ``release`` or ``authors``), ``encoding``
    (Clotho, optional), ``labels`` and ``audio`` (AudioSet, the eval or the training labels).
    """
    report = DataReport(dataset)
    if dataset == "tacos":
        clips = read_tacos(
            source["root"],
            report,
            strong_file=source.get("strong_file"),
            weak_file=source.get("weak_file"),
            split=source.get("split", "release"),
        )
    elif dataset == "clotho":
        encoding = source.get("encoding", "utf-8")
        clips = [
            clip
            for split in DATASET_SPLITS["clotho"]
            for clip in read_clotho(source["root"], split, report, encoding=encoding)
        ]
    elif dataset in ("audioset", "audioset_train"):
        split = DATASET_SPLITS[dataset][0]
        clips = read_audioset_strong(source["labels"], source["audio"], report, split=split)
    else:
        raise ValueError(f"unknown dataset {dataset!r}; expected one of {list(DATASET_SPLITS)}")
    _write_splits(clips, DATASET_SPLITS[dataset], Path(out_dir), report)
    report.write(Path(out_dir) / "report.json")
    log.info(report.summary())
    return report


def _write_splits(
    clips: Iterable[Clip], splits: tuple[str, ...], out_dir: Path, report: DataReport
) -> None:
    by_split: dict[str, list[Clip]] = {split: [] for split in splits}
    for clip in clips:
        by_split[clip.split].append(clip)
    for split, split_clips in by_split.items():
        summary = write_manifest(split_clips, out_dir / f"{split}.jsonl")
        report.keep(f"{split}_hours", round(summary.hours, 4))
        if not split_clips:
            log.warning("%s %s: no clip survived the checks", report.dataset, split)
