"""The reproduction's figures, each written as PNG and PDF.

Figures are built as ``matplotlib.figure.Figure`` objects, never through ``pyplot``: no global
figure state, no display needed, and saving to ``.png`` renders with Agg. Every function takes
its inputs and output paths explicitly; the format of each output follows its suffix.

- ``plot_example_clips``: frame-wise text-audio similarity of a few AudioSet clips, the weak
  model beside the strong one, ground-truth events shaded: what frame-level supervision changes.
- ``plot_metric_vs_delta``: PSDS1 and pAUROC against the frame duration delta.
- ``plot_per_class``: per-class PSDS1, weak against strong fine-tuning.
- ``plot_training_curves``: training loss per step and Clotho validation mAP@10 per epoch.
- ``plot_frame_collapse``: per model, the distribution of neighbouring-frame similarity.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from tacos.evaluation.collapse import COLLAPSED, WINDOW_SECONDS, read_collapse
from tacos.evaluation.ground_truth import GroundTruth
from tacos.evaluation.scores import ScoreReader, protocol_frames
from tacos.frames import frame_edges
from tacos.tables import DELTA_STAGES, QUERY_SETS, STAGE_LABELS, summarise

PathLike = str | os.PathLike
STAGE_COLOURS = {
    "pretrain": "tab:gray",
    "weak": "tab:blue",
    "strong": "tab:orange",
    "strong_intra": "tab:green",
    "supervised": "tab:red",
}
LINESTYLES = ("-", "--", ":", "-.")  # runs of one stage (seeds, deltas) share its colour
METRIC_NAMES = {"psds1": "PSDS1 (%)", "pauroc": "pAUROC (%)"}


def save_figure(figure: Figure, outputs: Sequence[PathLike]) -> None:
    """Save ``figure`` to every path in ``outputs`` (format from the suffix: .png, .pdf). PDFs
    carry no creation date, so the same figure gives the same bytes on every run."""
    for path in outputs:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        metadata = {"CreationDate": None} if Path(path).suffix == ".pdf" else None
        figure.savefig(path, dpi=150, bbox_inches="tight", metadata=metadata)


def pick_example_clips(
    ground_truth: GroundTruth, available: Sequence[str], n_clips: int = 3
) -> list[str]:
    """The ``n_clips`` available clips with the most events, then most classes, then by id.

    Busy clips show best whether a model tells overlapping events apart in time; the order is
    fully determined by the ground truth, so reruns plot the same clips.
    """
    candidates = [clip_id for clip_id in available if ground_truth.get(clip_id)]

    def busyness(clip_id: str) -> tuple[int, int, str]:
        events = ground_truth[clip_id]
        return -len(events), -len({name for _, _, name in events}), clip_id

    return sorted(candidates, key=busyness)[:n_clips]


def clip_classes(events: Sequence[tuple[float, float, str]], max_classes: int) -> list[str]:
    """The clip's classes with the longest total event time first, at most ``max_classes``."""
    total: dict[str, float] = {}
    for onset, offset, name in events:
        total[name] = total.get(name, 0.0) + offset - onset
    return sorted(total, key=lambda name: (-total[name], name))[:max_classes]


def _clip_curves(reader: ScoreReader, clip_id: str, classes: Sequence[str]):
    """Frame boundaries ``[T+1]`` and the scores ``[T, len(classes)]`` of the clip's own frames
    (those past its end are not drawn)."""
    index = reader.clip_ids.index(clip_id)
    duration = reader.durations[clip_id]
    scores = reader.clip_scores(index)[:, reader.class_index(classes)]
    scores = scores[: protocol_frames(len(scores), reader.delta, duration, "trimmed")]
    return frame_edges(len(scores), reader.delta, duration), scores


