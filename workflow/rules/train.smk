"""Training: Clotho pretraining, then TACOS fine-tuning with weak or strong captions."""

if SUPERVISED_RELEASE:

    # ASIT_strong_1.pt is the user's to bring (README); the rule names it when it is missing.
    rule supervised_model:
        input:
            **demo_model_files(),
        output:
            model=f"{MODELS_DIR}/supervised/model.ckpt",
        log:
            "logs/train/supervised.log",
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
            model=f"{MODELS_DIR}/supervised/model.ckpt",
            metrics=f"{MODELS_DIR}/supervised/metrics.csv",
        log:
            "logs/train/supervised.log",
        benchmark:
            "results/benchmarks/train/supervised.tsv"
        conda:
            MODELS_ENV
        threads: config["resources"]["train"]["threads"]
        resources:
            gpu=config["resources"]["train"]["gpu"],
            mem_mb=config["resources"]["train"]["mem_mb"],
            runtime=config["resources"]["train"]["runtime"],
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
        model=f"{MODELS_DIR}/pretrain/model.ckpt",
        metrics=f"{MODELS_DIR}/pretrain/metrics.csv",
    log:
        "logs/train/pretrain.log",
    benchmark:
        "results/benchmarks/train/pretrain.tsv"
    conda:
        MODELS_ENV
    threads: config["resources"]["train"]["threads"]
    resources:
        gpu=config["resources"]["train"]["gpu"],
        mem_mb=config["resources"]["train"]["mem_mb"],
        runtime=config["resources"]["train"]["runtime"],
        # DDP under SLURM: one task per GPU (each task is one Lightning process).
        nodes=config["training"]["num_nodes"],
        tasks_per_gpu=1,
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
        model=f"{MODELS_DIR}/{{stage}}/delta{{delta}}/seed{{seed}}/model.ckpt",
        metrics=f"{MODELS_DIR}/{{stage}}/delta{{delta}}/seed{{seed}}/metrics.csv",
    log:
        "logs/train/{stage}_delta{delta}_seed{seed}.log",
    benchmark:
        "results/benchmarks/train/{stage}_delta{delta}_seed{seed}.tsv"
    wildcard_constraints:
        stage=STAGE_PATTERN,
        delta=r"\d+(\.\d+)?",
        seed=r"\d+",
    conda:
        MODELS_ENV
    threads: config["resources"]["train"]["threads"]
    resources:
        gpu=config["resources"]["train"]["gpu"],
        mem_mb=config["resources"]["train"]["mem_mb"],
        runtime=config["resources"]["train"]["runtime"],
        # DDP under SLURM: one task per GPU (each task is one Lightning process).
        nodes=config["training"]["num_nodes"],
        tasks_per_gpu=1,
    params:
        config=training_config("finetune"),
        seed=lambda wildcards: int(wildcards.seed),
        delta=lambda wildcards: float(wildcards.delta),
    script:
        "../scripts/train.py"
