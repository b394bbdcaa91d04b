"""The score file: round trip of every frame, reads by class, the two frame protocols."""

import numpy as np
import pytest

from tacos.evaluation.scores import (
    FORMAT_VERSION,
    ScoreReader,
    ScoreWriter,
    protocol_frames,
    score_dataframe,
)
from tacos.frames import frame_count, frame_edges

CLASSES = ["Dog", "Cat", "Bird", "Car", "Rain"]
DELTA = 0.04


def write_clips(
    path, clips, dtype=np.float32, classes_per_chunk=2, frames_per_chunk=32, model_info=None
):
    with ScoreWriter(
        path, CLASSES, DELTA, dtype, classes_per_chunk, frames_per_chunk, model_info=model_info
    ) as writer:
        for clip_id, scores, duration in clips:
            writer.add(clip_id, scores, duration)


@pytest.fixture
def clips():
    rng = np.random.default_rng(3)
    # 251 frames for 10 s (one past the end), 100 for 3.99 s, 20 for 0.8 s
    return [
        ("Ya", rng.normal(size=(251, 5)), 10.0),
        ("Yb", rng.normal(size=(100, 5)), 3.99),
        ("Yc", rng.normal(size=(20, 5)), 0.8),
    ]


def test_frame_count_counts_frames_that_start_before_the_end():
    assert frame_count(10.0, 0.04) == 250  # 10 / 0.04 is 250.00000000000003 in floats
    assert frame_count(9.99, 0.04) == 250
    assert frame_count(9.96, 0.04) == 249
    assert frame_count(0.01, 0.04) == 1


def test_protocol_frames_trims_only_the_trimmed_protocol():
    assert protocol_frames(251, 0.04, 10.0, "untrimmed") == 251
    assert protocol_frames(251, 0.04, 10.0, "trimmed") == 250
    assert protocol_frames(240, 0.04, 10.0, "trimmed") == 240  # fewer frames: all kept
    assert protocol_frames(240, 0.04, 10.0, "untrimmed") == 240
    with pytest.raises(ValueError, match="frame protocol"):
        protocol_frames(251, 0.04, 10.0, "clipped")


def test_edges_clip_the_last_frame_to_the_duration_only_when_given():
    assert np.allclose(frame_edges(4, 0.5, 1.8), [0.0, 0.5, 1.0, 1.5, 1.8])
    assert np.allclose(frame_edges(2, 0.5, 1.8), [0.0, 0.5, 1.0])  # fewer frames: kept
    assert np.allclose(frame_edges(4, 0.5), [0.0, 0.5, 1.0, 1.5, 2.0])
    frame = score_dataframe(np.zeros((4, 2)), 0.5, 1.8, ["Dog", "Cat"], "trimmed")
    assert list(frame.columns) == ["onset", "offset", "Dog", "Cat"]
    assert len(frame) == 4
    assert frame["offset"].iloc[-1] == 1.8


def test_score_dataframe_untrimmed_keeps_every_frame_on_its_grid_times():
    scores = np.arange(12.0).reshape(6, 2)  # 6 frames of 0.5 s for a 1.8 s clip: 2 past the end
    untrimmed = score_dataframe(scores, 0.5, 1.8, ["Dog", "Cat"], "untrimmed")
    assert untrimmed["onset"].tolist() == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5]
    assert untrimmed["offset"].tolist() == [0.5, 1.0, 1.5, 2.0, 2.5, 3.0]
    assert untrimmed["Cat"].tolist() == scores[:, 1].tolist()
    trimmed = score_dataframe(scores, 0.5, 1.8, ["Dog", "Cat"], "trimmed")
    assert trimmed["onset"].tolist() == [0.0, 0.5, 1.0, 1.5]
    assert trimmed["offset"].tolist() == [0.5, 1.0, 1.5, 1.8]
    assert trimmed["Dog"].tolist() == scores[:4, 0].tolist()
    with pytest.raises(ValueError, match="frame protocol"):
        score_dataframe(scores, 0.5, 1.8, ["Dog", "Cat"], "all")


