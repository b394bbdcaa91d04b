"""Rule demo_peer_model: a tiny random checkpoint of one peer adapter, in its real folder layout."""

from pathlib import Path

from tacos.data.audioset import read_categories, read_class_list
from tacos.logs import setup_logging
from tacos.models.peers.fixtures import TINY_WRITERS

setup_logging(snakemake.log[0])
texts = read_class_list("train") + list(read_categories()["category_to_sentence"].values())
TINY_WRITERS[snakemake.params.adapter](Path(snakemake.output[0]).parent, texts)
