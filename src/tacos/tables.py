"""Table 3 of the paper and the ablation tables, from the evaluation results JSONs.

Every results file holds one model (stage, delta, seed) on one query set (``classes407`` or
``categories50``) under one frame protocol (``untrimmed``: the authors', ``trimmed``: corrected),
with metric values as fractions. Table 3 shows each model under the authors' protocol, with the
paper's numbers, and under the corrected one in the row below it. Tables print percentages, as the
paper does: each cell is the mean over seeds ± the sample standard deviation (ddof=1) over seeds,
and, where the evaluation ran a bootstrap over clips, the bootstrap interval bounds averaged over
seeds, e.g. ``17.99 ± 0.40 [16.9, 18.8]``. A cell says how many seeds it averages (``n_seeds``), so
a table built while some runs are missing shows what it has instead of failing.

Each table is written three ways: CSV (numbers, for further analysis), Markdown and LaTeX
(booktabs) with the formatted cells and notes. The formatters are plain string code, so the
package needs neither ``tabulate`` nor ``jinja2``.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from tacos.names import FINETUNE_STAGES
from tacos.names import QUERY_SETS as QUERY_SET_NAMES

METRICS = ("psds1", "psds1_macro", "pauroc")
TABLE_METRICS = {"psds1": "PSDS1", "pauroc": "pAUROC"}
QUERY_SETS = dict(zip(QUERY_SET_NAMES, ("407 classes", "50 categories"), strict=True))
FRAME_LABELS = {"untrimmed": "authors' protocol", "trimmed": "corrected: frames trimmed"}
STAGE_LABELS = {
    "pretrain": "Pretraining only (Clotho)",
    "weak": "Weak fine-tuning (TACOS weak captions)",
    "strong": "Strong fine-tuning (TACOS strong captions)",
    "strong_intra": "Strong fine-tuning + intra-clip negatives",
    "supervised": "Supervised SED baseline",
}
NEGATIVES_LABELS = {
    "strong": "Strong fine-tuning, inter-clip negatives",
    "strong_intra": "Strong fine-tuning, inter- and intra-clip negatives",
}
# Stages trained at a frame duration delta; the others are one model whatever the delta.
DELTA_STAGES = FINETUNE_STAGES
SEEDLESS_STAGES = ("supervised",)  # not trained per seed: one model pairs with every seed
DELTA_DECIMALS = 6
NOT_REPORTED = "not reported"
NO_RESULT = "no result"
DDOF = 1  # sample standard deviation over seeds, stated in every table's notes

# The paper's numbers, in percent, keyed by (stage, query set, metric); every other cell of its
# Table 3 is not public. Source: TACOS, Primus et al., arXiv 2505.07609 (WASPAA 2025), as
# collected in docs/protocol.md, section 6: strong 17.99 PSDS1 / 78.70 pAUROC; weak 5.55 PSDS1
# and 5.61 pAUROC points lower (12.44 / 73.09); the supervised SED model 36.27 PSDS1 points above
# strong.
PAPER_TABLE3 = {
    ("strong", "classes407", "psds1"): 17.99,
    ("strong", "classes407", "pauroc"): 78.70,
    ("weak", "classes407", "psds1"): 12.44,
    ("weak", "classes407", "pauroc"): 73.09,
    ("supervised", "classes407", "psds1"): round(17.99 + 36.27, 2),
}
# The differences the paper states, in points: (minuend, subtrahend, query set, metric).
PAPER_DIFFERENCES = {
    ("strong", "weak", "classes407", "psds1"): 5.55,
    ("strong", "weak", "classes407", "pauroc"): 5.61,
    ("supervised", "strong", "classes407", "psds1"): 36.27,
}
STAGE_NAMES = {"weak": "Weak", "strong": "Strong", "supervised": "Supervised"}


AUTHORS_FRAMES = "untrimmed"
Row = tuple[str, str, float, str]  # label, stage, delta, frame protocol


@dataclass(frozen=True)
class Table:
    """A finished table: numbers for the CSV, formatted cells and notes for Markdown and LaTeX."""

    numbers: pd.DataFrame
    display: pd.DataFrame
    caption: str
    label: str
    notes: list[str] = field(default_factory=list)


KEY = ["stage", "delta", "seed", "query_set", "frames"]


def _model_key(data: dict, path: Path) -> dict:
    model = data.get("model")
    if not isinstance(model, dict) or not {"stage", "delta", "seed"} <= model.keys():
        raise ValueError(f"{path}: 'model' must hold stage, delta and seed")
    if data.get("query_set") not in QUERY_SETS:
        raise ValueError(f"{path}: query_set must be one of {list(QUERY_SETS)}")
    frames = (data.get("protocol") or {}).get("frames")
    if frames not in FRAME_LABELS:
        raise ValueError(f"{path}: protocol.frames must be one of {list(FRAME_LABELS)}")
    return {
        "stage": str(model["stage"]),
        "delta": round(float(model["delta"]), DELTA_DECIMALS),
        "seed": None if model["seed"] is None else int(model["seed"]),  # None: a public model
        "query_set": data["query_set"],
        "frames": frames,
    }


def _loaded(paths: Iterable[str | os.PathLike], frames: str | None) -> list[tuple[Path, dict]]:
    """The results files, only those of frame protocol ``frames`` when given."""
    loaded = [_load(path) for path in paths]
    if frames is None:
        return loaded
    return [(path, data) for path, data in loaded if _model_key(data, path)["frames"] == frames]


def _load(path: str | os.PathLike) -> tuple[Path, dict]:
    path = Path(path)
    return path, json.loads(path.read_text(encoding="utf-8"))


def read_results(paths: Iterable[str | os.PathLike], frames: str | None = None) -> pd.DataFrame:
    """One row per results file: model key, metrics and bootstrap bounds (fractions, NaN if none);
    with ``frames``, only the results of that frame protocol.

    Two files for the same (stage, delta, seed, query set, frames) are an error: one would
    silently count twice in the mean over seeds.
    """
    rows = []
    for path, data in _loaded(paths, frames):
        metrics = data.get("metrics") or {}
        missing = [name for name in METRICS if name not in metrics]
        if missing:
            raise ValueError(f"{path}: metrics lack {missing}")
        bootstrap = data.get("bootstrap") or {}
        row = _model_key(data, path)
        row.update(
            n_clips=data.get("n_clips"),
            n_classes=metrics.get("n_classes"),
            confidence=bootstrap.get("confidence", np.nan),
            path=str(path),
        )
        for name in METRICS:
            row[name] = float(metrics[name])
            bounds = bootstrap.get(name) or {}
            row[f"{name}_low"] = float(bounds.get("low", np.nan))
            row[f"{name}_high"] = float(bounds.get("high", np.nan))
        rows.append(row)
    frame = pd.DataFrame(rows)
    if frame.empty:
        raise ValueError("no results files given")
    twice = frame[frame.duplicated(KEY, keep=False)]
    if not twice.empty:
        raise ValueError(f"results given twice for one model: {sorted(twice['path'])}")
    return frame.sort_values(KEY, ignore_index=True)


def read_per_class(
    paths: Iterable[str | os.PathLike], metric: str = "psds1", frames: str | None = None
) -> pd.DataFrame:
    """``metrics[f"{metric}_per_class"]`` as rows: the model key, class and value; with
    ``frames``, only the results of that frame protocol."""
    rows = []
    for path, data in _loaded(paths, frames):
        key = _model_key(data, path)
        per_class = data["metrics"].get(f"{metric}_per_class", {})
        rows += [{**key, "class": name, "value": float(value)} for name, value in per_class.items()]
    return pd.DataFrame(rows, columns=[*KEY, "class", "value"])


def summarise(results: pd.DataFrame) -> pd.DataFrame:
    """Per (stage, delta, query set, frames): seeds, and mean/std/low/high of every metric in
    percent."""
    rows = []
    groups = results.groupby(["stage", "delta", "query_set", "frames"])
    for (stage, delta, query_set, frames), group in groups:
        row = {
            "stage": stage,
            "delta": delta,
            "query_set": query_set,
            "frames": frames,
            "n_seeds": len(group),
            "seeds": ", ".join(str(seed) for seed in sorted(group["seed"])),
        }
        for name in METRICS:
            values = 100 * group[name]
            row[f"{name}_mean"] = values.mean()
            row[f"{name}_std"] = values.std(ddof=DDOF)
            row[f"{name}_low"] = 100 * group[f"{name}_low"].mean()
            row[f"{name}_high"] = 100 * group[f"{name}_high"].mean()
        rows.append(row)
    return pd.DataFrame(rows)


def _select(
    summary: pd.DataFrame, stage: str, query_set: str, delta: float, frames: str
) -> pd.Series | None:
    """The summary row of one model, query set and frame protocol; ``delta`` only matters for
    DELTA_STAGES."""
    chosen = (
        (summary["stage"] == stage)
        & (summary["query_set"] == query_set)
        & (summary["frames"] == frames)
    )
    if stage in DELTA_STAGES:
        chosen &= np.isclose(summary["delta"], delta)
    found = summary[chosen]
    if len(found) > 1:
        raise ValueError(f"{stage} on {query_set} has results at several deltas: give one delta")
    return None if found.empty else found.iloc[0]


def format_cell(mean: float, std: float, low: float = math.nan, high: float = math.nan) -> str:
    """``mean ± std [low, high]`` in percent; std left out for one seed, interval when absent."""
    text = f"{mean:.2f}"
    if not math.isnan(std):
        text += f" ± {std:.2f}"
    if not (math.isnan(low) or math.isnan(high)):
        text += f" [{low:.1f}, {high:.1f}]"
    return text


def _cells(summary: pd.DataFrame, row: Row, paper: bool) -> tuple[dict, dict]:
    """One table row: the numbers for the CSV and the formatted cells, both query sets; the
    paper's numbers only in rows of the authors' protocol."""
    label, stage, delta, frames = row
    numbers: dict = {"model": label, "stage": stage, "delta": delta, "frames": frames}
    display: dict = {"Model": label}
    for query_set, set_name in QUERY_SETS.items():
        found = _select(summary, stage, query_set, delta, frames)
        numbers[f"{query_set}_n_seeds"] = 0 if found is None else int(found["n_seeds"])
        display[f"n_seeds ({set_name})"] = str(numbers[f"{query_set}_n_seeds"])
        for metric, metric_name in TABLE_METRICS.items():
            parts = ("mean", "std", "low", "high")
            values = [math.nan if found is None else float(found[f"{metric}_{p}"]) for p in parts]
            for part, value in zip(parts, values, strict=True):
                numbers[f"{query_set}_{metric}_{part}"] = round(value, 4)
            display[f"{metric_name} ({set_name})"] = (
                NO_RESULT if found is None else format_cell(*values)
            )
            if paper:
                reported = PAPER_TABLE3.get((stage, query_set, metric))
                if frames != AUTHORS_FRAMES:
                    reported = None
                cell = NOT_REPORTED if reported is None else f"{reported:.2f}"
                numbers[f"{query_set}_{metric}_paper"] = cell
                display[f"{metric_name} paper ({set_name})"] = cell
    return numbers, display


def _table(
    summary: pd.DataFrame,
    rows: Sequence[Row],
    paper: bool,
    caption: str,
    label: str,
    notes: list[str],
) -> Table:
    built = [_cells(summary, row, paper) for row in rows]
    numbers = pd.DataFrame([numbers for numbers, _ in built])
    display = pd.DataFrame([display for _, display in built])
    return Table(numbers, display, caption, label, notes)


def _cell_note(results: pd.DataFrame) -> str:
    confidence = results["confidence"].dropna().unique()
    if len(confidence) == 0:
        interval = "no bootstrap interval (the evaluation ran none)"
    else:
        level = f"{100 * confidence[0]:g} % " if len(confidence) == 1 else ""
        interval = f"[low, high]: the bootstrap {level}interval over clips, averaged over seeds"
    return (
        "Percent. Cells: mean ± sample standard deviation (ddof=1) over seeds (no ± for one "
        f"seed); {interval}. n_seeds: the seeds each cell averages."
    )


def paired_difference(
    results: pd.DataFrame,
    metric: str,
    query_set: str,
    delta: float,
    minuend: str = "strong",
    subtrahend: str = "weak",
    frames: str = AUTHORS_FRAMES,
) -> dict | None:
    """Mean, std (ddof=1) and seeds of ``minuend - subtrahend`` in points, paired by seed."""
    chosen = (results["query_set"] == query_set) & (results["frames"] == frames)
    at_delta = np.isclose(results["delta"], delta)
    by_seed = {
        stage: results[
            chosen & (results["stage"] == stage) & (at_delta | (stage not in DELTA_STAGES))
        ].set_index("seed")[metric]
        for stage in (minuend, subtrahend)
    }
    for stage in (minuend, subtrahend):
        if stage in SEEDLESS_STAGES and len(by_seed[stage]) == 1:
            # one model for every seed: it pairs with each seed of the other stage
            other = by_seed[subtrahend if stage == minuend else minuend]
            by_seed[stage] = pd.Series(by_seed[stage].iloc[0], index=other.index)
    differences = 100 * (by_seed[minuend] - by_seed[subtrahend]).dropna()
    if differences.empty:
        return None
    return {
        "mean": differences.mean(),
        "std": differences.std(ddof=DDOF),
        "seeds": sorted(differences.index),
    }


def _signed(value: float) -> str:
    return f"{value:+.2f}"


def difference_line(
    results: pd.DataFrame,
    query_set: str,
    delta: float,
    minuend: str,
    subtrahend: str,
    frames: str = AUTHORS_FRAMES,
) -> str | None:
    """``minuend - subtrahend`` per metric, paired by seed, beside the paper's difference."""
    parts, paper_parts = [], []
    seeds: list[int] = []
    for metric, metric_name in TABLE_METRICS.items():
        difference = paired_difference(
            results, metric, query_set, delta, minuend, subtrahend, frames
        )
        if difference is None:
            return None
        seeds = difference["seeds"]
        spread = "" if math.isnan(difference["std"]) else f" ± {difference['std']:.2f}"
        parts.append(f"{metric_name} {_signed(difference['mean'])}{spread}")
        paper = PAPER_DIFFERENCES.get((minuend, subtrahend, query_set, metric))
        paper_parts.append(f"{metric_name} {NOT_REPORTED if paper is None else _signed(paper)}")
    return (
        f"{STAGE_NAMES[minuend]} − {STAGE_NAMES[subtrahend]} ({QUERY_SETS[query_set]}, "
        f"{FRAME_LABELS[frames]}, paired over seeds {', '.join(map(str, seeds))}): "
        f"{', '.join(parts)} points; paper: {', '.join(paper_parts)}."
    )


