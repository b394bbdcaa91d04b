"""Rule score_peer: a public model's frame scores on the AudioSet Strong eval clips, one score
file per query set, and the frame-collapse diagnostic of its frames."""

import torch

from tacos.data.audioset import query_set
from tacos.evaluation.scoring import ScoreTarget, score_query_sets
from tacos.logs import setup_logging
from tacos.models.peers.registry import load_peer

setup_logging(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
name = snakemake.wildcards.peer
model = load_peer(name, snakemake.params.entry)
targets = [
    ScoreTarget(*query_set(qs), out_path, query_set=qs)
    for qs, out_path in zip(snakemake.params.query_sets, snakemake.output.scores, strict=True)
]
score_query_sets(
    model,
    snakemake.input.manifest,
    snakemake.input.store,
    targets,
    min_seconds=0.0,
    batch_size=snakemake.params.batch_size,
    device="cuda" if torch.cuda.is_available() else "cpu",
    model_info=model.identity(snakemake.params.entry["path"]),
    collapse_path=snakemake.output.collapse,
)
