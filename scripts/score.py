"""Rule score: frame scores of a trained model on the AudioSet Strong eval clips for a query set."""

import torch

from tacos.evaluation.scoring import query_set, score_clips
from tacos.logs import setup_logging
from tacos.models.checkpoint import load_trained_model

setup_logging(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
model = load_trained_model(snakemake.input.model, "cuda" if torch.cuda.is_available() else "cpu")
class_names, queries = query_set(snakemake.params.query_set)
score_clips(
    model,
    snakemake.input.manifest,
    snakemake.input.store,
    class_names,
    queries,
    snakemake.output[0],
    batch_size=snakemake.params.batch_size,
)
