"""Rule prepare_<dataset>: read a release into per-split manifests and a data report."""

from pathlib import Path

from tacos.data.prepare import prepare_dataset
from tacos.logs import setup_logging

setup_logging(snakemake.log[0])
prepare_dataset(
    snakemake.params.dataset,
    dict(snakemake.params.source),
    Path(snakemake.output.report).parent,
)
