"""Each figure writes a non-empty PNG and PDF from inputs in the workflow's exact formats."""

import json

import numpy as np
import pytest

from tacos.evaluation.collapse import CollapseMeter, write_collapse
from tacos.evaluation.scores import ScoreWriter
from tacos.plots import (
    clip_classes,
    pick_example_clips,
    plot_example_clips,
    plot_frame_collapse,
    plot_metric_vs_delta,
    plot_per_class,
    plot_training_curves,
    read_training_log,
    run_label,
)
from tacos.tables import read_per_class, read_results
from tacos.training.run import SETTINGS_FILE

CLASSES = ["Bark", "Rain", "Speech"]
GROUND_TRUTH = {
    "Ya": [(0.5, 2.0, "Bark")],
    "Yb": [(0.0, 1.0, "Bark"), (1.5, 3.0, "Rain"), (2.0, 3.5, "Speech")],
    "Yc": [(0.0, 1.0, "Rain"), (2.0, 3.0, "Rain"), (1.0, 2.0, "Speech")],
    "Yd": [],
}


def assert_written(paths):
    for path in paths:
        assert path.exists() and path.stat().st_size > 1000, path


def outputs(tmp_path, name):
    return [tmp_path / f"{name}.png", tmp_path / f"{name}.pdf"]


def write_scores(path, offset):
    rng = np.random.default_rng(0)
    with ScoreWriter(path, CLASSES, delta=0.5) as writer:
        for clip_id in GROUND_TRUTH:
            writer.add(clip_id, offset + rng.uniform(-0.2, 0.2, size=(8, 3)), duration=4.0)


def write_result(folder, stage, delta, seed, psds1):
    data = {
        "model": {"stage": stage, "delta": delta, "seed": seed, "checkpoint": "model.ckpt"},
        "query_set": "classes407",
        "protocol": {"frames": "untrimmed", "clips": "with_events"},
        "n_clips": 4,
        "n_clips_without_events": 0,
        "n_clips_missing": 0,
        "metrics": {
            "psds1": psds1,
            "psds1_macro": psds1,
            "pauroc": 0.5 + psds1,
            "n_classes": 3,
            "psds1_per_class": {name: psds1 * (k + 1) / 3 for k, name in enumerate(CLASSES)},
            "pauroc_per_class": {name: 0.6 for name in CLASSES},
        },
        "bootstrap": None,
        "notes": [],
    }
    path = folder / f"{stage}_{delta}_{seed}.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


@pytest.fixture
def result_paths(tmp_path):
    return [
        write_result(tmp_path, stage, delta, seed, base + 0.01 * seed + delta)
        for stage, base in (("weak", 0.05), ("strong", 0.15))
        for delta in (0.04, 0.16)
        for seed in (1, 2)
    ]


def test_example_clips_are_the_busiest_then_by_id():
    available = ["Yd", "Yc", "Yb", "Ya"]
    assert pick_example_clips(GROUND_TRUTH, available, n_clips=2) == ["Yb", "Yc"]
    assert pick_example_clips(GROUND_TRUTH, ["Ya", "Yc"], n_clips=5) == ["Yc", "Ya"]
    assert clip_classes(GROUND_TRUTH["Yc"], max_classes=1) == ["Rain"]  # 2 s against 1 s


def test_example_clip_figure_shows_weak_beside_strong(tmp_path):
    weak, strong = tmp_path / "weak.h5", tmp_path / "strong.h5"
    write_scores(weak, 0.0)
    write_scores(strong, 0.3)
    paths = outputs(tmp_path, "clips")
    assert plot_example_clips(weak, strong, GROUND_TRUTH, paths, n_clips=2) == ["Yb", "Yc"]
    assert_written(paths)
    assert plot_example_clips(weak, strong, GROUND_TRUTH, paths, clip_ids=["Ya"]) == ["Ya"]
    with pytest.raises(ValueError, match="not in both score files"):
        plot_example_clips(weak, strong, GROUND_TRUTH, paths, clip_ids=["Ya", "Yz"])


