"""Data stage: demo generation or download, reading into manifests, decoded-audio stores."""

# Only the demo config has the data.demo section this rule reads.
if SOURCE == "demo":

    rule demo_data:
        output:
            f"{DEMO_DIR}/demo_manifest.json",
        log:
            f"{LOGS_DIR}/demo_data.log",
        benchmark:
            f"{BENCHMARKS_DIR}/demo_data.tsv"
        conda:
            BASE_ENV
        threads: 2
        params:
            demo=config["data"]["demo"],
        script:
            "../scripts/make_demo_data.py"


if demo_model_files():

    rule demo_models:
        output:
            **demo_model_files(),
        log:
            f"{LOGS_DIR}/demo_models.log",
        conda:
            MODELS_ENV
        params:
            asit=AUDIO_MODEL.get("asit", {}),
        script:
            "../scripts/make_demo_models.py"


# A dataset's download: its release folder comes from its config entry (FETCH_DIRS).
rule fetch:
    output:
        "{folder}/fetch_report.json",
    log:
        f"{LOGS_DIR}/fetch/{{folder}}.log",
    wildcard_constraints:
        folder="|".join(re.escape(folder) for folder in FETCH_DIRS),
    localrule: config["data"]["fetch_on_submit_host"]
    conda:
        BASE_ENV
    resources:
        downloads=1,
    params:
        dataset=lambda wildcards: FETCH_NAMES[FETCH_DIRS[wildcards.folder]],
        base_url=lambda wildcards: mirror(FETCH_DIRS[wildcards.folder]),
    script:
        "../scripts/fetch_dataset.py"


# One rule a dataset: each writes its own set of split manifests, and Snakemake takes functions
# for inputs only, so one wildcard rule cannot declare them.
for dataset in DATASET_SPLITS:

    rule:
        name:
            f"prepare_{dataset}"
        input:
            prepare_inputs(dataset),
        output:
            manifests=manifests(dataset),
            report=f"{DATA_DIR}/{dataset}/report.json",
        log:
            f"{LOGS_DIR}/prepare_{dataset}.log",
        conda:
            BASE_ENV
        params:
            dataset=dataset,
            source=dataset_source(dataset),
        script:
            "../scripts/prepare_dataset.py"


rule audio_store:
    input:
        manifest=f"{DATA_DIR}/{{dataset}}/{{split}}.jsonl",
    output:
        store=f"{DATA_DIR}/{{dataset}}/{{split}}.h5",
        report=f"{DATA_DIR}/{{dataset}}/{{split}}.h5.report.json",
    log:
        f"{LOGS_DIR}/audio_store/{{dataset}}_{{split}}.log",
    benchmark:
        f"{BENCHMARKS_DIR}/audio_store/{{dataset}}_{{split}}.tsv"
    conda:
        BASE_ENV
    threads: 2
    resources:
        mem_mb=4000,
    params:
        sample_rate=config["audio"]["sample_rate"],
    script:
        "../scripts/build_audio_store.py"
