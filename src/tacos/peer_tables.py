"""The peers table ("Public models under the TACOS protocol") and the frame-collapse table.

Peers table: one row per model, ours first (Table 3's models of one seed) and then every public
checkpoint, each scored and evaluated by the same rules: PSDS1 and pAUROC on both query sets under
one frame protocol (percent, with the bootstrap interval), the frame-collapse diagnostic
(``tacos.evaluation.collapse``), whether the model's training data overlaps AudioSet Strong, and
the model's own published number with its protocol.

Frame-collapse table: one row per scored model, with the diagnostic's numbers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from tacos.evaluation.collapse import WINDOW_SECONDS, read_collapse
from tacos.tables import (
    NO_RESULT,
    NOT_REPORTED,
    PAPER_TABLE3,
    QUERY_SETS,
    STAGE_LABELS,
    TABLE_METRICS,
    Table,
    format_cell,
    read_results,
)

OURS_TRAINING_DATA = (
    "train split only: the audio encoder starts from supervised training on AudioSet Strong's "
    "train split; the eval clips are never trained on"
)
NOT_STATED = "not stated"


@dataclass(frozen=True)
class ModelRow:
    """One row: a label, its results (``tables.read_results``, one row per query set), the
    collapse JSON, and the training-data and published-number cells."""

    label: str
    results: pd.DataFrame
    collapse: str
    training_data: str = NOT_STATED
    published: str = NOT_STATED


def paper_number(stage: str) -> str:
    """The paper's Table 3 numbers of one of our stages, as the published cell states them."""
    parts = [
        f"{PAPER_TABLE3[(stage, 'classes407', metric)]:.2f} {name}"
        for metric, name in TABLE_METRICS.items()
        if (stage, "classes407", metric) in PAPER_TABLE3
    ]
    if not parts:
        return NOT_REPORTED
    return ", ".join(parts) + " (paper Table 3; authors' frame protocol, AudioSet Strong eval)"


def collapse_cell(collapse: Mapping) -> str:
    """``mean ± std (share > threshold)`` of the window similarities."""
    if collapse.get("mean") is None:
        return f"no window of {collapse['window_seconds']:g} s holds two frames"
    share = 100 * collapse["collapsed_share"]
    return (
        f"{collapse['mean']:.3f} ± {collapse['std']:.3f} "
        f"({share:.0f} % > {collapse['collapsed_threshold']:g})"
    )


def _metric_cells(row: ModelRow) -> tuple[dict, dict]:
    numbers: dict = {}
    display: dict = {}
    by_set = row.results.set_index("query_set")
    for query_set, set_name in QUERY_SETS.items():
        found = by_set.loc[query_set] if query_set in by_set.index else None
        for metric, metric_name in TABLE_METRICS.items():
            parts = (metric, f"{metric}_low", f"{metric}_high")
            value, low, high = (math.nan if found is None else 100 * found[p] for p in parts)
            numbers[f"{query_set}_{metric}"] = round(value, 4)
            numbers[f"{query_set}_{metric}_low"] = round(low, 4)
            numbers[f"{query_set}_{metric}_high"] = round(high, 4)
            display[f"{metric_name} ({set_name})"] = (
                NO_RESULT if found is None else format_cell(value, math.nan, low, high)
            )
    return numbers, display


def peers_table(rows: Sequence[ModelRow], frames: str) -> Table:
    """The peers table under frame protocol ``frames``."""
    numbers, display = [], []
    for row in rows:
        collapse = read_collapse(row.collapse)
        row_numbers, row_display = _metric_cells(row)
        numbers.append(
            {
                "model": row.label,
                **row_numbers,
                "collapse_mean": collapse["mean"],
                "collapse_std": collapse["std"],
                "collapse_share": collapse["collapsed_share"],
                "training_data": row.training_data,
                "published": row.published,
            }
        )
        display.append(
            {
                "Model": row.label,
                **row_display,
                "Frame collapse": collapse_cell(collapse),
                "Training data overlaps AudioSet Strong": row.training_data,
                "Published": row.published,
            }
        )
    notes = [
        "Percent; [low, high]: the bootstrap interval over clips. Every model is scored on the "
        f"same clips with the same queries and evaluated with the same metrics; frames: {frames}.",
        "Public models are scored at their own frame step and input rate on each clip at its "
        "real length (no padding): their untrimmed and trimmed results differ only by the "
        "reflect-padding of a clip's last frame.",
        f"Frame collapse: mean ± standard deviation over {WINDOW_SECONDS:g} s windows of the "
        "mean cosine similarity of neighbouring frames, and the share of windows above the "
        "threshold (above about 0.9 the frames barely differ). Sliding-window models overlap "
        "their windows, which raises it.",
        "Published: the model's own number and protocol, as its config entry states it; "
        "such numbers use other clips, prompts and metric settings and are not comparable.",
    ]
    caption = "Public models under the TACOS protocol"
    return Table(pd.DataFrame(numbers), pd.DataFrame(display), caption, "tab:peers", notes)


def collapse_table(collapse: Mapping[str, str]) -> Table:
    """Frame-collapse diagnostic of every scored model (label -> collapse JSON)."""
    loaded = {label: read_collapse(path) for label, path in collapse.items()}
    keys = ("frame_step", "n_clips", "n_windows", "mean", "std", "collapsed_share")
    numbers = pd.DataFrame(
        [{"model": label, **{key: data[key] for key in keys}} for label, data in loaded.items()]
    )
    display = pd.DataFrame(
        [
            {
                "Model": label,
                "Frame step (s)": f"{data['frame_step']:g}",
                "Windows": str(data["n_windows"]),
                "Neighbour cosine": collapse_cell(data),
            }
            for label, data in loaded.items()
        ]
    )
    notes = [
        f"Windows of {WINDOW_SECONDS:g} s on each eval clip's frames (those that start before its "
        "end); a window's value is the mean cosine similarity of its neighbouring frame pairs. "
        "Cells: mean ± standard deviation over windows (share of windows above the threshold).",
    ]
    caption = f"Frame collapse: similarity of neighbouring frames within {WINDOW_SECONDS:g} s"
    return Table(numbers, display, caption, "tab:frame-collapse", notes)


def model_row(results: Mapping[str, str], collapse: str, entry: Mapping | None = None) -> ModelRow:
    """A peers-table row from its results JSONs (query set -> path): a peer's from its config
    ``entry``; one of ours (``entry`` None) from its results' model block, with the paper's
    number of its stage."""
    frame = read_results(results.values())
    if entry is not None:
        return ModelRow(
            entry["label"],
            frame,
            collapse,
            entry.get("training_data", NOT_STATED),
            entry.get("published", NOT_STATED),
        )
    stage, seed = frame["stage"].iloc[0], frame["seed"].iloc[0]
    label = f"{STAGE_LABELS[stage]} (this workflow, seed {seed})"
    return ModelRow(label, frame, collapse, OURS_TRAINING_DATA, paper_number(stage))
