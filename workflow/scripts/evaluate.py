"""Rule evaluate: PSDS1 and pAUROC of a score file, written as the results JSON.

The metric workers are spawned processes, which import this file again: the guard keeps them
from running the rule a second time.
"""

from tacos.evaluation.report import evaluate, write_results
from tacos.logs import setup_logging

if __name__ == "__main__":
    setup_logging(snakemake.log[0])
    results = evaluate(
        snakemake.input.scores,
        snakemake.input.manifest,
        snakemake.params.query_set,
        frames=snakemake.params.frames,
        clips=snakemake.params.clips,
        workers=snakemake.threads,
        n_bootstrap=snakemake.params.n_bootstrap,
        engine=snakemake.params.engine,
        seed=snakemake.params.seed,
        manifest_report=snakemake.input.get("manifest_report"),
    )
    write_results(results, snakemake.output[0])
