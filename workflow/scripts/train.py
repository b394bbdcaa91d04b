"""Rules pretrain and finetune: train one stage and keep its evaluated weights as the output."""

from tacos.training.run import SplitData, start_training_job
from tacos.training.stages import run_stage

config = dict(snakemake.params.config)
start_training_job(snakemake.log[0], snakemake.threads, snakemake.resources, config["training"])
run_stage(
    config,
    snakemake.wildcards.get("stage", "pretrain"),
    SplitData(snakemake.input.train_manifest, snakemake.input.train_store),
    SplitData(snakemake.input.val_manifest, snakemake.input.val_store),
    snakemake.output.model,
    seed=snakemake.params.seed,
    delta=snakemake.params.get("delta"),
    init_checkpoint=snakemake.input.get("init"),
    backbone_checkpoint=snakemake.input.get("backbone"),
)
