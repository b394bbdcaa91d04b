"""Table 3 of the paper and the ablation tables, from the evaluation results JSONs.

Every results file holds one model (stage, delta, seed) on one query set (``classes407`` or
``categories50``), with metric values as fractions. Tables print percentages, as the paper
does: each cell is the mean over seeds ± the sample standard deviation (ddof=1) over seeds, and,
where the evaluation ran a bootstrap over clips, the bootstrap interval bounds averaged over
seeds, e.g. ``17.99 ± 0.40 [16.9, 18.8]``. A cell says how many seeds it averages (``n_seeds``),
so a table built while some runs are missing shows what it has instead of failing.

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

METRICS = ("psds1", "psds1_macro", "pauroc")
TABLE_METRICS = {"psds1": "PSDS1", "pauroc": "pAUROC"}
QUERY_SETS = {"classes407": "407 classes", "categories50": "50 categories"}
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
DELTA_STAGES = ("weak", "strong", "strong_intra")
DELTA_DECIMALS = 6
NOT_REPORTED = "not reported"
NO_RESULT = "no result"
DDOF = 1  # sample standard deviation over seeds, stated in every table's notes

# The paper's numbers, in percent, keyed by (stage, query set, metric); every other cell of its
# Table 3 is not public. Source: TACOS, Primus et al., arXiv 2505.07609 (WASPAA 2025), as
# collected in DESIGN section 6: strong 17.99 PSDS1 / 78.70 pAUROC; weak 5.5 PSDS1 and 5.61
# pAUROC points lower (12.44 / 73.09); the supervised SED model 36.27 PSDS1 points above strong.
PAPER_TABLE3 = {
    ("strong", "classes407", "psds1"): 17.99,
    ("strong", "classes407", "pauroc"): 78.70,
    ("weak", "classes407", "psds1"): 12.44,
    ("weak", "classes407", "pauroc"): 73.09,
    ("supervised", "classes407", "psds1"): round(17.99 + 36.27, 2),
}


@dataclass(frozen=True)
class Table:
    """A finished table: numbers for the CSV, formatted cells and notes for Markdown and LaTeX."""

    numbers: pd.DataFrame
    display: pd.DataFrame
    caption: str
    label: str
    notes: list[str] = field(default_factory=list)


def _model_key(data: dict, path: Path) -> dict:
    model = data.get("model")
    if not isinstance(model, dict) or not {"stage", "delta", "seed"} <= model.keys():
        raise ValueError(f"{path}: 'model' must hold stage, delta and seed")
    if data.get("query_set") not in QUERY_SETS:
        raise ValueError(f"{path}: query_set must be one of {list(QUERY_SETS)}")
    return {
        "stage": str(model["stage"]),
        "delta": round(float(model["delta"]), DELTA_DECIMALS),
        "seed": int(model["seed"]),
        "query_set": data["query_set"],
    }


def _load(path: str | os.PathLike) -> tuple[Path, dict]:
    path = Path(path)
    return path, json.loads(path.read_text(encoding="utf-8"))


def read_results(paths: Iterable[str | os.PathLike]) -> pd.DataFrame:
    """One row per results file: model key, metrics and bootstrap bounds (fractions, NaN if none).

    Two files for the same (stage, delta, seed, query set) are an error: one would silently
    count twice in the mean over seeds.
    """
    rows = []
    for path, data in map(_load, paths):
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
    key = ["stage", "delta", "seed", "query_set"]
    twice = frame[frame.duplicated(key, keep=False)]
    if not twice.empty:
        raise ValueError(f"results given twice for one model: {sorted(twice['path'])}")
    return frame.sort_values(key, ignore_index=True)


def read_per_class(paths: Iterable[str | os.PathLike], metric: str = "psds1") -> pd.DataFrame:
    """``metrics[f"{metric}_per_class"]`` as rows: stage, delta, seed, query_set, class, value."""
    rows = []
    for path, data in map(_load, paths):
        key = _model_key(data, path)
        per_class = data["metrics"].get(f"{metric}_per_class", {})
        rows += [{**key, "class": name, "value": float(value)} for name, value in per_class.items()]
    return pd.DataFrame(rows, columns=["stage", "delta", "seed", "query_set", "class", "value"])


def summarise(results: pd.DataFrame) -> pd.DataFrame:
    """Per (stage, delta, query set): seeds, and mean/std/low/high of every metric in percent."""
    rows = []
    for (stage, delta, query_set), group in results.groupby(["stage", "delta", "query_set"]):
        row = {
            "stage": stage,
            "delta": delta,
            "query_set": query_set,
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


def _select(summary: pd.DataFrame, stage: str, query_set: str, delta: float) -> pd.Series | None:
    """The summary row of one model and query set; ``delta`` only matters for DELTA_STAGES."""
    chosen = (summary["stage"] == stage) & (summary["query_set"] == query_set)
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


def _cells(
    summary: pd.DataFrame, label: str, stage: str, delta: float, paper: bool
) -> tuple[dict, dict]:
    """One table row: the numbers for the CSV and the formatted cells, both query sets."""
    numbers: dict = {"model": label, "stage": stage, "delta": delta}
    display: dict = {"Model": label}
    for query_set, set_name in QUERY_SETS.items():
        found = _select(summary, stage, query_set, delta)
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
                cell = NOT_REPORTED if reported is None else f"{reported:.2f}"
                numbers[f"{query_set}_{metric}_paper"] = cell
                display[f"{metric_name} paper ({set_name})"] = cell
    return numbers, display


def _table(
    summary: pd.DataFrame,
    rows: Sequence[tuple[str, str, float]],
    paper: bool,
    caption: str,
    label: str,
    notes: list[str],
) -> Table:
    built = [_cells(summary, name, stage, delta, paper) for name, stage, delta in rows]
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
) -> dict | None:
    """Mean, std (ddof=1) and seeds of ``minuend - subtrahend`` in points, paired by seed."""
    chosen = (results["query_set"] == query_set) & np.isclose(results["delta"], delta)
    by_seed = {
        stage: results[chosen & (results["stage"] == stage)].set_index("seed")[metric]
        for stage in (minuend, subtrahend)
    }
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


def strong_minus_weak_line(results: pd.DataFrame, query_set: str, delta: float) -> str | None:
    """The demo's claim in one line: strong minus weak fine-tuning, per metric, paired by seed."""
    parts, paper_parts = [], []
    seeds: list[int] = []
    for metric, metric_name in TABLE_METRICS.items():
        difference = paired_difference(results, metric, query_set, delta)
        if difference is None:
            return None
        seeds = difference["seeds"]
        spread = "" if math.isnan(difference["std"]) else f" ± {difference['std']:.2f}"
        parts.append(f"{metric_name} {_signed(difference['mean'])}{spread}")
        strong = PAPER_TABLE3.get(("strong", query_set, metric))
        weak = PAPER_TABLE3.get(("weak", query_set, metric))
        paper = NOT_REPORTED if None in (strong, weak) else _signed(strong - weak)
        paper_parts.append(f"{metric_name} {paper}")
    return (
        f"Strong − weak ({QUERY_SETS[query_set]}, paired over seeds "
        f"{', '.join(map(str, seeds))}): {', '.join(parts)} points; "
        f"paper: {', '.join(paper_parts)}."
    )


