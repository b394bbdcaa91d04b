"""Training: Clotho pretraining, then TACOS fine-tuning with weak or strong captions.

The trained model files are protected (read-only): a rerun that would replace one, after a
change of config, stops and names it; delete it to retrain.
"""

if SUPERVISED_RELEASE:

    # ASIT_strong_1.pt is the user's to bring (README); the rule names it when it is missing.
    rule supervised_model:
        input:
            **demo_model_files(),
        output:
            model=protected(f"{MODELS_DIR}/supervised/model.ckpt"),
        log:
            f"{LOGS_DIR}/train/supervised.log",
        conda:
            MODELS_ENV
        params:
            audio=AUDIO_MODEL,
        script:
            "../scripts/supervised_model.py"


if SUPERVISED_TRAINED:

    rule train_supervised:
        input:
            train_manifest=f"{DATA_DIR}/audioset_train/train.jsonl",
            train_store=f"{DATA_DIR}/audioset_train/train.h5",
        output:
            model=protected(f"{MODELS_DIR}/supervised/model.ckpt"),
            metrics=f"{MODELS_DIR}/supervised/metrics.csv",
        log:
            f"{LOGS_DIR}/train/supervised.log",
        benchmark:
            f"{BENCHMARKS_DIR}/train/supervised.tsv"
        conda:
            MODELS_ENV
        threads: LOADER_THREADS
        resources:
            **TRAIN_RESOURCES,
        params:
            config=training_config("supervised"),
            seed=config["training"]["seeds"][0],
        script:
            "../scripts/train_supervised.py"


rule pretrain:
    input:
        **demo_model_files(),
        # the demo's audio encoder starts from its supervised training, as ASiT from ASIT_strong_1
        **(
            {"backbone": f"{MODELS_DIR}/supervised/model.ckpt"}
            if SUPERVISED_TRAINED
            else {}
        ),
        train_manifest=f"{DATA_DIR}/clotho/development.jsonl",
        train_store=f"{DATA_DIR}/clotho/development.h5",
        val_manifest=f"{DATA_DIR}/clotho/validation.jsonl",
        val_store=f"{DATA_DIR}/clotho/validation.h5",
    output:
        model=protected(f"{MODELS_DIR}/pretrain/model.ckpt"),
        metrics=f"{MODELS_DIR}/pretrain/metrics.csv",
    log:
        f"{LOGS_DIR}/train/pretrain.log",
    benchmark:
        f"{BENCHMARKS_DIR}/train/pretrain.tsv"
    conda:
        MODELS_ENV
    threads: LOADER_THREADS
    resources:
        **TRAIN_RESOURCES,
    params:
        config=training_config("pretrain"),
        seed=config["training"]["seeds"][0],
    script:
        "../scripts/train.py"


rule finetune:
    input:
        init=f"{MODELS_DIR}/pretrain/model.ckpt",
        train_manifest=f"{DATA_DIR}/tacos/development.jsonl",
        train_store=f"{DATA_DIR}/tacos/development.h5",
        val_manifest=f"{DATA_DIR}/clotho/validation.jsonl",
        val_store=f"{DATA_DIR}/clotho/validation.h5",
    output:
        model=protected(
            f"{MODELS_DIR}/{{stage}}/delta{{delta}}/seed{{seed}}/model.ckpt"
        ),
        metrics=f"{MODELS_DIR}/{{stage}}/delta{{delta}}/seed{{seed}}/metrics.csv",
    log:
        f"{LOGS_DIR}/train/{{stage}}_delta{{delta}}_seed{{seed}}.log",
    benchmark:
        f"{BENCHMARKS_DIR}/train/{{stage}}_delta{{delta}}_seed{{seed}}.tsv"
    wildcard_constraints:
        stage=STAGE_PATTERN,
        delta=r"\d+(\.\d+)?",
        seed=r"\d+",
    conda:
        MODELS_ENV
    threads: LOADER_THREADS
    resources:
        **TRAIN_RESOURCES,
    params:
        config=training_config("finetune"),
        seed=lambda wildcards: int(wildcards.seed),
        delta=lambda wildcards: float(wildcards.delta),
    script:
        "../scripts/train.py"
