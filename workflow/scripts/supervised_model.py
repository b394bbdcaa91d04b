"""Rule supervised_model: ASIT_strong_1 with its own strong head as a scorable checkpoint."""

from tacos.logs import setup_logging
from tacos.models.checkpoint import write_supervised_checkpoint

setup_logging(snakemake.log[0])
write_supervised_checkpoint(dict(snakemake.params.audio), snakemake.output.model)
