"""Ground truth for text-based SED: class filter, merge rule and the 50-category pooling."""

import csv
from pathlib import Path

import pytest
from sed_scores_eval.base_modules.io import assert_non_connected_events

from tacos.data.audioset import read_categories, read_class_list, read_mid_map
from tacos.data.manifest import Clip, Region
from tacos.evaluation.ground_truth import (
    build_ground_truth,
    category_renaming,
    durations_from_clips,
    event_counts,
    events_from_clips,
    events_from_rows,
    merge_events,
    scored_classes,
)

SAMPLE = Path(__file__).parents[1] / "data" / "eval_strong_sample.csv"


@pytest.fixture(scope="module")
def sample_events():
    with SAMPLE.open(newline="") as handle:
        rows = [
            (row["segment_id"], row["start_time_seconds"], row["end_time_seconds"], row["label"])
            for row in csv.DictReader(handle)
        ]
    return events_from_rows(rows, read_mid_map())


def test_merge_joins_overlapping_and_touching_events_of_one_class_only():
    events = [
        (5.0, 6.0, "Dog"),
        (1.0, 2.0, "Dog"),
        (2.0, 3.0, "Dog"),  # touches the previous one
        (2.5, 2.8, "Dog"),  # inside the merged one
        (1.5, 4.0, "Cat"),  # another class is left alone
        (3.9, 4.5, "Cat"),
        (6.5, 7.0, "Dog"),
    ]
    assert merge_events(events) == [
        (1.0, 3.0, "Dog"),
        (1.5, 4.5, "Cat"),
        (5.0, 6.0, "Dog"),
        (6.5, 7.0, "Dog"),
    ]
    assert merge_events([]) == []


def test_407_classes_drop_eval_only_classes_and_keep_real_rows(sample_events):
    classes = read_class_list("eval_train")
    truth = build_ground_truth(sample_events, classes)
    assert truth["YKNdwhLlOv0I"] == [
        (6.102, 6.89, "Male speech, man speaking"),
        (6.102, 6.898, "Conversation"),
        (6.102, 6.898, "Speech"),
        (7.598, 9.205, "Speech"),
        (7.606, 9.291, "Conversation"),
        (7.606, 9.299, "Female speech, woman speaking"),
        (9.622, 10.0, "Male speech, man speaking"),
        (9.622, 10.0, "Speech"),
        (9.646, 10.0, "Conversation"),
    ]  # its row (0, 6.118, Silence) is gone: Silence is one of the 9 eval-only classes
    assert "Silence" not in event_counts(truth)
    assert sum(event_counts(truth).values()) == 410  # 412 rows, the 2 Silence rows dropped
    assert truth.keys() == sample_events.keys()  # every clip stays, even without events
    assert_non_connected_events(truth)


def test_50_categories_pool_classes_and_merge_them(sample_events):
    categories = read_categories()
    truth = build_ground_truth(
        sample_events,
        list(categories["category_to_audioset"]),
        category_renaming(categories["category_to_audioset"]),
    )
    # Train wheels squealing (0-7.354) and Train (0-10) become one Train event
    assert truth["Y-HAoExLVs6Q"] == [(0.0, 10.0, "Train"), (2.472, 2.961, "Speech")]
    # Male speech, Conversation and Speech rows pool into three Speech events; Silence is dropped
    assert truth["YKNdwhLlOv0I"] == [
        (6.102, 6.898, "Speech"),
        (7.598, 9.299, "Speech"),
        (9.622, 10.0, "Speech"),
    ]
    # Male singing and Choir: 0-1.252, 0-2.094 | 2.11-10, 3.803-10 (a 16 ms gap stays); Music
    # and Static are in no category
    assert truth["Ys6U8DtBK3Us"] == [(0.0, 2.094, "Singing"), (2.11, 10.0, "Singing")]
    # Conversation 0-10 covers the clip's 11 other speech rows; its Laughter row stays
    assert truth["Y2VjbDttFK44"] == [(0.0, 10.0, "Speech"), (8.228, 9.37, "Laughter")]
    assert_non_connected_events(truth)


def test_category_renaming_rejects_a_class_in_two_categories():
    assert category_renaming({"Dog Bark": ["Bark", "Dog"]}) == {
        "Bark": "Dog Bark",
        "Dog": "Dog Bark",
    }
    with pytest.raises(ValueError, match="'Bark' is in both"):
        category_renaming({"Dog Bark": ["Bark"], "Seal": ["Bark"]})


def test_clips_give_events_durations_and_scored_classes_in_set_order():
    clips = [
        Clip("Ya", "a.wav", 10.0, regions=(Region("Dog", 1.0, 2.0, "/m/dog"),)),
        Clip("Yb", "b.wav", 9.5, regions=(Region("Cat", 0.5, 1.5, "/m/cat"),)),
        Clip("Yc", "c.wav", 8.0),
    ]
    truth = build_ground_truth(events_from_clips(clips), ["Cat", "Bird", "Dog"])
    assert truth == {"Ya": [(1.0, 2.0, "Dog")], "Yb": [(0.5, 1.5, "Cat")], "Yc": []}
    assert scored_classes(truth, ["Cat", "Bird", "Dog"]) == ["Cat", "Dog"]
    assert durations_from_clips(clips) == {"Ya": 10.0, "Yb": 9.5, "Yc": 8.0}
