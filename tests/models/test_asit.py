"""ASiT backbone: PretrainedSED checkpoint names, strict loading, windows and frame counts."""

from __future__ import annotations

import pytest
import torch

from tacos.models.asit import (
    ASIT_STRONG_1_URL,
    ASiT,
    ASiTConfig,
    CheckpointError,
    backbone_state_dict,
    load_asit_checkpoint,
    split_windows,
)

TINY = ASiTConfig(embed_dim=32, depth=2, num_heads=2)


def pretrainedsed_backbone_keys(depth: int = 12, dim: int = 768) -> dict[str, tuple[int, ...]]:
    """Backbone parameters of PretrainedSED's ViT (models/asit/vision_transformer.py, vit_base
    with audio_size [128, 592], in_chans 1, num_classes 0, qkv_bias True), name -> shape."""
    keys = {
        "cls_token": (1, 1, dim),
        "pos_embed": (1, 1 + 8 * 37, dim),
        "patch_embed.proj.weight": (dim, 1, 16, 16),
        "patch_embed.proj.bias": (dim,),
    }
    for i in range(depth):
        block = f"blocks.{i}."
        keys |= {
            block + "norm1.weight": (dim,),
            block + "norm1.bias": (dim,),
            block + "attn.qkv.weight": (3 * dim, dim),
            block + "attn.qkv.bias": (3 * dim,),
            block + "attn.proj.weight": (dim, dim),
            block + "attn.proj.bias": (dim,),
            block + "norm2.weight": (dim,),
            block + "norm2.bias": (dim,),
            block + "mlp.fc1.weight": (4 * dim, dim),
            block + "mlp.fc1.bias": (4 * dim,),
            block + "mlp.fc2.weight": (dim, 4 * dim),
            block + "mlp.fc2.bias": (dim,),
        }
    return keys | {"norm.weight": (dim,), "norm.bias": (dim,)}


HEAD_KEYS = ("strong_head.weight", "strong_head.bias", "weak_head.weight", "weak_head.bias")


def release_checkpoint(backbone: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Laid out like ASIT_strong_1.pt: ``model.`` + backbone names, plus the 447-class heads
    (dropped by the loader whatever their values)."""
    heads = dict.fromkeys(HEAD_KEYS, torch.zeros(447))
    return {"model." + key: value for key, value in backbone.items()} | heads


def test_full_size_model_has_exactly_the_checkpoint_names_and_shapes():
    state = ASiT().state_dict()
    shapes = {key: tuple(value.shape) for key, value in state.items()}
    assert shapes == pretrainedsed_backbone_keys()
    assert len(shapes) == 150


def test_release_layout_maps_to_backbone_keys_by_dropping_prefix_and_heads():
    backbone = {key: torch.zeros(1) for key in pretrainedsed_backbone_keys()}
    assert backbone_state_dict(release_checkpoint(backbone)).keys() == backbone.keys()
    renamed = {"model.asit." + key: value for key, value in backbone.items()}
    assert backbone_state_dict(renamed).keys() == backbone.keys()


def test_checkpoint_round_trips_strictly(tmp_path):
    torch.manual_seed(1)
    source = ASiT(TINY).eval()
    path = tmp_path / "ASIT_strong_1.pt"
    torch.save(release_checkpoint(source.state_dict()), path)
    torch.manual_seed(2)
    target = ASiT(TINY).eval()
    load_asit_checkpoint(target, path)
    for key, value in source.state_dict().items():
        assert torch.equal(target.state_dict()[key], value), key
    waveform = torch.randn(1, 32000 * 2)
    with torch.no_grad():
        assert torch.equal(source(waveform), target(waveform))


def test_wrong_key_set_fails_naming_file_and_keys(tmp_path):
    state = ASiT(TINY).state_dict()
    state["blocks.0.attn.qkv.kernel"] = state.pop("blocks.0.attn.qkv.weight")
    state["head.weight"] = torch.zeros(3, 32)
    path = tmp_path / "broken.pt"
    torch.save(release_checkpoint(state), path)
    with pytest.raises(CheckpointError) as error:
        load_asit_checkpoint(ASiT(TINY), path)
    message = str(error.value)
    assert str(path) in message
    assert "1 missing keys (first 1: blocks.0.attn.qkv.weight)" in message
    assert "2 unexpected keys (first 2: blocks.0.attn.qkv.kernel, head.weight)" in message


def test_wrong_shapes_fail_with_both_shapes(tmp_path):
    path = tmp_path / "wide.pt"
    torch.save(
        release_checkpoint(ASiT(ASiTConfig(embed_dim=64, depth=2, num_heads=2)).state_dict()), path
    )
    with pytest.raises(CheckpointError, match=r"cls_token \(1, 1, 64\) != \(1, 1, 32\)"):
        load_asit_checkpoint(ASiT(TINY), path)


def test_unreadable_checkpoint_names_the_file(tmp_path):
    path = tmp_path / "truncated.pt"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="cannot read checkpoint .*truncated.pt"):
        load_asit_checkpoint(ASiT(TINY), path)


def test_missing_checkpoint_names_the_download_url(tmp_path):
    with pytest.raises(FileNotFoundError, match=ASIT_STRONG_1_URL):
        load_asit_checkpoint(ASiT(TINY), tmp_path / "absent.pt")


def test_fbank_of_30_seconds_has_2998_frames_of_128_bins():
    assert ASiT(TINY).fbank(torch.randn(2, 32000 * 30)).shape == (2, 2998, 128)


@pytest.mark.parametrize(
    ("frames", "windows"),
    [(2998, [999, 999, 999]), (999, [999]), (500, [500]), (1014, [999]), (1015, [999, 16])],
)
def test_split_windows_drops_only_remainders_shorter_than_a_patch(frames, windows):
    pieces = split_windows(torch.zeros(1, frames, 128), window=999, min_frames=16)
    assert [piece.shape[1] for piece in pieces] == windows


@pytest.mark.parametrize(
    ("seconds", "tokens", "expected"),
    [
        (30, "interleaved", 3 * (1 + 62 * 8)),
        (30, "frequency_mean", 3 * 62),
        (25, "interleaved", 2 * (1 + 62 * 8) + (1 + 31 * 8)),
        (25, "frequency_mean", 2 * 62 + 31),
    ],
)
def test_tiny_asit_frame_count(seconds, tokens, expected):
    model = ASiT(ASiTConfig(embed_dim=32, depth=1, num_heads=2, frame_tokens=tokens)).eval()
    with torch.no_grad():
        frames = model(torch.randn(2, 32000 * seconds))
    assert frames.shape == (2, expected, 32)


def test_position_grid_is_kept_at_pretraining_size_and_resized_otherwise():
    model = ASiT(TINY)
    assert model.position_embedding(592, 128) is model.pos_embed
    assert model.position_embedding(999, 128).shape == (1, 1 + 62 * 8, 32)
