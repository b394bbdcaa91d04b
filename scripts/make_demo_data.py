"""Rule demo_data: synthesise the demo TACOS, Clotho and AudioSet Strong datasets."""

from pathlib import Path

from tacos.data.synthetic import make_demo_data
from tacos.logs import setup_logging

setup_logging(snakemake.log[0])
out_dir = Path(snakemake.params.out_dir)
manifest = Path(snakemake.output[0])
if manifest.parent.resolve() != out_dir.resolve():
    raise ValueError(f"output {manifest} must lie directly in params.out_dir {out_dir}")
make_demo_data(out_dir, dict(snakemake.params.demo), workers=snakemake.threads)
