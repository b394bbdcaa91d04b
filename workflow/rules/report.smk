"""Report: Table 3, the ablation tables and the figures, with captions for --report."""

TABLES_DIR = "results/tables"
FIGURES_DIR = "results/figures"
TABLES = {
    "table3": "table3",
    "delta": "ablation_delta",
    "negatives": "ablation_negatives",
}
FIGURES = {
    "clips": "example_clips",
    "delta": "psds_vs_delta",
    "per_class": "per_class_psds",
    "curves": "training_curves",
}


def report_files(directory, names, suffixes, category):
    """Named outputs ``<key>_<suffix>`` marked for the report with the caption of their name."""
    return {
        f"{key}_{suffix}": report(
            f"{directory}/{name}.{suffix}",
            caption=f"../report/{name}.rst",
            category=category,
        )
        for key, name in names.items()
        for suffix in suffixes
    }


rule tables:
    input:
        results=evaluation_outputs(),
    output:
        **report_files(TABLES_DIR, TABLES, ("csv", "md", "tex"), "Tables"),
    log:
        "logs/tables.log",
    conda:
        "../../envs/tacos.yaml"
    params:
        delta=config["model"]["delta"],
    script:
        "../../scripts/make_tables.py"


rule figures:
    input:
        results=evaluation_outputs(),
        metrics=training_logs(),
        weak_scores=f"{SCORES_DIR}/{model_name('weak', config['training']['seeds'][0])}/classes407.h5",
        strong_scores=f"{SCORES_DIR}/{model_name('strong', config['training']['seeds'][0])}/classes407.h5",
        eval_manifest=f"{DATA_DIR}/audioset/eval.jsonl",
    output:
        **report_files(FIGURES_DIR, FIGURES, ("png", "pdf"), "Figures"),
    log:
        "logs/figures.log",
    conda:
        "../../envs/tacos.yaml"
    params:
        delta=config["model"]["delta"],
        example_clips=None,
    script:
        "../../scripts/make_figures.py"
