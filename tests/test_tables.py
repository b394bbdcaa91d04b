"""Table 3 and the ablation tables from results JSONs written in the evaluation's exact format,
under both frame protocols."""

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
    difference_line,
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
STRONG = "Strong fine-tuning (TACOS strong captions)"
WEAK = "Weak fine-tuning (TACOS weak captions)"
PRETRAIN = "Pretraining only (Clotho)"
AUTHORS = ["untrimmed"]


def write_result(
    folder, stage, delta, seed, query_set, psds1, pauroc, bootstrap=True, frames="untrimmed"
):
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
        "protocol": {"evaluated_weights": "last", "frames": frames, "clips": "with_events"},
        "n_clips": 60,
        "n_clips_without_events": 3,
        "n_clips_missing": 0,
        "metrics": metrics,
        "bootstrap": {"n_bootstrap": 100, "seed": 0, "confidence": 0.95, **bounds}
        if bootstrap
        else None,
        "notes": ["score frames past each clip's end are trimmed"],
    }
    path = folder / f"{stage}_{delta}_{seed}_{query_set}_{frames}.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


@pytest.fixture
def result_paths(tmp_path):
    """Authors' protocol: strong 10/12/14 % PSDS1 over seeds 1-3; weak seeds 1-2 only; pretrain
    one seed. Trimmed frames: strong 13/15/17 %, weak 6/8 % (407 classes at DELTA only)."""
    paths = [write_result(tmp_path, "pretrain", DELTA, 1, "classes407", 0.02, 0.50)]
    for seed, psds1 in zip((1, 2, 3), (0.10, 0.12, 0.14), strict=True):
        paths.append(write_result(tmp_path, "strong", DELTA, seed, "classes407", psds1, 0.80))
        paths.append(write_result(tmp_path, "strong", 0.16, seed, "classes407", psds1 - 0.02, 0.7))
        paths.append(write_result(tmp_path, "strong", DELTA, seed, "categories50", 0.30, 0.90))
        paths.append(write_result(tmp_path, "strong_intra", DELTA, seed, "classes407", 0.2, 0.85))
    for seed, psds1 in zip((1, 2), (0.05, 0.09), strict=True):
        paths.append(write_result(tmp_path, "weak", DELTA, seed, "classes407", psds1, 0.70))
    for seed, psds1 in zip((1, 2, 3), (0.13, 0.15, 0.17), strict=True):
        paths.append(
            write_result(
                tmp_path, "strong", DELTA, seed, "classes407", psds1, 0.82, frames="trimmed"
            )
        )
    for seed, psds1 in zip((1, 2), (0.06, 0.08), strict=True):
        paths.append(
            write_result(tmp_path, "weak", DELTA, seed, "classes407", psds1, 0.72, frames="trimmed")
        )
    return paths


def cell(table, row, column):
    return table.display.set_index("Model").at[row, column]


def test_read_results_is_tidy_with_bootstrap_bounds(result_paths):
    results = read_results(result_paths)
    assert len(results) == len(result_paths)
    strong = results[(results["stage"] == "strong") & (results["delta"] == DELTA)]
    assert strong["seed"].tolist() == [1, 1, 1, 2, 2, 2, 3, 3, 3]  # by stage, delta, seed, set
    assert strong["query_set"].tolist()[:3] == ["categories50", "classes407", "classes407"]
    assert strong["frames"].tolist()[:3] == ["untrimmed", "trimmed", "untrimmed"]
    authors = strong[strong["frames"] == "untrimmed"]
    first = authors[authors["query_set"] == "classes407"].iloc[0]
    assert first["psds1"] == 0.10
    assert first["psds1_low"] == pytest.approx(0.09)
    assert first["pauroc_high"] == pytest.approx(0.81)
    assert first["confidence"] == 0.95
    trimmed = read_results(result_paths, frames="trimmed")
    assert len(trimmed) == 5
    assert set(trimmed["frames"]) == {"trimmed"}
    assert trimmed.loc[trimmed["stage"] == "strong", "psds1"].tolist() == [0.13, 0.15, 0.17]
    untrimmed = read_results(result_paths, frames="untrimmed")
    assert len(untrimmed) == len(result_paths) - 5
    assert set(untrimmed["frames"]) == {"untrimmed"}


def test_a_model_given_twice_is_an_error(tmp_path):
    (tmp_path / "a").mkdir()
    first = write_result(tmp_path / "a", "strong", DELTA, 1, "classes407", 0.1, 0.8)
    second = write_result(tmp_path, "strong", DELTA, 1, "classes407", 0.1, 0.8)
    with pytest.raises(ValueError, match="given twice"):
        read_results([first, second])
    other_frames = write_result(
        tmp_path, "strong", DELTA, 1, "classes407", 0.1, 0.8, frames="trimmed"
    )
    assert len(read_results([first, other_frames])) == 2  # one model under two protocols