def table3(results: pd.DataFrame, delta: float) -> Table:
    """The paper's Table 3 at the main ``delta``; the supervised row only when its results exist."""
    stages = ["pretrain", "weak", "strong"]
    if (results["stage"] == "supervised").any():
        stages.append("supervised")
    rows = [(STAGE_LABELS[stage], stage, delta) for stage in stages]
    notes = [
        _cell_note(results),
        f"Fine-tuned models at frame duration delta = {delta:g} s.",
        "Paper: TACOS, Primus et al., arXiv 2505.07609, 407-class setting; cells it does not "
        f"publish are marked '{NOT_REPORTED}'.",
    ]
    if "supervised" in stages:
        notes.append("The paper's supervised PSDS1 is derived: 36.27 points above strong.")
    notes += filter(None, (strong_minus_weak_line(results, qs, delta) for qs in QUERY_SETS))
    caption = "Text-based sound event detection on AudioSet Strong (Table 3 of the paper)"
    return _table(summarise(results), rows, True, caption, "tab:table3", notes)


def ablation_delta(results: pd.DataFrame, stage: str = "strong") -> Table:
    """``stage`` fine-tuning at every frame duration delta present in the results."""
    deltas = sorted(results.loc[results["stage"] == stage, "delta"].unique())
    if not deltas:
        raise ValueError(f"no results of stage {stage!r} to compare deltas")
    rows = [(f"delta = {delta:g} s", stage, delta) for delta in deltas]
    notes = [_cell_note(results), f"Model: {STAGE_LABELS.get(stage, stage)}."]
    caption = "Frame duration delta of strong fine-tuning (ablation beyond the paper)"
    return _table(summarise(results), rows, False, caption, "tab:ablation-delta", notes)


def ablation_negatives(results: pd.DataFrame, delta: float) -> Table:
    """Strong fine-tuning with and without intra-clip negatives at the main ``delta``."""
    rows = [(NEGATIVES_LABELS[stage], stage, delta) for stage in NEGATIVES_LABELS]
    notes = [_cell_note(results), f"Frame duration delta = {delta:g} s."]
    difference = [
        paired_difference(results, "psds1", qs, delta, "strong_intra", "strong")
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
