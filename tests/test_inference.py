"""The inference layer: batch input lengths and one scorer call for every model kind."""

import numpy as np
import torch
from tiny_model import RATE, TINY_MODEL

from tacos.inference import batch_frames, batch_scorer, frame_step, padded_samples
from tacos.models.dual import build_model
from tacos.models.supervised import SupervisedSED


def test_batches_are_padded_to_ten_seconds_at_least_in_whole_frames():
    assert padded_samples(round(9.5 * RATE), RATE, 0.04, 10.0) == 10 * RATE
    assert padded_samples(10 * RATE, RATE, 0.04, 10.0) == 10 * RATE
    assert padded_samples(10 * RATE + 1, RATE, 0.04, 10.0) == 10 * RATE + 640
    assert padded_samples(100, 32000, 0.02, 0.0) == 640


def test_a_dual_encoder_scores_every_query_set_from_one_embedding_of_the_batch():
    torch.manual_seed(0)
    model = build_model(TINY_MODEL).eval()
    waveforms = 0.1 * torch.randn(2, 2 * RATE)
    lengths = torch.tensor([2 * RATE, RATE])
    queries = [["Bark", "Speech"], ["Siren"]]
    output = batch_scorer(model, queries, [None, None])(waveforms, lengths)
    frames = batch_frames(model, waveforms, lengths)
    torch.testing.assert_close(output.frames, frames)
    for set_queries, scores in zip(queries, output.scores, strict=True):
        with torch.no_grad():
            text = model.embed_text(set_queries)
        expected = torch.einsum("btd,kd->btk", frames, text).numpy()
        np.testing.assert_allclose(scores, expected, atol=1e-6)
    assert frame_step(model) == 0.04


def test_a_supervised_model_gives_its_frames_and_the_query_sets_columns():
    torch.manual_seed(0)
    backbone = build_model(TINY_MODEL).audio_backbone
    model = SupervisedSED(backbone).eval()
    waveforms = 0.1 * torch.randn(1, 10 * RATE)
    output = batch_scorer(model, [[], []], ["classes407", "categories50"])(
        waveforms, torch.tensor([10 * RATE])
    )
    assert output.frames.shape == (1, 250, backbone.output_dim)
    assert [scores.shape for scores in output.scores] == [(1, 250, 407), (1, 250, 50)]
    assert frame_step(model) == 0.04
