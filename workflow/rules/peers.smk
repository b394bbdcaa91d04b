"""Peers: public audio-text checkpoints scored and evaluated by the same rules as ours, and the
table "Public models under the TACOS protocol" (on when config peers.enabled is true).
"""


# The eval clips decoded again at a peer's input rate, from the same manifest.
use rule audio_store as peer_audio_store with:
    output:
        store=f"{DATA_DIR}/{{dataset}}/{{split}}.{{rate}}hz.h5",
        report=f"{DATA_DIR}/{{dataset}}/{{split}}.{{rate}}hz.h5.report.json",
    log:
        f"{LOGS_DIR}/audio_store/{{dataset}}_{{split}}_{{rate}}hz.log",
    benchmark:
        f"{BENCHMARKS_DIR}/audio_store/{{dataset}}_{{split}}_{{rate}}hz.tsv"
    params:
        sample_rate="{rate}",


# The demo's peers: tiny random checkpoints in the real folder layouts.
rule demo_peer_model:
    output:
        f"{DEMO_MODELS_DIR}/peers/{{peer}}/config.json",
    log:
        f"{LOGS_DIR}/demo_peer_model/{{peer}}.log",
    conda:
        MODELS_ENV
    params:
        adapter=lambda wildcards: PEERS[wildcards.peer]["adapter"],
    script:
        "../scripts/make_demo_peer.py"


rule score_peer:
    input:
        model=lambda wildcards: f"{PEERS[wildcards.peer]['path']}/config.json",
        manifest=f"{DATA_DIR}/audioset/eval.jsonl",
        store=lambda wildcards: f"{DATA_DIR}/audioset/eval.{PEERS[wildcards.peer]['sample_rate']}hz.h5",
    output:
        scores=[f"{SCORES_DIR}/peers/{{peer}}/{name}.h5" for name in QUERY_SETS],
        collapse=f"{SCORES_DIR}/peers/{{peer}}/collapse.json",
    log:
        f"{LOGS_DIR}/score/peers/{{peer}}.log",
    benchmark:
        f"{BENCHMARKS_DIR}/score/peers/{{peer}}.tsv"
    conda:
        MODELS_ENV
    threads: LOADER_THREADS
    resources:
        **SCORE_RESOURCES,
    params:
        entry=lambda wildcards: PEERS[wildcards.peer],
        query_sets=QUERY_SETS,
        batch_size=config["peers"]["batch_size"],
    script:
        "../scripts/score.py"


# The peers table's rows: their results JSONs ({query set: path}) and collapse JSONs, by model.
PEERS_TABLE_RESULTS = results_by_model(peers_table_models(), PEERS_FRAMES)
PEERS_TABLE_COLLAPSE = {name: collapse_outputs()[name] for name in peers_table_models()}


rule peers_table:
    input:
        results=[
            path for paths in PEERS_TABLE_RESULTS.values() for path in paths.values()
        ],
        collapse=list(PEERS_TABLE_COLLAPSE.values()),
    output:
        **report_files(TABLES_DIR, {"peers": "peers"}, ("csv", "md", "tex"), "Tables"),
    log:
        f"{LOGS_DIR}/peers_table.log",
    localrule: True
    conda:
        BASE_ENV
    params:
        results=PEERS_TABLE_RESULTS,
        collapse=PEERS_TABLE_COLLAPSE,
        peers={f"peers/{name}": entry for name, entry in PEERS.items()},
        frames=PEERS_FRAMES,
    script:
        "../scripts/make_peer_table.py"