def test_results_without_a_frame_protocol_are_refused(tmp_path):
    path = write_result(tmp_path, "strong", DELTA, 1, "classes407", 0.1, 0.8)
    data = json.loads(path.read_text(encoding="utf-8"))
    del data["protocol"]
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ValueError, match="protocol.frames must be one of"):
        read_results([path])
    data["protocol"] = {"frames": "cropped"}
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ValueError, match="protocol.frames must be one of"):
        read_per_class([path])


def test_cells_are_mean_sample_std_and_mean_interval_in_percent(result_paths):
    table = table3(read_results(result_paths), DELTA, AUTHORS)
    strong = "Strong fine-tuning (TACOS strong captions)"
    # 10, 12, 14 %: mean 12, sample std (ddof=1) 2; bounds 9/11/13 and 11/13/15 average 11 and 13
    assert cell(table, strong, "PSDS1 (407 classes)") == "12.00 ± 2.00 [11.0, 13.0]"
    assert cell(table, strong, "pAUROC (407 classes)") == "80.00 ± 0.00 [79.0, 81.0]"
    assert cell(table, strong, "PSDS1 (50 categories)") == "30.00 ± 0.00 [29.0, 31.0]"
    pretrain = "Pretraining only (Clotho)"
    assert cell(table, pretrain, "PSDS1 (407 classes)") == "2.00 [1.0, 3.0]"  # one seed: no ±
    assert cell(table, pretrain, "PSDS1 (50 categories)") == "no result"


def test_paper_values_sit_beside_ours_and_the_rest_is_not_reported(result_paths):
    table = table3(read_results(result_paths), DELTA, AUTHORS)
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
    table = table3(read_results(result_paths), DELTA, AUTHORS)
    assert cell(table, "Supervised SED baseline", "PSDS1 (407 classes)") == "50.00 [49.0, 51.0]"
    assert cell(table, "Supervised SED baseline", "PSDS1 paper (407 classes)") == "54.26"
    assert PAPER_TABLE3[("supervised", "classes407", "psds1")] == 54.26


def test_supervised_minus_strong_pairs_the_one_model_with_every_seed(tmp_path, result_paths):
    result_paths.append(write_result(tmp_path, "supervised", DELTA, 1, "classes407", 0.5, 0.9))
    notes = table3(read_results(result_paths), DELTA, AUTHORS).notes
    # 50 - 10, 50 - 12, 50 - 14 points: mean 38, std 2; pAUROC 90 - 80
    assert (
        "Supervised − Strong (407 classes, authors' protocol, paired over seeds 1, 2, 3): "
        "PSDS1 +38.00 ± 2.00, pAUROC +10.00 ± 0.00 points; paper: PSDS1 +36.27, "
        f"pAUROC {NOT_REPORTED}." in notes
    )


def test_seed_counts_show_what_each_cell_averages(result_paths):
    table = table3(read_results(result_paths), DELTA, AUTHORS)
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
    notes = table3(results, DELTA, AUTHORS).notes
    line = (
        "Strong − Weak (407 classes, authors' protocol, paired over seeds 1, 2): "
        "PSDS1 +4.00 ± 1.41, pAUROC +10.00 ± 0.00 points; paper: PSDS1 +5.55, pAUROC +5.61."
    )
    assert line in notes
    assert difference_line(results, "classes407", DELTA, "strong", "weak") == line
    assert not any("50 categories" in note and "paired" in note for note in notes)  # no weak
    # trimmed frames: 13 - 6 = 7 and 15 - 8 = 7 points
    trimmed = paired_difference(results, "psds1", "classes407", DELTA, frames="trimmed")
    assert trimmed["seeds"] == [1, 2]
    assert trimmed["mean"] == pytest.approx(7.0)
    assert trimmed["std"] == pytest.approx(0.0, abs=1e-12)
    assert difference_line(results, "classes407", DELTA, "strong", "weak", "trimmed") == (
        "Strong − Weak (407 classes, corrected: frames trimmed, paired over seeds 1, 2): "
        "PSDS1 +7.00 ± 0.00, pAUROC +10.00 ± 0.00 points; paper: PSDS1 +5.55, pAUROC +5.61."
    )
    assert difference_line(results, "categories50", DELTA, "strong", "weak") is None


