"""Rule audio_store: decode a manifest's audio once into the HDF5 store training reads.

Its DataReport (clips that could not be decoded) lands next to it as ``<store>.report.json``.
"""

from tacos.data.store import build_audio_store
from tacos.logs import setup_logging

setup_logging(snakemake.log[0])
build_audio_store(
    snakemake.input.manifest,
    snakemake.output.store,
    int(snakemake.params.sample_rate),
    threads=snakemake.threads,
)
