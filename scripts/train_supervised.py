"""Rule train_supervised: the demo encoder with a strong head, trained on AudioSet Strong labels."""

import torch

from tacos.logs import setup_logging
from tacos.training.run import SplitData
from tacos.training.stages import run_supervised

setup_logging(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
run_supervised(
    dict(snakemake.params.config),
    SplitData(snakemake.input.train_manifest, snakemake.input.train_store),
    snakemake.output.model,
    seed=snakemake.params.seed,
)
