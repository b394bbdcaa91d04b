"""Table 3 and the ablation tables from results JSONs written in the evaluation's exact format."""

import json
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from tacos.tables import (
    NOT_REPORTED,
    PAPER_TABLE3,
    Table,
    ablation_delta,
    ablation_negatives,
    format_cell,
    latex_table,
    markdown_table,
    paired_difference,
    read_per_class,
    read_results,
    table3,
    write_table,
)

DELTA = 0.04


def write_result(folder, stage, delta, seed, query_set, psds1, pauroc, bootstrap=True):
    """One results file as the evaluate stage writes it; bootstrap bounds at value ∓ 0.01."""
    metrics = {
        "psds1": psds1,
        "psds1_macro": psds1 + 0.05,
        "pauroc": pauroc,
        "n_classes": 2,
        "psds1_per_class": {"Bark": psds1 + 0.1, "Rain": psds1 - 0.05},
        "pauroc_per_class": {"Bark": pauroc, "Rain": pauroc},
    }
    bounds = {
        name: {"mean": value, "std": 0.01, "low": value - 0.01, "high": value + 0.01}
        for name, value in metrics.items()
        if name in ("psds1", "psds1_macro", "pauroc")
    }
    data = {
        "model": {"stage": stage, "delta": delta, "seed": seed, "checkpoint": "model.ckpt"},
        "query_set": query_set,
        "n_clips": 60,
        "n_clips_missing": 0,
        "metrics": metrics,
        "bootstrap": {"n_bootstrap": 100, "seed": 0, "confidence": 0.95, **bounds}
        if bootstrap
        else None,
        "notes": ["score frames past each clip's end are trimmed"],
    }
    path = folder / f"{stage}_{delta}_{seed}_{query_set}.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


@pytest.fixture
def result_paths(tmp_path):
    """Strong 10/12/14 % PSDS1 over seeds 1-3; weak seeds 1-2 only; pretrain one seed."""
    paths = [write_result(tmp_path, "pretrain", DELTA, 1, "classes407", 0.02, 0.50)]
    for seed, psds1 in zip((1, 2, 3), (0.10, 0.12, 0.14), strict=True):
        paths.append(write_result(tmp_path, "strong", DELTA, seed, "classes407", psds1, 0.80))
        paths.append(write_result(tmp_path, "strong", 0.16, seed, "classes407", psds1 - 0.02, 0.7))
        paths.append(write_result(tmp_path, "strong", DELTA, seed, "categories50", 0.30, 0.90))
        paths.append(write_result(tmp_path, "strong_intra", DELTA, seed, "classes407", 0.2, 0.85))
    for seed, psds1 in zip((1, 2), (0.05, 0.09), strict=True):
        paths.append(write_result(tmp_path, "weak", DELTA, seed, "classes407", psds1, 0.70))
    return paths


def cell(table, row, column):
    return table.display.set_index("Model").at[row, column]


def test_read_results_is_tidy_with_bootstrap_bounds(result_paths):
    results = read_results(result_paths)
    assert len(results) == len(result_paths)
    strong = results[(results["stage"] == "strong") & (results["delta"] == DELTA)]
    assert strong["seed"].tolist() == [1, 1, 2, 2, 3, 3]  # sorted by stage, delta, seed, set
    assert strong["query_set"].tolist()[:2] == ["categories50", "classes407"]
    first = strong[strong["query_set"] == "classes407"].iloc[0]
    assert first["psds1"] == 0.10
    assert first["psds1_low"] == pytest.approx(0.09)
    assert first["pauroc_high"] == pytest.approx(0.81)
    assert first["confidence"] == 0.95


def test_a_model_given_twice_is_an_error(tmp_path):
    (tmp_path / "a").mkdir()
    first = write_result(tmp_path / "a", "strong", DELTA, 1, "classes407", 0.1, 0.8)
    second = write_result(tmp_path, "strong", DELTA, 1, "classes407", 0.1, 0.8)
    with pytest.raises(ValueError, match="given twice"):
        read_results([first, second])