def plot_example_clips(
    weak_scores: PathLike,
    strong_scores: PathLike,
    ground_truth: GroundTruth,
    outputs: Sequence[PathLike],
    clip_ids: Sequence[str] | None = None,
    n_clips: int = 3,
    max_classes: int = 5,
) -> list[str]:
    """Score curves of each clip's ground-truth classes, weak (left) and strong (right) model.

    Clips: ``clip_ids`` if given, else ``pick_example_clips`` among the clips both score files
    hold. Ground-truth events are shaded in their class's colour. Returns the plotted clip ids.
    """
    with ScoreReader(weak_scores) as weak, ScoreReader(strong_scores) as strong:
        scorable = set(weak.class_names) & set(strong.class_names)
        weak_clips = set(weak.clip_ids)
        both = [clip_id for clip_id in strong.clip_ids if clip_id in weak_clips]
        chosen = list(clip_ids) if clip_ids else pick_example_clips(ground_truth, both, n_clips)
        if not chosen:
            raise ValueError("no clip with ground-truth events is in both score files")
        absent = sorted(set(chosen) - set(both))
        if absent:
            raise ValueError(f"clips {absent} are not in both score files")
        figure = Figure(figsize=(11, 2.6 * len(chosen)), layout="constrained")
        axes = figure.subplots(len(chosen), 2, sharey="row", squeeze=False)
        for row, clip_id in zip(axes, chosen, strict=True):
            events = [event for event in ground_truth.get(clip_id, []) if event[2] in scorable]
            classes = clip_classes(events, max_classes)
            colours = dict(zip(classes, mpl.color_sequences["tab10"], strict=False))
            for axis, reader, name in ((row[0], weak, "weak"), (row[1], strong, "strong")):
                edges, scores = _clip_curves(reader, clip_id, classes)
                for column, class_name in enumerate(classes):
                    axis.stairs(
                        scores[:, column],
                        edges,
                        color=colours[class_name],
                        label=class_name,
                        linewidth=1.2,
                    )
                for onset, offset, class_name in events:
                    if class_name in colours:
                        axis.axvspan(onset, offset, color=colours[class_name], alpha=0.12)
                axis.set_title(f"{clip_id}: {STAGE_LABELS[name]}", fontsize=9)
                axis.set_xlim(0, reader.durations[clip_id])
            row[0].set_ylabel("cosine similarity")
            row[1].legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
        for axis in axes[-1]:
            axis.set_xlabel("time (s)")
    save_figure(figure, outputs)
    return chosen


def plot_metric_vs_delta(
    results: pd.DataFrame,
    outputs: Sequence[PathLike],
    query_set: str = "classes407",
    stages: Sequence[str] = DELTA_STAGES,
) -> None:
    """PSDS1 and pAUROC against delta, mean ± std (ddof=1) over seeds, one line per stage."""
    summary = summarise(results[results["query_set"] == query_set])
    figure = Figure(figsize=(9, 3.4), layout="constrained")
    axes = figure.subplots(1, len(METRIC_NAMES))
    for axis, (metric, metric_name) in zip(axes, METRIC_NAMES.items(), strict=True):
        for stage in stages:
            rows = summary[summary["stage"] == stage].sort_values("delta")
            if rows.empty:
                continue
            axis.errorbar(
                rows["delta"],
                rows[f"{metric}_mean"],
                yerr=rows[f"{metric}_std"].fillna(0.0),
                marker="o",
                capsize=3,
                color=STAGE_COLOURS.get(stage),
                label=STAGE_LABELS.get(stage, stage),
            )
        axis.set_xscale("log")
        deltas = sorted(summary["delta"].unique())
        axis.set_xticks(deltas, labels=[f"{delta:g}" for delta in deltas])
        axis.minorticks_off()
        axis.set_xlabel("frame duration delta (s)")
        axis.set_ylabel(metric_name)
        axis.set_title(f"{metric_name.split()[0]}, {QUERY_SETS[query_set]}", fontsize=10)
    axes[0].legend(fontsize=8)
    save_figure(figure, outputs)


def plot_per_class(
    per_class: pd.DataFrame,
    outputs: Sequence[PathLike],
    delta: float,
    query_set: str = "classes407",
    x_stage: str = "weak",
    y_stage: str = "strong",
    n_labels: int = 5,
    metric_name: str = "PSDS1",
) -> pd.DataFrame:
    """Per-class metric of ``y_stage`` against ``x_stage`` (means over seeds) with the diagonal.

    ``per_class`` is ``tacos.tables.read_per_class`` output; classes that both stages score are
    plotted and the ``n_labels`` with the largest difference are named. Returns the means.
    """
    chosen = per_class[
        (per_class["query_set"] == query_set) & np.isclose(per_class["delta"], delta)
    ]
    means = chosen.groupby(["class", "stage"])["value"].mean().unstack("stage") * 100
    missing = [stage for stage in (x_stage, y_stage) if stage not in means.columns]
    if missing:
        raise ValueError(f"no per-class results of {missing} at delta {delta} on {query_set}")
    means = means[[x_stage, y_stage]].dropna()
    figure = Figure(figsize=(4.8, 4.6), layout="constrained")
    axis = figure.subplots()
    axis.scatter(means[x_stage], means[y_stage], s=14, alpha=0.7, color=STAGE_COLOURS.get(y_stage))
    top = max(1.0, float(means.to_numpy().max()) * 1.05)
    axis.plot([0, top], [0, top], color="black", linewidth=0.8, linestyle="--")
    gaps = (means[y_stage] - means[x_stage]).abs().sort_values(ascending=False, kind="stable")
    for name in gaps.index[:n_labels]:
        axis.annotate(
            name,
            (means.at[name, x_stage], means.at[name, y_stage]),
            fontsize=7,
            xytext=(3, 3),
            textcoords="offset points",
        )
    axis.set_xlim(0, top)
    axis.set_ylim(0, top)
    for set_label, stage in ((axis.set_xlabel, x_stage), (axis.set_ylabel, y_stage)):
        set_label(f"{STAGE_LABELS.get(stage, stage)}\nper-class {metric_name} (%)", fontsize=8)
    above = int((means[y_stage] > means[x_stage]).sum())
    axis.set_title(
        f"{QUERY_SETS[query_set]}: {above} of {len(means)} classes above the diagonal", fontsize=9
    )
    save_figure(figure, outputs)
    return means


