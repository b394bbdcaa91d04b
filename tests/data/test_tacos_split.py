"""The TACOS split option: the release's split files, or the authors' stratified split.

The expected authors' split is computed here the way their loader computes it (pandas reads
``metadata.csv``, ``train_test_split`` with ``test_size=2000 / len``, ``stratify=subclass``,
``random_state=42``), independently of the reader under test.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from sklearn.model_selection import train_test_split

from tacos.data.formats import TACOS_METADATA_COLUMNS
from tacos.data.manifest import read_manifest
from tacos.data.prepare import prepare_dataset
from tacos.data.report import DataFormatError, DataReport
from tacos.data.tacos_release import authors_split, read_split, read_tacos

RATE = 8000
# Unbalanced, like the release's Freesound subclasses; not in sorted order.
SUBCLASSES = {
    "Nature": 700,
    "Alarms": 90,
    "Vehicles": 420,
    "Solo speech": 260,
    "Bells": 35,
    "Animals": 515,
    "Objects / House appliances": 310,
    "field recording": 170,  # lower case: sorts after the capitals, as numpy sorts labels
}
FIX = "set data.tacos.split: release to use the release's split files instead"


def write_csv(path: Path, header: list[str] | tuple[str, ...], rows: list) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def metadata_row(freesound_id: int, subclass: str) -> list:
    """A row with the release's 20 columns; text fields hold commas and quotes, as real ones do."""
    values = {
        "filename": f"{freesound_id}.mp3",
        "keywords": "field-recording, ambience, bird",
        "freesound_id": freesound_id,
        "sound_link": f"https://freesound.org/people/someone/sounds/{freesound_id}/",
        "manufacturer": "someone",
        "license": "http://creativecommons.org/licenses/by/4.0/",
        "superclass": "Sound effects",
        "subclass": subclass,
        "title": f'Take {freesound_id}, "outside"',
        "description": "Recorded at dawn, near a road.\nSecond line.",
        "duration": "41.2",
        "original_samplerate": 44100,
        "original_bitdepth": 16,
        "original_file_type": "wav",
        "num_downloads": 12,
        "avg_rating": "",
        "geotag": "",
        "start_time_s": "0.0",
        "end_time_s": "30.0",
        "original_filename": f"take_{freesound_id}.wav",
    }
    return [values[column] for column in TACOS_METADATA_COLUMNS]


def write_metadata(root: Path, counts: dict[str, int], seed: int = 7) -> list[str]:
    """``metadata.csv`` with ``counts`` files per subclass in shuffled order; the filenames."""
    rng = np.random.default_rng(seed)
    labels = [subclass for subclass, count in counts.items() for _ in range(count)]
    ids = rng.choice(np.arange(1000, 900000), size=len(labels), replace=False)
    order = rng.permutation(len(labels))
    rows = [metadata_row(int(ids[i]), labels[i]) for i in order]
    write_csv(root / "metadata.csv", TACOS_METADATA_COLUMNS, rows)
    return [row[0] for row in rows]


def expected_split(path: Path) -> tuple[set[str], set[str]]:
    """(development, test) filenames as the authors' loader draws them."""
    metadata = pd.read_csv(path).set_index("filename")
    train_df, test_df = train_test_split(
        metadata,
        test_size=2000 / len(metadata),
        stratify=metadata["subclass"],
        random_state=42,
    )
    return set(train_df.index), set(test_df.index)


def files_of(splits: dict[str, str], name: str) -> set[str]:
    return {filename for filename, split in splits.items() if split == name}


def test_authors_split_is_sklearns_stratified_split_of_metadata(tmp_path):
    filenames = write_metadata(tmp_path, SUBCLASSES)
    assert len(filenames) == 2500
    development, test = expected_split(tmp_path / "metadata.csv")
    splits = authors_split(tmp_path / "metadata.csv")
    assert list(splits) == filenames  # every row, in file order
    assert files_of(splits, "test") == test
    assert files_of(splits, "development") == development
    assert len(test) == 2000 and len(development) == 500