def test_round_trip_keeps_every_frame_and_reads_both_protocols(tmp_path, clips):
    path = tmp_path / "scores.h5"
    write_clips(path, clips)
    assert not (tmp_path / "scores.h5.partial").exists()
    with ScoreReader(path) as reader:
        assert reader.clip_ids == ["Ya", "Yb", "Yc"]
        assert reader.class_names == CLASSES
        assert reader.delta == DELTA
        assert reader.durations == {"Ya": 10.0, "Yb": 3.99, "Yc": 0.8}
        assert reader.n_frames.tolist() == [251, 100, 20]  # nothing trimmed at write time
        assert reader.clips_short == 0
        assert reader.model_info == {}
        for index, (_, scores, _) in enumerate(clips):
            assert np.array_equal(reader.clip_scores(index), scores.astype(np.float32))
        trimmed = reader.score_dataframes("trimmed", ["Cat"])
        assert [len(trimmed[clip]) for clip in ("Ya", "Yb", "Yc")] == [250, 100, 20]
        assert trimmed["Ya"]["offset"].iloc[-1] == 10.0
        assert trimmed["Yb"]["offset"].iloc[-1] == 3.99  # frame 99 is [3.96, 3.99)
        assert trimmed["Yb"]["onset"].iloc[-1] == pytest.approx(3.96)
        assert np.array_equal(trimmed["Yc"]["Cat"], clips[2][1][:, 1].astype(np.float32))
        untrimmed = reader.score_dataframes("untrimmed", ["Cat"])
        assert [len(untrimmed[clip]) for clip in ("Ya", "Yb", "Yc")] == [251, 100, 20]
        assert untrimmed["Ya"]["onset"].iloc[-1] == 250 * DELTA  # starts at the clip's end
        assert untrimmed["Ya"]["offset"].iloc[-1] == 251 * DELTA
        assert untrimmed["Yb"]["offset"].iloc[-1] == 100 * DELTA  # 4.0, past 3.99
        assert np.array_equal(untrimmed["Ya"]["Cat"], clips[0][1][:, 1].astype(np.float32))
        assert list(reader.score_dataframes("untrimmed")["Yc"].columns) == [
            "onset",
            "offset",
            *CLASSES,
        ]


def test_the_model_info_round_trips(tmp_path, clips):
    info = {
        "stage": "strong",
        "delta": DELTA,
        "seed": 3,
        "checkpoint": "models/strong.ckpt",
        "protocol": {"evaluated_weights": "last", "tacos_split": "release"},
    }
    path = tmp_path / "scores.h5"
    write_clips(path, clips, model_info=info)
    with ScoreReader(path) as reader:
        assert reader.model_info == info


def test_an_old_format_is_refused(tmp_path, clips):
    import h5py

    path = tmp_path / "scores.h5"
    write_clips(path, clips)
    with h5py.File(path, "r+") as file:
        file.attrs["format_version"] = FORMAT_VERSION - 1
    with pytest.raises(ValueError, match="format"):
        ScoreReader(path)


def test_reads_one_class_or_a_few_across_all_clips(tmp_path, clips):
    path = tmp_path / "scores.h5"
    write_clips(path, clips, dtype=np.float16)
    with ScoreReader(path) as reader:
        assert reader.dtype == np.float16
        columns = reader.read_classes(reader.class_index(["Rain", "Cat"]))
        for index, (_, scores, _) in enumerate(clips):
            assert np.array_equal(columns[index], scores[:, [4, 1]].astype(np.float16))
        single = reader.read_classes([2])
        assert [column.shape for column in single] == [(251, 1), (100, 1), (20, 1)]
        with pytest.raises(KeyError, match="Horse"):
            reader.class_index(["Horse"])


def test_a_clip_with_fewer_frames_than_its_duration_is_counted(tmp_path):
    path = tmp_path / "scores.h5"
    write_clips(path, [("Ya", np.ones((240, 5)), 10.0)])
    with ScoreReader(path) as reader:
        assert reader.clips_short == 1
        for frames in ("trimmed", "untrimmed"):
            table = reader.score_dataframes(frames)["Ya"]
            assert len(table) == 240
            assert table["offset"].iloc[-1] == pytest.approx(9.6)


def test_bad_input_is_refused_and_a_failed_run_leaves_no_file(tmp_path):
    path = tmp_path / "scores.h5"
    with (
        pytest.raises(ValueError, match="added twice"),
        ScoreWriter(path, CLASSES, DELTA) as writer,
    ):
        writer.add("Ya", np.zeros((10, 5)), 0.4)
        writer.add("Ya", np.zeros((10, 5)), 0.4)
    assert not path.exists() and not (tmp_path / "scores.h5.partial").exists()
    with ScoreWriter(tmp_path / "other.h5", CLASSES, DELTA) as writer:
        with pytest.raises(ValueError, match=r"\[frames, 5\]"):
            writer.add("Ya", np.zeros((10, 4)), 0.4)
        with pytest.raises(ValueError, match="NaN"):
            writer.add("Yb", np.full((10, 5), np.nan), 0.4)
    with pytest.raises(ValueError, match="float16 or float32"):
        ScoreWriter(tmp_path / "third.h5", CLASSES, DELTA, dtype=np.float64)
