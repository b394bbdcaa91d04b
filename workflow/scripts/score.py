"""Rules score and score_peer: frame scores of a trained model (score) or of a public model
(score_peer: its config entry in params) on the AudioSet Strong eval clips, one score file per
query set (the model is loaded and each clip embedded once for all of them), and the
frame-collapse diagnostic of its frames."""

import torch

from tacos.data.audioset import query_set
from tacos.evaluation.scoring import ScoreTarget, score_query_sets
from tacos.logs import setup_logging
from tacos.models.checkpoint import load_trained_model
from tacos.models.peers.registry import load_peer

setup_logging(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
device = "cuda" if torch.cuda.is_available() else "cpu"
entry = snakemake.params.get("entry")
if entry is None:
    model, spec = load_trained_model(snakemake.input.model, device)
    min_seconds, model_info = spec.input_seconds, spec.identity(snakemake.input.model)
else:  # a peer is scored on each clip at its real length
    model = load_peer(snakemake.wildcards.peer, entry)
    min_seconds, model_info = 0.0, model.identity(entry["path"])
targets = [
    ScoreTarget(*query_set(name), out_path, query_set=name)
    for name, out_path in zip(snakemake.params.query_sets, snakemake.output.scores, strict=True)
]
score_query_sets(
    model,
    snakemake.input.manifest,
    snakemake.input.store,
    targets,
    min_seconds=min_seconds,
    batch_size=snakemake.params.batch_size,
    device=device,
    model_info=model_info,
    collapse_path=snakemake.output.collapse,
)