def test_authors_split_uses_the_file_order_of_metadata(tmp_path):
    """The same rows sorted give other test files, so the order the reader keeps matters."""
    write_metadata(tmp_path / "shuffled", SUBCLASSES)
    frame = pd.read_csv(tmp_path / "shuffled" / "metadata.csv", dtype=str)
    (tmp_path / "sorted").mkdir()
    frame.sort_values("filename").to_csv(tmp_path / "sorted" / "metadata.csv", index=False)
    shuffled = files_of(authors_split(tmp_path / "shuffled" / "metadata.csv"), "test")
    by_name = files_of(authors_split(tmp_path / "sorted" / "metadata.csv"), "test")
    assert by_name == expected_split(tmp_path / "sorted" / "metadata.csv")[1]
    assert shuffled != by_name


def test_authors_split_passes_the_test_fraction_as_the_authors_do(tmp_path):
    """2000 / 2141 * 2141 rounds up in sklearn: their test set is 2001 files, not 2000."""
    counts = dict(SUBCLASSES, Nature=341)
    write_metadata(tmp_path, counts)
    development, test = expected_split(tmp_path / "metadata.csv")
    splits = authors_split(tmp_path / "metadata.csv")
    assert len(splits) == 2141
    assert (len(files_of(splits, "development")), len(files_of(splits, "test"))) == (140, 2001)
    assert files_of(splits, "test") == test
    assert files_of(splits, "development") == development


def test_read_split_keeps_both_sizes_in_the_report(tmp_path):
    write_metadata(tmp_path, SUBCLASSES)
    report = DataReport("tacos")
    splits = read_split(tmp_path, report, split="authors")
    assert len(splits) == 2500
    assert report.kept == {"development_files": 500, "test_files": 2000}


def write_wav(path: Path, seconds: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.zeros(int(seconds * RATE), dtype=np.float32), RATE)


def make_release(root: Path, annotated: int = 6) -> tuple[list[str], dict[str, str]]:
    """Metadata of 2,500 files, the release's split files (all in development), and strong and
    weak captions plus 2 s wavs for the first ``annotated`` files. Returns (annotated files,
    the authors' split of them)."""
    filenames = write_metadata(root, SUBCLASSES)
    write_csv(root / "development_split.csv", ["filename"], [[name] for name in filenames])
    write_csv(root / "test_split.csv", ["filename"], [])
    chosen = filenames[:annotated]
    strong = [[name, f"event {i}", "0.5", "1.5"] for i, name in enumerate(chosen)]
    write_csv(root / "annotations_strong.csv", ["filename", "text", "onset", "offset"], strong)
    write_csv(root / "annotations_weak.csv", ["filename", "text"], [[n, "a sound"] for n in chosen])
    for name in chosen:
        write_wav(root / "audio" / name, 2.0)
    _, test = expected_split(root / "metadata.csv")
    return chosen, {name: "test" if name in test else "development" for name in chosen}


def test_read_tacos_with_the_authors_split(tmp_path):
    chosen, expected = make_release(tmp_path, annotated=40)
    assert set(expected.values()) == {"development", "test"}  # both splits are exercised
    report = DataReport("tacos")
    clips = read_tacos(tmp_path, report, split="authors")
    assert {f"{clip.clip_id}.mp3": clip.split for clip in clips} == expected
    n_test = sum(split == "test" for split in expected.values())
    assert report.kept["development_files"] == 500
    assert report.kept["test_files"] == 2000
    assert report.kept["development_clips"] == 40 - n_test
    assert report.kept["test_clips"] == n_test
    assert report.skipped == {"no_annotations": 2500 - 40}


def test_prepare_threads_the_split_option(tmp_path):
    root = tmp_path / "tacos"
    _, expected = make_release(root, annotated=40)
    out = tmp_path / "prepared"
    prepare_dataset("tacos", {"root": str(root), "split": "authors"}, out)
    test_ids = {clip.clip_id for clip in read_manifest(out / "test.jsonl")}
    assert test_ids == {Path(name).stem for name, split in expected.items() if split == "test"}
    kept = json.loads((out / "report.json").read_text())["kept"]
    assert (kept["development_files"], kept["test_files"]) == (500, 2000)