def test_metric_vs_delta_figure(tmp_path, result_paths):
    paths = outputs(tmp_path, "delta")
    plot_metric_vs_delta(read_results(result_paths), paths)
    assert_written(paths)


def test_per_class_figure_averages_seeds(tmp_path, result_paths):
    paths = outputs(tmp_path, "per_class")
    means = plot_per_class(read_per_class(result_paths), paths, delta=0.04)
    assert_written(paths)
    # Speech (third class): weak seeds 0.10 and 0.11 average 10.5 %; strong 0.20, 0.21 -> 20.5 %
    assert means.loc["Speech"].tolist() == pytest.approx([10.5, 20.5])


def test_training_curves_figure_reads_lightning_logs(tmp_path):
    run = tmp_path / "a_run"  # the label comes from the run's spec, not from its path
    run.mkdir(parents=True)
    spec = {"stage": "strong", "seed": 1, "build": {"delta": 0.04}}
    (run / SETTINGS_FILE).write_text(json.dumps({"spec": spec}), encoding="utf-8")
    log = run / "metrics.csv"
    log.write_text(
        "epoch,step,train/frame_loss,train/loss,val/R@1,val/R@10,val/R@5,val/mAP@10\n"
        "0,0,3.9,3.9,,,,\n0,1,3.5,3.5,,,,\n0,1,,,0.3,0.8,0.7,0.5\n"
        "1,2,3.1,3.1,,,,\n1,3,2.9,2.9,,,,\n1,3,,,0.4,0.9,0.8,0.6\n",
        encoding="utf-8",
    )
    train, validation = read_training_log(log)
    assert train["step"].tolist() == [0, 1, 2, 3]
    assert validation["val/mAP@10"].tolist() == [0.5, 0.6]
    assert run_label(log) == "strong d0.04 s1"
    assert run_label(tmp_path / "other" / "metrics.csv") == "other"
    paths = outputs(tmp_path, "curves")
    plot_training_curves({run_label(log): log, "pretrain": log}, paths)
    assert_written(paths)


def test_example_clips_draw_only_the_frames_inside_the_clip(tmp_path):
    from tacos.evaluation.scores import ScoreReader
    from tacos.plots import _clip_curves

    path = tmp_path / "padded.h5"
    scores = np.arange(30, dtype=np.float32).reshape(10, 3)  # 10 frames of 0.5 s for 3.8 s
    with ScoreWriter(path, CLASSES, delta=0.5) as writer:
        writer.add("Ya", scores, duration=3.8)
    with ScoreReader(path) as reader:
        edges, drawn = _clip_curves(reader, "Ya", ["Rain", "Bark"])
    assert edges.tolist() == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 3.8]
    assert drawn.tolist() == scores[:8][:, [1, 0]].tolist()


def test_frame_collapse_figure_draws_every_model(tmp_path):
    paths = {}
    for name, frames in (("flat", np.ones((40, 2))), ("moving", np.eye(2)[[0, 1] * 20])):
        meter = CollapseMeter(0.1)
        meter.add(frames)
        paths[name] = write_collapse(meter.result(), {}, tmp_path / f"{name}.json")
    without = CollapseMeter(1.0)
    without.add(np.ones((3, 2)))
    paths["none"] = write_collapse(without.result(), {}, tmp_path / "none.json")
    plot_frame_collapse(paths, outputs(tmp_path, "collapse"))
    assert_written(outputs(tmp_path, "collapse"))


def test_a_figure_saved_twice_gives_the_same_bytes(tmp_path):
    from matplotlib.figure import Figure

    from tacos.plots import save_figure

    figure = Figure()
    figure.add_subplot().plot([0, 1], [1, 0])
    first, second = outputs(tmp_path, "a"), outputs(tmp_path, "b")
    save_figure(figure, first)
    save_figure(figure, second)
    for one, other in zip(first, second, strict=True):
        assert one.read_bytes() == other.read_bytes()
