"""Report: Table 3, the ablation and frame-collapse tables and the figures, with captions for
--report."""


# The report rules read small JSON and HDF5 files: they run where snakemake runs.
rule tables:
    input:
        results=evaluation_outputs(),
        collapse=list(collapse_outputs().values()),
    output:
        **report_files(TABLES_DIR, TABLES, ("csv", "md", "tex"), "Tables"),
    log:
        f"{LOGS_DIR}/tables.log",
    localrule: True
    conda:
        BASE_ENV
    params:
        delta=config["model"]["delta"],
        frames=EVALUATED_FRAMES,
        collapse=collapse_outputs(),
    script:
        "../scripts/make_tables.py"


rule figures:
    input:
        results=evaluation_outputs(),
        metrics=training_logs(),
        collapse=list(collapse_outputs().values()),
        weak_scores=f"{SCORES_DIR}/{model_name('weak', config['training']['seeds'][0])}/classes407.h5",
        strong_scores=f"{SCORES_DIR}/{model_name('strong', config['training']['seeds'][0])}/classes407.h5",
        eval_manifest=f"{DATA_DIR}/audioset/eval.jsonl",
    output:
        **report_files(FIGURES_DIR, FIGURES, ("png", "pdf"), "Figures"),
    log:
        f"{LOGS_DIR}/figures.log",
    localrule: True
    conda:
        BASE_ENV
    params:
        delta=config["model"]["delta"],
        frames=EVALUATED_FRAMES,
        example_clips=None,
        collapse=collapse_outputs(),
    script:
        "../scripts/make_figures.py"