def run_label(metrics_csv: PathLike) -> str:
    """``stage delta seed`` of a run, e.g. ``strong d0.04 s1`` (``pretrain`` alone), from the
    model spec in the run's settings file next to its log; the folder's name without one."""
    from tacos.training.run import SETTINGS_FILE

    settings = Path(metrics_csv).with_name(SETTINGS_FILE)
    if not settings.is_file():
        return Path(metrics_csv).parent.name
    spec = json.loads(settings.read_text(encoding="utf-8"))["spec"]
    if spec["stage"] == "pretrain":
        return "pretrain"
    return f"{spec['stage']} d{float(spec['build']['delta']):g} s{spec['seed']}"


def read_training_log(metrics_csv: PathLike) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A Lightning CSV log's training rows (step, loss) and validation rows (epoch, mAP@10)."""
    log = pd.read_csv(metrics_csv)
    missing = {"epoch", "step", "train/loss", "val/mAP@10"} - set(log.columns)
    if missing:
        raise ValueError(f"{metrics_csv}: training log lacks columns {sorted(missing)}")
    train = log.dropna(subset=["train/loss"])[["step", "train/loss"]]
    validation = log.dropna(subset=["val/mAP@10"])[["epoch", "val/mAP@10"]]
    return train, validation


def plot_training_curves(runs: Mapping[str, PathLike], outputs: Sequence[PathLike]) -> None:
    """Training loss per step and validation mAP@10 (%) per epoch; ``runs``: label -> metrics.csv.

    Labels starting with a stage name (``run_label``) take that stage's colour.
    """
    figure = Figure(figsize=(10, 3.6), layout="constrained")
    loss_axis, map_axis = figure.subplots(1, 2)
    runs_per_stage: dict[str, int] = {}
    for label, path in runs.items():
        train, validation = read_training_log(path)
        stage = label.split()[0]
        order = runs_per_stage[stage] = runs_per_stage.get(stage, -1) + 1
        style = {
            "label": label,
            "color": STAGE_COLOURS.get(stage),
            "linestyle": LINESTYLES[order % len(LINESTYLES)],
            "linewidth": 0.9,
            "alpha": 0.8,
        }
        loss_axis.plot(train["step"], train["train/loss"], **style)
        map_axis.plot(
            validation["epoch"], 100 * validation["val/mAP@10"], marker="o", markersize=3, **style
        )
    loss_axis.set_xlabel("step")
    loss_axis.set_ylabel("training loss")
    loss_axis.set_title("Training loss (each stage's own objective)", fontsize=10)
    map_axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    map_axis.set_xlabel("epoch")
    map_axis.set_ylabel("Clotho validation mAP@10 (%)")
    map_axis.set_title("Text-to-audio retrieval while training", fontsize=10)
    map_axis.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, frameon=False)
    save_figure(figure, outputs)


def plot_frame_collapse(collapse: Mapping[str, PathLike], outputs: Sequence[PathLike]) -> None:
    """One row per model (label -> collapse JSON): the histogram of its window similarities as
    a ridge scaled to its peak, its mean marked, and the collapse threshold as a line; the axis
    starts a little below the lowest window of any model (at most at the threshold)."""
    loaded = {label: read_collapse(path) for label, path in collapse.items()}
    lowest = COLLAPSED - 0.05
    for data in loaded.values():
        occupied = np.flatnonzero(data["histogram"]["counts"])
        if len(occupied):
            lowest = min(lowest, data["histogram"]["edges"][occupied[0]])
    figure = Figure(figsize=(7.0, 0.8 + 0.45 * len(loaded)))
    axes = figure.add_subplot()
    for row, data in enumerate(reversed(list(loaded.values()))):
        edges = np.asarray(data["histogram"]["edges"])
        counts = np.asarray(data["histogram"]["counts"], dtype=float)
        if counts.max() > 0:
            ridge = row + 0.85 * counts / counts.max()
            axes.fill_between(edges[:-1], row, ridge, step="post", alpha=0.6)
        if data["mean"] is not None:
            axes.plot([data["mean"]], [row + 0.1], marker="|", color="black", markersize=10)
    axes.axvline(COLLAPSED, color="tab:red", linestyle="--", linewidth=1)
    axes.set_yticks(range(len(loaded)), list(reversed(list(loaded))))
    axes.set_xlim(max(-1.0, np.floor(lowest * 20) / 20), 1.0)
    axes.set_xlabel(
        f"mean cosine similarity of neighbouring frames in a {WINDOW_SECONDS:g} s window"
    )
    axes.set_title("Frame collapse on the eval clips (|: mean; dashed: collapse threshold)")
    save_figure(figure, outputs)
