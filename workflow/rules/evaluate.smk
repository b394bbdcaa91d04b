"""Evaluation: frame scores of every trained model on AudioSet Strong eval, then PSDS1/pAUROC."""


rule score:
    input:
        model=f"{MODELS_DIR}/{{model}}/model.ckpt",
        manifest=f"{DATA_DIR}/audioset/eval.jsonl",
        store=f"{DATA_DIR}/audioset/eval.h5",
    output:
        scores=[f"{SCORES_DIR}/{{model}}/{name}.h5" for name in QUERY_SETS],
        collapse=f"{SCORES_DIR}/{{model}}/collapse.json",
    log:
        f"{LOGS_DIR}/score/{{model}}.log",
    benchmark:
        f"{BENCHMARKS_DIR}/score/{{model}}.tsv"
    wildcard_constraints:
        model=TRAINED_PATTERN,
    conda:
        MODELS_ENV
    threads: LOADER_THREADS
    resources:
        **SCORE_RESOURCES,
    params:
        query_sets=QUERY_SETS,
        batch_size=config["evaluation"]["batch_size"],
    script:
        "../scripts/score.py"


rule evaluate:
    input:
        scores=f"{SCORES_DIR}/{{model}}/{{query_set}}.h5",
        manifest=f"{DATA_DIR}/audioset/eval.jsonl",
        manifest_report=f"{DATA_DIR}/audioset/report.json",
    output:
        f"{EVAL_DIR}/{{model}}/{{query_set}}/{{frames}}.json",
    log:
        f"{LOGS_DIR}/evaluate/{{model}}/{{query_set}}/{{frames}}.log",
    benchmark:
        f"{BENCHMARKS_DIR}/evaluate/{{model}}/{{query_set}}/{{frames}}.tsv"
    wildcard_constraints:
        model=MODEL_PATTERN,
        query_set="|".join(QUERY_SET_NAMES),
        frames="|".join(FRAME_PROTOCOLS),
    conda:
        BASE_ENV
    threads: config["evaluation"]["threads"]
    resources:
        **EVALUATE_RESOURCES,
    params:
        query_set="{query_set}",
        frames="{frames}",
        clips=config["evaluation"]["clips"],
        n_bootstrap=config["evaluation"]["n_bootstrap"],
        engine=config["evaluation"]["engine"],
        seed=config["training"]["seeds"][0],
    script:
        "../scripts/evaluate.py"
