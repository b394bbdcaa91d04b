"""Rule fetch: download, verify and unpack one dataset into the folder of its report.

The output is ``<folder>/fetch_report.json`` rather than a ``directory()``, so a failed job keeps
its partial downloads (Snakemake deletes a failed directory output) and a rerun resumes them.
"""

from pathlib import Path

from tacos.data.fetch import fetch_dataset
from tacos.logs import setup_logging

setup_logging(snakemake.log[0])
fetch_dataset(
    snakemake.params.dataset,
    Path(snakemake.output[0]).parent,
    snakemake.params.base_url,
)
