"""Rules pretrain and finetune: train one stage and keep its evaluated weights as the output."""

import torch

from tacos.logs import setup_logging
from tacos.training.run import SplitData, check_gpus
from tacos.training.stages import run_stage

setup_logging(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
check_gpus(
    int(snakemake.resources.get("gpu", 0)), snakemake.params.config["training"]["accelerator"]
)
run_stage(
    dict(snakemake.params.config),
    snakemake.wildcards.get("stage", "pretrain"),
    SplitData(snakemake.input.train_manifest, snakemake.input.train_store),
    SplitData(snakemake.input.val_manifest, snakemake.input.val_store),
    snakemake.output.model,
    seed=snakemake.params.seed,
    delta=snakemake.params.get("delta"),
    init_checkpoint=snakemake.input.get("init"),
    backbone_checkpoint=snakemake.input.get("backbone"),
)