def table3(results: pd.DataFrame, delta: float, protocols: Sequence[str]) -> Table:
    """The paper's Table 3 at the main ``delta``: each model under every frame protocol in
    ``protocols`` (the authors' first, with the paper's numbers); the supervised row only when
    its results exist."""
    stages = ["pretrain", "weak", "strong"]
    if (results["stage"] == "supervised").any():
        stages.append("supervised")
    rows = [
        (_row_label(stage, frames, protocols), stage, delta, frames)
        for stage in stages
        for frames in protocols
    ]
    notes = [
        _cell_note(results),
        f"Fine-tuned models at frame duration delta = {delta:g} s.",
        "Frame protocols: 'authors' protocol' scores every frame of the padded input against "
        "each clip's real duration (frames past the end count as false positives), as the "
        "authors' code does; 'corrected' trims the frames past each clip's end.",
        "Paper: TACOS, Primus et al., arXiv 2505.07609; cells it does not publish are marked "
        f"'{NOT_REPORTED}'. Which query set the paper's numbers use is not confirmed: the "
        "authors' README command tests on the 407 classes, but 17.99 + 36.27 = 54.26 PSDS1 for "
        "the supervised model exceeds PretrainedSED's reported 46.2 for supervised ASiT, which "
        "points to the 50 categories. They are shown under the 407 classes.",
    ]
    pairs = [("strong", "weak")] + ([("supervised", "strong")] if "supervised" in stages else [])
    notes += filter(
        None,
        (
            difference_line(results, query_set, delta, minuend, subtrahend, protocols[0])
            for minuend, subtrahend in pairs
            for query_set in QUERY_SETS
        ),
    )
    caption = "Text-based sound event detection on AudioSet Strong (Table 3 of the paper)"
    return _table(summarise(results), rows, True, caption, "tab:table3", notes)


