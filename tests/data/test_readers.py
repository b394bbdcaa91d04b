"""Readers of TACOS, Clotho and AudioSet Strong: good rows kept exactly, every bad kind reported."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tacos.data.audioset import (
    read_audioset_strong,
    read_categories,
    read_class_list,
    read_mid_map,
)
from tacos.data.clotho import read_clotho
from tacos.data.manifest import Clip, Region, read_manifest, write_manifest
from tacos.data.report import DataFormatError, DataReport
from tacos.data.tacos_release import read_tacos

SAMPLE = Path(__file__).parent / "eval_strong_sample.csv"
RATE = 8000


def write_wav(path: Path, seconds: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.zeros(int(seconds * RATE), dtype=np.float32), RATE)


def write_csv(path: Path, header: list[str], rows: list[list], encoding: str = "utf-8") -> None:
    with path.open("w", newline="", encoding=encoding) as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def make_tacos(root: Path, strong: list[list], weak: list[list] | None = None) -> Path:
    """A TACOS release with clips 1.wav (20 s), 2.wav (15 s) in dev and 3.wav (10 s) in test."""
    for name, seconds in (("1.wav", 20), ("2.wav", 15), ("3.wav", 10)):
        write_wav(root / "audio" / name, seconds)
    write_csv(root / "development_split.csv", ["filename"], [["1.wav"], ["2.wav"]])
    write_csv(root / "test_split.csv", ["filename"], [["3.wav"]])
    write_csv(root / "annotations_strong.csv", ["filename", "text", "onset", "offset"], strong)
    weak = weak if weak is not None else [["1.wav", "a dog"], ["2.wav", "a bell"], ["3.wav", "x"]]
    write_csv(root / "annotations_weak.csv", ["filename", "text"], weak)
    return root


GOOD_STRONG = [
    ["1.wav", "a dog barks", "5.0", "6.5"],
    ["1.wav", "rain falls", "0", "20"],
    ["2.wav", "a bell rings", "1.25", "2"],
    ["3.wav", "a car passes", "3", "9"],
]


def test_tacos_good_release_is_read_exactly(tmp_path):
    report = DataReport("tacos")
    clips = read_tacos(make_tacos(tmp_path, GOOD_STRONG), report)
    assert clips == [
        Clip(
            "1",
            str(tmp_path / "audio" / "1.wav"),
            20.0,
            ("a dog",),
            (Region("rain falls", 0.0, 20.0), Region("a dog barks", 5.0, 6.5)),
            "development",
        ),
        Clip(
            "2",
            str(tmp_path / "audio" / "2.wav"),
            15.0,
            ("a bell",),
            (Region("a bell rings", 1.25, 2.0),),
            "development",
        ),
        Clip(
            "3",
            str(tmp_path / "audio" / "3.wav"),
            10.0,
            ("x",),
            (Region("a car passes", 3.0, 9.0),),
            "test",
        ),
    ]
    assert report.skipped == {}
    assert report.kept == {
        "clips": 3,
        "development_files": 2,
        "test_files": 1,
        "development_clips": 2,
        "test_clips": 1,
        "regions": 4,
        "weak_captions": 3,
    }


@pytest.mark.parametrize(
    ("bad_row", "kind"),
    [
        (["1.wav", "a cat", "4", "4"], "onset_not_before_offset"),
        (["1.wav", "a cat", "6", "4"], "onset_not_before_offset"),
        (["1.wav", "a cat", "-1", "4"], "negative_time"),
        (["1.wav", "a cat", "nan", "4"], "nan_value"),
        (["1.wav", "a cat", "", "4"], "nan_value"),
        (["1.wav", "a cat", "1", "abc"], "nan_value"),
        (["1.wav", "   ", "1", "4"], "empty_text"),
        (["1.wav", "a cat", "20", "21"], "region_past_end"),
        (["1.wav", "a dog barks", "5.0", "6.5"], "duplicate_row"),
        (["9.wav", "a cat", "1", "2"], "not_in_split"),
    ],
)
def test_tacos_bad_region_rows_are_counted_skips(tmp_path, bad_row, kind):
    report = DataReport("tacos")
    clips = read_tacos(make_tacos(tmp_path, [*GOOD_STRONG, bad_row]), report)
    assert report.skipped == {kind: 1}
    assert report.examples[kind][0]["row"] == 6  # header row 1, four good rows, then this one
    assert report.examples[kind][0]["file"] == str(tmp_path / "annotations_strong.csv")
    assert sum(len(clip.regions) for clip in clips) == 4


@pytest.mark.parametrize("empty", ["annotations_strong.csv", "annotations_weak.csv"])
def test_tacos_annotations_with_a_header_and_no_rows_stop_naming_the_file(tmp_path, empty):
    root = make_tacos(tmp_path, GOOD_STRONG)
    header = (root / empty).read_text(encoding="utf-8").splitlines()[0]
    (root / empty).write_text(header + "\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=f"{empty}: has a header but no rows"):
        read_tacos(root, DataReport("tacos"))


def test_tacos_offset_past_end_is_clamped_and_flagged(tmp_path):
    report = DataReport("tacos")
    clips = read_tacos(
        make_tacos(tmp_path, [*GOOD_STRONG, ["2.wav", "wind", "14", "15.4"]]), report
    )
    assert clips[1].regions[-1] == Region("wind", 14.0, 15.0)
    assert report.flagged == {"offset_clamped": 1}
    assert report.skipped == {}


def test_tacos_missing_and_unreadable_audio_skip_the_clip(tmp_path):
    root = make_tacos(tmp_path, GOOD_STRONG)
    (root / "audio" / "2.wav").unlink()
    (root / "audio" / "3.wav").write_bytes(b"this is not audio")
    report = DataReport("tacos")
    clips = read_tacos(root, report)
    assert [clip.clip_id for clip in clips] == ["1"]
    assert report.skipped == {"missing_audio": 1, "unreadable_audio": 1}
    assert "2.wav does not exist" in report.examples["missing_audio"][0]["reason"]


def test_tacos_weak_caption_column_alias_and_missing_caption(tmp_path):
    root = make_tacos(tmp_path, GOOD_STRONG, weak=[["1.wav", "a dog"]])
    write_csv(root / "annotations_weak.csv", ["filename", "caption"], [["1.wav", "a dog"]])
    report = DataReport("tacos")
    clips = read_tacos(root, report)
    assert [clip.captions for clip in clips] == [("a dog",), (), ()]
    assert report.flagged == {"no_weak_caption": 2}


def test_tacos_wrong_columns_is_an_error_naming_file_row_and_fix(tmp_path):
    root = make_tacos(tmp_path, GOOD_STRONG)
    write_csv(root / "annotations_strong.csv", ["filename", "text", "start", "end"], GOOD_STRONG)
    with pytest.raises(DataFormatError) as error:
        read_tacos(root, DataReport("tacos"))
    message = str(error.value)
    assert message.startswith(f"{root / 'annotations_strong.csv'}, row 1: missing column(s)")
    assert "['onset', 'offset']" in message
    assert "Fix: the header must name the columns" in message


def test_tacos_wrong_encoding_is_an_error_naming_the_row(tmp_path):
    root = make_tacos(tmp_path, GOOD_STRONG)
    rows = [*GOOD_STRONG, ["1.wav", "caf\u00e9 noise", "1", "2"]]
    write_csv(
        root / "annotations_strong.csv", ["filename", "text", "onset", "offset"], rows, "latin-1"
    )
    with pytest.raises(DataFormatError, match=r"row 6: byte 0xe9 is not valid utf-8. Fix: re-save"):
        read_tacos(root, DataReport("tacos"))


def test_tacos_file_in_two_splits_is_an_error(tmp_path):
    root = make_tacos(tmp_path, GOOD_STRONG)
    write_csv(root / "test_split.csv", ["filename"], [["3.wav"], ["1.wav"]])
    with pytest.raises(DataFormatError, match=r"test_split.csv, row 3: 1.wav is also in the devel"):
        read_tacos(root, DataReport("tacos"))


def test_missing_file_is_an_error_with_the_fix(tmp_path):
    root = make_tacos(tmp_path, GOOD_STRONG)
    (root / "test_split.csv").unlink()
    with pytest.raises(
        DataFormatError, match=r"test_split.csv: file not found. Fix: fetch it \(data.source: d"
    ):
        read_tacos(root, DataReport("tacos"))


def make_clotho(root: Path, rows: list[list]) -> Path:
    header = ["file_name", *(f"caption_{index}" for index in range(1, 6))]
    write_csv(root / "clotho_captions_validation.csv", header, rows)
    for row in rows:
        write_wav(root / "validation" / row[0], 16)
    return root


def test_clotho_reads_captions_and_reports_bad_rows(tmp_path):
    good = ["a.wav", "one", "two", "three", "four", "five"]
    root = make_clotho(
        tmp_path, [good, ["b.wav", "one", "", "three", "four", "five"], good, ["c.wav"] + [""] * 5]
    )
    (root / "validation" / "b.wav").write_bytes(b"")
    report = DataReport("clotho")
    clips = read_clotho(root, "validation", report)
    assert clips == [
        Clip(
            "a",
            str(root / "validation" / "a.wav"),
            16.0,
            ("one", "two", "three", "four", "five"),
            (),
            "validation",
        )
    ]
    assert report.skipped == {
        "duplicate_row": 1,
        "empty_text": 6,
        "no_captions": 1,
        "unreadable_audio": 1,
    }


def test_clotho_name_with_a_leading_space_finds_its_file(tmp_path):
    """Two real development names start with a space, and so do their files in the archive."""
    root = make_clotho(tmp_path, [[" Ambience Birds.wav", "a", "b", "c", "d", "e"]])
    assert (root / "validation" / " Ambience Birds.wav").is_file()
    report = DataReport("clotho")
    clips = read_clotho(root, "validation", report)
    assert [(clip.clip_id, clip.audio_path) for clip in clips] == [
        ("Ambience Birds", str(root / "validation" / " Ambience Birds.wav"))
    ]
    assert report.skipped == {}


def test_clotho_latin1_file_reads_with_its_encoding(tmp_path):
    root = make_clotho(tmp_path, [["a.wav", "caf\u00e9", "b", "c", "d", "e"]])
    path = root / "clotho_captions_validation.csv"
    path.write_bytes(path.read_text(encoding="utf-8").encode("latin-1"))
    with pytest.raises(DataFormatError, match="ISO-8859-1"):
        read_clotho(root, "validation", DataReport("clotho"))
    clips = read_clotho(root, "validation", DataReport("clotho"), encoding="latin-1")
    assert clips[0].captions[0] == "caf\u00e9"


def sample_rows() -> list[dict[str, str]]:
    with SAMPLE.open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def make_audioset(root: Path, rows: list[dict[str, str]]) -> Path:
    """The real eval sample in the official tab-separated layout, with 10 s of audio per clip."""
    tsv = root / "audioset_eval_strong.tsv"
    with tsv.open("w", encoding="utf-8") as handle:
        handle.write("segment_id\tstart_time_seconds\tend_time_seconds\tlabel\n")
        for row in rows:
            handle.write("\t".join(row.values()) + "\n")
    for ytid in {row["segment_id"].rsplit("_", 1)[0] for row in rows}:
        write_wav(root / "audio" / f"Y{ytid}.wav", 10)
    return tsv


def test_audioset_reader_parses_the_real_sample(tmp_path):
    rows = sample_rows()
    report = DataReport("audioset")
    clips = read_audioset_strong(make_audioset(tmp_path, rows), tmp_path / "audio", report)
    mids = read_mid_map()
    assert len(clips) == 51
    assert sum(len(clip.regions) for clip in clips) == 412
    assert report.skipped == {}
    first = rows[0]
    clip = next(clip for clip in clips if clip.clip_id == "Y" + first["segment_id"][:-6])
    assert Region(mids[first["label"]], 0.0, 10.0, first["label"]) in clip.regions
    assert all(region.text == mids[region.label] for clip in clips for region in clip.regions)


def test_audioset_reader_reports_unknown_mid_missing_audio_and_bad_ids(tmp_path):
    rows = sample_rows()[:20]
    tsv = make_audioset(tmp_path, rows)
    with tsv.open("a", encoding="utf-8") as handle:
        handle.write(f"{rows[0]['segment_id']}\t1\t2\t/m/not_a_mid\n")
        handle.write("nosegmentid\t1\t2\t/m/09x0r\n")
        handle.write("missingclip1_0\t1\t2\t/m/09x0r\n")
        handle.write("\t".join(rows[0].values()) + "\n")
    report = DataReport("audioset")
    clips = read_audioset_strong(tsv, tmp_path / "audio", report)
    assert report.skipped == {
        "unknown_mid": 1,
        "bad_segment_id": 1,
        "missing_audio": 1,
        "duplicate_row": 1,
    }
    assert report.kept["clips_listed"] == len(clips) + 1
    assert report.examples["unknown_mid"][0]["row"] == 22


def test_class_lists_and_categories_are_owned_by_the_package():
    names = set(read_mid_map().values())
    assert len(read_mid_map()) == 456
    assert [len(read_class_list(which)) for which in ("train", "eval", "eval_train")] == [
        447,
        416,
        407,
    ]
    assert set(read_class_list("eval_train")) <= names
    categories = read_categories()
    assert len(categories["category_to_audioset"]) == 50
    pooled = {name for group in categories["category_to_audioset"].values() for name in group}
    assert len(pooled) == 117
    assert set(categories["category_to_sentence"]) == set(categories["category_to_audioset"])


def test_manifest_round_trip_and_report_json(tmp_path):
    clips = read_tacos(make_tacos(tmp_path / "tacos", GOOD_STRONG), DataReport("tacos"))
    summary = write_manifest(clips, tmp_path / "m.jsonl")
    assert read_manifest(tmp_path / "m.jsonl") == clips
    assert (summary.clips, summary.regions, summary.splits) == (
        3,
        4,
        {"development": 2, "test": 1},
    )
    report = DataReport("x")
    report.skip("nan_value", "f.csv", 3, "why")
    report.write(tmp_path / "r.json")
    saved = json.loads((tmp_path / "r.json").read_text())
    assert saved["skipped"] == {"nan_value": 1}
    assert saved["total_skipped"] == 1
    assert saved["examples"]["nan_value"] == [{"file": "f.csv", "row": 3, "reason": "why"}]
