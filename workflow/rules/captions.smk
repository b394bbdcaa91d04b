"""Caption cleaning with an LLM (or the offline rules) and weak-caption generation."""


rule clean_captions:
    input:
        # The raw file arrives with the release (or the demo), so the release is the input.
        release_files("tacos"),
    output:
        strong=CLEANED["strong_file"],
        weak=CLEANED["weak_file"],
        report=f"{CAPTIONS_DIR}/report.json",
    log:
        f"{LOGS_DIR}/clean_captions.log",
    benchmark:
        f"{BENCHMARKS_DIR}/clean_captions.tsv"
    conda:
        BASE_ENV
    threads: 4
    params:
        raw_file=config["captions"].get("raw_file"),
        backend=caption_settings(),
    script:
        "../scripts/clean_captions.py"
