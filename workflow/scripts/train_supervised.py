"""Rule train_supervised: the demo encoder with a strong head, trained on AudioSet Strong labels."""

import torch

from tacos.logs import setup_logging
from tacos.training.run import SplitData, check_gpus
from tacos.training.stages import run_supervised

setup_logging(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
check_gpus(
    int(snakemake.resources.get("gpu", 0)), snakemake.params.config["training"]["accelerator"]
)
run_supervised(
    dict(snakemake.params.config),
    SplitData(snakemake.input.train_manifest, snakemake.input.train_store),
    snakemake.output.model,
    seed=snakemake.params.seed,
)