def _row_label(stage: str, frames: str, protocols: Sequence[str]) -> str:
    if len(protocols) == 1:
        return STAGE_LABELS[stage]
    return f"{STAGE_LABELS[stage]} [{FRAME_LABELS[frames]}]"


def ablation_delta(results: pd.DataFrame, frames: str, stage: str = "strong") -> Table:
    """``stage`` fine-tuning at every frame duration delta present in the results, under the
    frame protocol ``frames``."""
    deltas = sorted(results.loc[results["stage"] == stage, "delta"].unique())
    if not deltas:
        raise ValueError(f"no results of stage {stage!r} to compare deltas")
    rows = [(f"delta = {delta:g} s", stage, delta, frames) for delta in deltas]
    notes = [
        _cell_note(results),
        f"Model: {STAGE_LABELS.get(stage, stage)}; frames: {FRAME_LABELS[frames]}.",
    ]
    caption = "Frame duration delta of strong fine-tuning (ablation beyond the paper)"
    return _table(summarise(results), rows, False, caption, "tab:ablation-delta", notes)


def ablation_negatives(results: pd.DataFrame, delta: float, frames: str) -> Table:
    """Strong fine-tuning with and without intra-clip negatives at the main ``delta``."""
    rows = [(NEGATIVES_LABELS[stage], stage, delta, frames) for stage in NEGATIVES_LABELS]
    notes = [
        _cell_note(results),
        f"Frame duration delta = {delta:g} s; frames: {FRAME_LABELS[frames]}.",
    ]
    difference = [
        paired_difference(results, "psds1", qs, delta, "strong_intra", "strong", frames)
        for qs in QUERY_SETS
    ]
    notes += [
        f"Intra − inter ({QUERY_SETS[qs]}, paired over seeds {', '.join(map(str, d['seeds']))}):"
        f" PSDS1 {_signed(d['mean'])} points."
        for qs, d in zip(QUERY_SETS, difference, strict=True)
        if d is not None
    ]
    caption = "Intra-clip negatives in strong fine-tuning (ablation beyond the paper)"
    return _table(summarise(results), rows, False, caption, "tab:ablation-negatives", notes)