def test_cells_are_mean_sample_std_and_mean_interval_in_percent(result_paths):
    table = table3(read_results(result_paths), DELTA)
    strong = "Strong fine-tuning (TACOS strong captions)"
    # 10, 12, 14 %: mean 12, sample std (ddof=1) 2; bounds 9/11/13 and 11/13/15 average 11 and 13
    assert cell(table, strong, "PSDS1 (407 classes)") == "12.00 ± 2.00 [11.0, 13.0]"
    assert cell(table, strong, "pAUROC (407 classes)") == "80.00 ± 0.00 [79.0, 81.0]"
    assert cell(table, strong, "PSDS1 (50 categories)") == "30.00 ± 0.00 [29.0, 31.0]"
    pretrain = "Pretraining only (Clotho)"
    assert cell(table, pretrain, "PSDS1 (407 classes)") == "2.00 [1.0, 3.0]"  # one seed: no ±
    assert cell(table, pretrain, "PSDS1 (50 categories)") == "no result"


def test_paper_values_sit_beside_ours_and_the_rest_is_not_reported(result_paths):
    table = table3(read_results(result_paths), DELTA)
    strong = "Strong fine-tuning (TACOS strong captions)"
    weak = "Weak fine-tuning (TACOS weak captions)"
    assert cell(table, strong, "PSDS1 paper (407 classes)") == "17.99"
    assert cell(table, strong, "pAUROC paper (407 classes)") == "78.70"
    assert cell(table, weak, "PSDS1 paper (407 classes)") == "12.44"
    assert cell(table, weak, "pAUROC paper (407 classes)") == "73.09"
    assert cell(table, "Pretraining only (Clotho)", "PSDS1 paper (407 classes)") == NOT_REPORTED
    for row in (strong, weak):
        assert cell(table, row, "PSDS1 paper (50 categories)") == NOT_REPORTED
        assert cell(table, row, "pAUROC paper (50 categories)") == NOT_REPORTED
    assert list(table.display["Model"]) == [
        "Pretraining only (Clotho)",
        weak,
        strong,
    ]  # no supervised results given: no supervised row


def test_supervised_row_appears_when_its_results_are_given(tmp_path, result_paths):
    result_paths.append(write_result(tmp_path, "supervised", 0.02, 1, "classes407", 0.5, 0.9))
    table = table3(read_results(result_paths), DELTA)
    assert cell(table, "Supervised SED baseline", "PSDS1 (407 classes)") == "50.00 [49.0, 51.0]"
    assert cell(table, "Supervised SED baseline", "PSDS1 paper (407 classes)") == "54.26"
    assert PAPER_TABLE3[("supervised", "classes407", "psds1")] == 54.26
    assert any("derived: 36.27 points above strong" in note for note in table.notes)


def test_seed_counts_show_what_each_cell_averages(result_paths):
    table = table3(read_results(result_paths), DELTA)
    counts = table.numbers.set_index("stage")
    assert counts.at["strong", "classes407_n_seeds"] == 3
    assert counts.at["weak", "classes407_n_seeds"] == 2
    assert counts.at["weak", "categories50_n_seeds"] == 0
    assert counts.at["pretrain", "classes407_n_seeds"] == 1
    weak = "Weak fine-tuning (TACOS weak captions)"
    assert cell(table, weak, "n_seeds (407 classes)") == "2"
    assert cell(table, weak, "PSDS1 (407 classes)") == "7.00 ± 2.83 [6.0, 8.0]"


def test_strong_minus_weak_is_paired_over_common_seeds(result_paths):
    results = read_results(result_paths)
    difference = paired_difference(results, "psds1", "classes407", DELTA)
    # seeds 1 and 2: 10 - 5 = 5 and 12 - 9 = 3 points
    assert difference["seeds"] == [1, 2]
    assert difference["mean"] == pytest.approx(4.0)
    assert difference["std"] == pytest.approx(2**0.5)
    notes = table3(results, DELTA).notes
    assert (
        "Strong − weak (407 classes, paired over seeds 1, 2): PSDS1 +4.00 ± 1.41, "
        "pAUROC +10.00 ± 0.00 points; paper: PSDS1 +5.55, pAUROC +5.61." in notes
    )
    assert not any("50 categories, paired" in note for note in notes)  # no weak there


def test_ablation_delta_has_one_row_per_delta(result_paths):
    table = ablation_delta(read_results(result_paths))
    assert list(table.display["Model"]) == ["delta = 0.04 s", "delta = 0.16 s"]
    assert cell(table, "delta = 0.16 s", "PSDS1 (407 classes)") == "10.00 ± 2.00 [9.0, 11.0]"
    assert cell(table, "delta = 0.16 s", "n_seeds (50 categories)") == "0"
    assert not any("paper" in column for column in table.display.columns)


