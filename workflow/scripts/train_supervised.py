"""Rule train_supervised: the demo encoder with a strong head, trained on AudioSet Strong labels."""

from tacos.training.run import SplitData, start_training_job
from tacos.training.stages import run_supervised

config = dict(snakemake.params.config)
start_training_job(snakemake.log[0], snakemake.threads, snakemake.resources, config["training"])
run_supervised(
    config,
    SplitData(snakemake.input.train_manifest, snakemake.input.train_store),
    snakemake.output.model,
    seed=snakemake.params.seed,
)
