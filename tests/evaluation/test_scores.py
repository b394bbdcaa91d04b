"""The score file: round trip, reads by class, trimming to the clip's duration."""

import numpy as np
import pytest

from tacos.evaluation.scores import (
    ScoreReader,
    ScoreWriter,
    frame_timestamps,
    frames_within,
    score_dataframe,
)

CLASSES = ["Dog", "Cat", "Bird", "Car", "Rain"]
DELTA = 0.04


def write_clips(path, clips, dtype=np.float32, classes_per_chunk=2, frames_per_chunk=32):
    with ScoreWriter(path, CLASSES, DELTA, dtype, classes_per_chunk, frames_per_chunk) as writer:
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


def test_frames_within_counts_frames_that_start_before_the_end():
    assert frames_within(10.0, 0.04) == 250  # 10 / 0.04 is 250.00000000000003 in floats
    assert frames_within(9.99, 0.04) == 250
    assert frames_within(9.96, 0.04) == 249
    assert frames_within(0.01, 0.04) == 1


def test_timestamps_clip_the_last_frame_to_the_duration():
    assert np.allclose(frame_timestamps(4, 0.5, 1.8), [0.0, 0.5, 1.0, 1.5, 1.8])
    assert np.allclose(frame_timestamps(2, 0.5, 1.8), [0.0, 0.5, 1.0])  # fewer frames: kept
    frame = score_dataframe(np.zeros((4, 2)), 0.5, 1.8, ["Dog", "Cat"])
    assert list(frame.columns) == ["onset", "offset", "Dog", "Cat"]
    assert frame["offset"].iloc[-1] == 1.8


def test_round_trip_trims_frames_past_the_clip_end(tmp_path, clips):
    path = tmp_path / "scores.h5"
    write_clips(path, clips)
    assert not (tmp_path / "scores.h5.partial").exists()
    with ScoreReader(path) as reader:
        assert reader.clip_ids == ["Ya", "Yb", "Yc"]
        assert reader.class_names == CLASSES
        assert reader.delta == DELTA
        assert reader.durations == {"Ya": 10.0, "Yb": 3.99, "Yc": 0.8}
        assert reader.n_frames.tolist() == [250, 100, 20]
        assert reader.clips_short == 0
        for index, (_, scores, _) in enumerate(clips):
            expected = scores[: reader.n_frames[index]].astype(np.float32)
            assert np.array_equal(reader.clip_scores(index), expected)
        frames = reader.score_dataframes(["Cat"])
        assert frames["Ya"]["offset"].iloc[-1] == 10.0
        assert frames["Yb"]["offset"].iloc[-1] == 3.99  # frame 99 is [3.96, 3.99)
        assert frames["Yb"]["onset"].iloc[-1] == pytest.approx(3.96)
        assert np.array_equal(frames["Yc"]["Cat"], clips[2][1][:, 1].astype(np.float32))


def test_reads_one_class_or_a_few_across_all_clips(tmp_path, clips):
    path = tmp_path / "scores.h5"
    write_clips(path, clips, dtype=np.float16)
    with ScoreReader(path) as reader:
        assert reader.dtype == np.float16
        columns = reader.read_classes(reader.class_index(["Rain", "Cat"]))
        for index, (_, scores, _) in enumerate(clips):
            kept = scores[: reader.n_frames[index]]
            assert np.array_equal(columns[index], kept[:, [4, 1]].astype(np.float16))
        single = reader.read_classes([2])
        assert [column.shape for column in single] == [(250, 1), (100, 1), (20, 1)]
        with pytest.raises(KeyError, match="Horse"):
            reader.class_index(["Horse"])


def test_a_clip_with_fewer_frames_than_its_duration_is_counted(tmp_path):
    path = tmp_path / "scores.h5"
    write_clips(path, [("Ya", np.ones((240, 5)), 10.0)])
    with ScoreReader(path) as reader:
        assert reader.clips_short == 1
        assert reader.score_dataframes()["Ya"]["offset"].iloc[-1] == pytest.approx(9.6)


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
