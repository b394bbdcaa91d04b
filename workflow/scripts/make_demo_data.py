"""Rule demo_data: synthesise the demo TACOS, Clotho and AudioSet Strong datasets.

They are written next to the rule's output, ``demo_manifest.json``.
"""

from pathlib import Path

from tacos.demo import make_demo_data
from tacos.logs import setup_logging

setup_logging(snakemake.log[0])
make_demo_data(
    Path(snakemake.output[0]).parent, dict(snakemake.params.demo), workers=snakemake.threads
)