def markdown_table(display: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table of string cells."""

    def line(cells: Iterable[str]) -> str:
        return "| " + " | ".join(str(cell).replace("|", "\\|") for cell in cells) + " |"

    rule = "|" + "|".join(["---"] * len(display.columns)) + "|"
    return "\n".join([line(display.columns), rule, *(line(row) for row in display.values)])


LATEX_ESCAPES = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "±": r"$\pm$",
    "−": r"$-$",
}


def latex_escape(text: str) -> str:
    return "".join(LATEX_ESCAPES.get(char, char) for char in str(text))


def latex_table(table: Table) -> str:
    """A booktabs ``table`` environment; the notes go under the tabular in small print."""
    display = table.display
    columns = "l" + "r" * (len(display.columns) - 1)
    lines = [
        r"\begin{table}[t]",
        r"\centering",
        rf"\caption{{{latex_escape(table.caption)}}}",
        rf"\label{{{table.label}}}",
        r"\resizebox{\textwidth}{!}{%",
        rf"\begin{{tabular}}{{{columns}}}",
        r"\toprule",
        " & ".join(map(latex_escape, display.columns)) + r" \\",
        r"\midrule",
        *(" & ".join(map(latex_escape, row)) + r" \\" for row in display.values),
        r"\bottomrule",
        r"\end{tabular}}",
        *(rf"\par\footnotesize {latex_escape(note)}" for note in table.notes),
        r"\end{table}",
    ]
    return "\n".join(lines) + "\n"


def markdown_document(table: Table) -> str:
    notes = "\n".join(f"- {note}" for note in table.notes)
    return f"## {table.caption}\n\n{markdown_table(table.display)}\n\n{notes}\n"


def write_table(
    table: Table, csv: str | os.PathLike, markdown: str | os.PathLike, latex: str | os.PathLike
) -> None:
    """Write the numbers as CSV and the formatted table with its notes as Markdown and LaTeX."""
    for path in (csv, markdown, latex):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    table.numbers.to_csv(csv, index=False)
    Path(markdown).write_text(markdown_document(table), encoding="utf-8")
    Path(latex).write_text(latex_table(table), encoding="utf-8")