def test_ablation_negatives_compares_intra_with_inter(result_paths):
    table = ablation_negatives(read_results(result_paths), DELTA)
    intra = "Strong fine-tuning, inter- and intra-clip negatives"
    assert cell(table, intra, "PSDS1 (407 classes)") == "20.00 ± 0.00 [19.0, 21.0]"
    assert "Intra − inter (407 classes, paired over seeds 1, 2, 3): PSDS1 +8.00 points." in (
        table.notes
    )


def test_written_files_hold_the_numbers(tmp_path, result_paths):
    table = table3(read_results(result_paths), DELTA)
    csv, markdown, latex = tmp_path / "t.csv", tmp_path / "t.md", tmp_path / "t.tex"
    write_table(table, csv, markdown, latex)
    numbers = pd.read_csv(csv).set_index("stage")
    assert numbers.at["strong", "classes407_psds1_mean"] == 12.0
    assert numbers.at["strong", "classes407_psds1_std"] == 2.0
    assert numbers.at["strong", "classes407_psds1_low"] == 11.0
    assert numbers.at["strong", "classes407_psds1_paper"] == "17.99"
    assert numbers.at["pretrain", "classes407_psds1_paper"] == NOT_REPORTED
    text = markdown.read_text(encoding="utf-8")
    assert "| Strong fine-tuning (TACOS strong captions) | 3 | 12.00 ± 2.00 [11.0, 13.0] |" in text
    assert "ddof=1" in text and "Strong − weak (407 classes" in text
    tex = latex.read_text(encoding="utf-8")
    assert r"12.00 $\pm$ 2.00 [11.0, 13.0] & 17.99" in tex
    assert r"\toprule" in tex and r"\bottomrule" in tex and r"\label{tab:table3}" in tex


def test_formatters_escape_their_special_characters():
    display = pd.DataFrame({"Model": ["a|b"], "x_1": ["50 %"]})
    assert markdown_table(display).splitlines() == [
        "| Model | x_1 |",
        "|---|---|",
        r"| a\|b | 50 % |",
    ]
    assert format_cell(1.234, float("nan")) == "1.23"
    table = Table(display, display, "A & B", "tab:x")
    assert r"x\_1 \\" in latex_table(table) and r"50 \% \\" in latex_table(table)
    assert r"\caption{A \& B}" in latex_table(table)


def test_missing_bootstrap_leaves_the_interval_out(tmp_path):
    paths = [write_result(tmp_path, "strong", DELTA, 1, "classes407", 0.1, 0.8, bootstrap=False)]
    table = table3(read_results(paths), DELTA)
    assert cell(table, "Strong fine-tuning (TACOS strong captions)", "PSDS1 (407 classes)") == (
        "10.00"
    )
    assert "no bootstrap interval" in table.notes[0]


def test_per_class_values_are_long_rows(result_paths):
    per_class = read_per_class(result_paths[:2])
    assert per_class[["stage", "class", "value"]].values.tolist() == [
        ["pretrain", "Bark", pytest.approx(0.12)],
        ["pretrain", "Rain", pytest.approx(-0.03)],
        ["strong", "Bark", pytest.approx(0.2)],
        ["strong", "Rain", pytest.approx(0.05)],
    ]


def test_report_captions_render_with_both_configs():
    """Each caption is a jinja template over the config, then reStructuredText (as --report)."""
    docutils_core = pytest.importorskip("docutils.core")
    jinja2 = pytest.importorskip("jinja2")
    yaml = pytest.importorskip("yaml")
    root = Path(__file__).resolve().parents[1]
    captions = sorted((root / "workflow" / "report").glob("*.rst"))
    assert {path.stem for path in captions} >= {"workflow", "table3", "example_clips"}
    environment = jinja2.Environment(undefined=jinja2.StrictUndefined)
    for config_file in ("config.yaml", "paper.yaml"):
        config = yaml.safe_load((root / "config" / config_file).read_text(encoding="utf-8"))
        snakemake = SimpleNamespace(config=config)
        for path in captions:
            text = environment.from_string(path.read_text(encoding="utf-8")).render(
                snakemake=snakemake
            )
            assert "{{" not in text, path
            body = docutils_core.publish_parts(
                text, writer="html", settings_overrides={"report_level": 2, "halt_level": 2}
            )["body"]
            assert body.strip(), path