def test_table3_has_a_row_per_stage_and_frame_protocol(result_paths):
    table = table3(read_results(result_paths), DELTA, ["untrimmed", "trimmed"])
    labels = [
        f"{stage} [{frames}]"
        for stage in (PRETRAIN, WEAK, STRONG)
        for frames in ("authors' protocol", "corrected: frames trimmed")
    ]
    assert list(table.display["Model"]) == labels
    assert table.numbers["frames"].tolist() == ["untrimmed", "trimmed"] * 3
    authors, trimmed = f"{STRONG} [authors' protocol]", f"{STRONG} [corrected: frames trimmed]"
    assert cell(table, authors, "PSDS1 (407 classes)") == "12.00 ± 2.00 [11.0, 13.0]"
    assert cell(table, trimmed, "PSDS1 (407 classes)") == "15.00 ± 2.00 [14.0, 16.0]"
    assert cell(table, trimmed, "pAUROC (407 classes)") == "82.00 ± 0.00 [81.0, 83.0]"
    assert cell(table, trimmed, "PSDS1 (50 categories)") == "no result"
    # the paper's numbers only beside the authors' protocol
    assert cell(table, authors, "PSDS1 paper (407 classes)") == "17.99"
    assert cell(table, trimmed, "PSDS1 paper (407 classes)") == NOT_REPORTED
    assert cell(table, f"{WEAK} [authors' protocol]", "pAUROC paper (407 classes)") == "73.09"
    assert cell(table, f"{WEAK} [corrected: frames trimmed]", "pAUROC paper (407 classes)") == (
        NOT_REPORTED
    )
    assert cell(table, f"{PRETRAIN} [corrected: frames trimmed]", "PSDS1 (407 classes)") == (
        "no result"
    )
    counts = table.numbers.set_index(["stage", "frames"])
    assert counts.at[("strong", "trimmed"), "classes407_n_seeds"] == 3
    assert counts.at[("strong", "trimmed"), "classes407_psds1_paper"] == NOT_REPORTED
    assert counts.at[("strong", "untrimmed"), "classes407_psds1_paper"] == "17.99"
    # the difference lines are those of the first protocol
    assert any(
        note.startswith("Strong − Weak (407 classes, authors' protocol") for note in (table.notes)
    )
    first_trimmed = table3(read_results(result_paths), DELTA, ["trimmed", "untrimmed"])
    assert any(
        note.startswith("Strong − Weak (407 classes, corrected: frames trimmed")
        for note in first_trimmed.notes
    )


def test_ablation_delta_has_one_row_per_delta(result_paths):
    results = read_results(result_paths)
    table = ablation_delta(results, "untrimmed")
    assert list(table.display["Model"]) == ["delta = 0.04 s", "delta = 0.16 s"]
    assert cell(table, "delta = 0.04 s", "PSDS1 (407 classes)") == "12.00 ± 2.00 [11.0, 13.0]"
    assert cell(table, "delta = 0.16 s", "PSDS1 (407 classes)") == "10.00 ± 2.00 [9.0, 11.0]"
    assert cell(table, "delta = 0.16 s", "n_seeds (50 categories)") == "0"
    assert not any("paper" in column for column in table.display.columns)
    assert any("frames: authors' protocol" in note for note in table.notes)
    trimmed = ablation_delta(results, "trimmed")
    assert cell(trimmed, "delta = 0.04 s", "PSDS1 (407 classes)") == "15.00 ± 2.00 [14.0, 16.0]"
    assert cell(trimmed, "delta = 0.16 s", "PSDS1 (407 classes)") == "no result"
    assert any("frames: corrected: frames trimmed" in note for note in trimmed.notes)


def test_ablation_negatives_compares_intra_with_inter(result_paths):
    table = ablation_negatives(read_results(result_paths), DELTA, "untrimmed")
    intra = "Strong fine-tuning, inter- and intra-clip negatives"
    assert cell(table, intra, "PSDS1 (407 classes)") == "20.00 ± 0.00 [19.0, 21.0]"
    assert "Intra − inter (407 classes, paired over seeds 1, 2, 3): PSDS1 +8.00 points." in (
        table.notes
    )
    trimmed = ablation_negatives(read_results(result_paths), DELTA, "trimmed")
    assert cell(trimmed, intra, "PSDS1 (407 classes)") == "no result"  # only untrimmed given
    assert not any(note.startswith("Intra − inter") for note in trimmed.notes)


def test_written_files_hold_the_numbers(tmp_path, result_paths):
    table = table3(read_results(result_paths), DELTA, AUTHORS)
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
    assert "ddof=1" in text and "Strong − Weak (407 classes" in text
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
    table = table3(read_results(paths), DELTA, AUTHORS)
    assert cell(table, "Strong fine-tuning (TACOS strong captions)", "PSDS1 (407 classes)") == (
        "10.00"
    )
    assert "no bootstrap interval" in table.notes[0]


def test_per_class_values_are_long_rows(result_paths):
    per_class = read_per_class(result_paths[:2])
    assert per_class[["stage", "frames", "class", "value"]].values.tolist() == [
        ["pretrain", "untrimmed", "Bark", pytest.approx(0.12)],
        ["pretrain", "untrimmed", "Rain", pytest.approx(-0.03)],
        ["strong", "untrimmed", "Bark", pytest.approx(0.2)],
        ["strong", "untrimmed", "Rain", pytest.approx(0.05)],
    ]
    trimmed = read_per_class(result_paths, frames="trimmed")
    assert set(trimmed["frames"]) == {"trimmed"}
    assert len(trimmed) == 2 * 5  # 2 classes x 5 trimmed results
    strong = trimmed[(trimmed["stage"] == "strong") & (trimmed["class"] == "Bark")]
    assert strong["value"].tolist() == pytest.approx([0.23, 0.25, 0.27])


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
