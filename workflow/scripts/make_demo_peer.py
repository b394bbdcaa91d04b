"""Rule demo_peer_model: a tiny random checkpoint of one peer adapter, in its real folder layout."""

from pathlib import Path

from tacos.logs import setup_logging
from tacos.models.fixtures import query_texts
from tacos.models.peers.fixtures import TINY_WRITERS

setup_logging(snakemake.log[0])
TINY_WRITERS[snakemake.params.adapter](Path(snakemake.output[0]).parent, query_texts())
