"""The releases' file formats: how their times are written."""

from tacos.data.formats import format_seconds


def test_seconds_are_written_as_audioset_writes_them():
    assert [format_seconds(v) for v in (0.0, 10.0, 2.5, 1.2346, 0.0001)] == [
        "0",
        "10",
        "2.5",
        "1.235",
        "0",
    ]
