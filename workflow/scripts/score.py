"""Rule score: frame scores of a trained model on the AudioSet Strong eval clips, one score file
per query set (the model is loaded and each clip embedded once for all of them), and the
frame-collapse diagnostic of its frames."""

import torch

from tacos.data.audioset import query_set
from tacos.evaluation.scoring import ScoreTarget, score_query_sets
from tacos.logs import setup_logging
from tacos.models.checkpoint import load_trained_model

setup_logging(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
model, spec = load_trained_model(
    snakemake.input.model, "cuda" if torch.cuda.is_available() else "cpu"
)
targets = [
    ScoreTarget(*query_set(name), out_path, query_set=name)
    for name, out_path in zip(snakemake.params.query_sets, snakemake.output.scores, strict=True)
]
score_query_sets(
    model,
    snakemake.input.manifest,
    snakemake.input.store,
    targets,
    min_seconds=spec.input_seconds,
    batch_size=snakemake.params.batch_size,
    model_info=spec.identity(snakemake.input.model),
    collapse_path=snakemake.output.collapse,
)