@pytest.mark.parametrize("split", [None, "release"])
def test_release_split_is_unchanged(tmp_path, split):
    """The default reads the split files even when metadata.csv would split otherwise."""
    chosen, _ = make_release(tmp_path)
    report = DataReport("tacos")
    options = {} if split is None else {"split": split}
    clips = read_tacos(tmp_path, report, **options)
    assert [(f"{clip.clip_id}.mp3", clip.split) for clip in clips] == [
        (name, "development") for name in chosen
    ]
    assert report.kept["development_files"] == 2500
    assert report.kept["test_files"] == 0
    assert report.kept["development_clips"] == 6
    assert report.kept["test_clips"] == 0


def test_unknown_split_mode_is_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown TACOS split 'random'"):
        read_split(tmp_path, DataReport("tacos"), split="random")


def test_missing_metadata_names_the_file_and_the_fix(tmp_path):
    with pytest.raises(DataFormatError) as error:
        read_split(tmp_path, DataReport("tacos"), split="authors")
    assert str(error.value) == (
        f"{tmp_path / 'metadata.csv'}: file not found. Fix: fetch it (data.source: download, or "
        f"`tacos fetch tacos <folder>`), or point data.tacos in the config at the release; "
        f"or {FIX}"
    )


def test_metadata_without_subclass_is_refused(tmp_path):
    columns = [column for column in TACOS_METADATA_COLUMNS if column != "subclass"]
    write_csv(tmp_path / "metadata.csv", columns, [])
    with pytest.raises(DataFormatError, match=r"missing column\(s\) \['subclass'\]") as error:
        authors_split(tmp_path / "metadata.csv")
    assert error.value.row == 1


def test_a_subclass_with_a_single_file_is_named(tmp_path):
    filenames = write_metadata(tmp_path, dict(SUBCLASSES, Bells=1))
    frame = pd.read_csv(tmp_path / "metadata.csv", dtype=str)
    row = int(np.flatnonzero(frame["subclass"] == "Bells")[0]) + 2  # the header is row 1
    with pytest.raises(DataFormatError) as error:
        authors_split(tmp_path / "metadata.csv")
    assert str(error.value) == (
        f"{tmp_path / 'metadata.csv'}, row {row}: subclass 'Bells' has a single file, so it "
        f"cannot be stratified. Fix: every subclass needs at least 2 files; fix the subclass, "
        f"or {FIX}"
    )
    assert len(filenames) == 2466


def test_an_empty_subclass_is_refused_with_its_row(tmp_path):
    write_metadata(tmp_path, SUBCLASSES)
    frame = pd.read_csv(tmp_path / "metadata.csv", dtype=str, keep_default_na=False)
    frame.loc[10, "subclass"] = ""
    frame.to_csv(tmp_path / "metadata.csv", index=False)
    with pytest.raises(DataFormatError, match="subclass is empty") as error:
        authors_split(tmp_path / "metadata.csv")
    assert error.value.row == 12


def test_a_file_listed_twice_is_refused(tmp_path):
    filenames = write_metadata(tmp_path, SUBCLASSES)
    frame = pd.read_csv(tmp_path / "metadata.csv", dtype=str, keep_default_na=False)
    frame.loc[20, "filename"] = filenames[3]
    frame.to_csv(tmp_path / "metadata.csv", index=False)
    with pytest.raises(
        DataFormatError, match=f"{filenames[3]} is listed again \\(first in row 5\\)"
    ):
        authors_split(tmp_path / "metadata.csv")


def test_too_few_files_for_2000_test_files_is_refused(tmp_path):
    write_metadata(tmp_path, {"Nature": 1500, "Bells": 500})
    with pytest.raises(DataFormatError) as error:
        authors_split(tmp_path / "metadata.csv")
    assert str(error.value) == (
        f"{tmp_path / 'metadata.csv'}: 2000 files listed; the authors' split holds out 2000 "
        f"files for the test set and needs more. Fix: use the full metadata.csv of the "
        f"release, or {FIX}"
    )


def test_a_development_set_smaller_than_the_subclasses_is_refused(tmp_path):
    """2,005 files in 8 subclasses leave 5 development files: sklearn's error, with the file."""
    counts = {name: 250 for name in SUBCLASSES}
    counts["Nature"] = 255
    write_metadata(tmp_path, counts)
    with pytest.raises(DataFormatError, match="cannot be split as the authors do") as error:
        authors_split(tmp_path / "metadata.csv")
    assert str(error.value).startswith(str(tmp_path / "metadata.csv"))
