"""Release-layout fixtures: a random ASIT_strong_1.pt look-alike and a tiny offline RoBERTa."""

from __future__ import annotations

import pytest
import torch

from tacos.models.asit import ASiT, ASiTConfig, backbone_state_dict, load_asit_checkpoint
from tacos.models.fixtures import (
    random_asit_release,
    train_byte_level_bpe,
    write_random_asit_release,
    write_tiny_roberta,
)

TINY = ASiTConfig(embed_dim=64, depth=2, num_heads=2)
CAPTIONS = [
    "A dog barks in the distance.",
    "Rain falls steadily on a tin roof",
    "a man speaks while birds chirp",
    "Footsteps on gravel, then a door slams!",
]


def expected_release_keys(depth: int) -> list[str]:
    """ASIT_strong_1.pt's names (PretrainedSED: ``model.`` + ViT names, then both heads), in
    the state-dict order of ``PredictionsWrapper(ASiTWrapper())``."""
    block = [
        "norm1.weight",
        "norm1.bias",
        "attn.qkv.weight",
        "attn.qkv.bias",
        "attn.proj.weight",
        "attn.proj.bias",
        "norm2.weight",
        "norm2.bias",
        "mlp.fc1.weight",
        "mlp.fc1.bias",
        "mlp.fc2.weight",
        "mlp.fc2.bias",
    ]
    backbone = ["cls_token", "pos_embed", "patch_embed.proj.weight", "patch_embed.proj.bias"]
    backbone += [f"blocks.{i}.{name}" for i in range(depth) for name in block]
    backbone += ["norm.weight", "norm.bias"]
    heads = ["strong_head.weight", "strong_head.bias", "weak_head.weight", "weak_head.bias"]
    return ["model." + key for key in backbone] + heads


def test_random_release_has_the_release_key_layout_and_shapes(tmp_path):
    path = write_random_asit_release(tmp_path / "sub" / "ASIT_strong_1.pt", TINY)
    release = torch.load(path, weights_only=True)
    assert type(release) is dict
    assert list(release) == expected_release_keys(depth=2)
    assert release["model.pos_embed"].shape == (1, 1 + 8 * 37, 64)
    assert release["model.patch_embed.proj.weight"].shape == (64, 1, 16, 16)
    assert release["strong_head.weight"].shape == (447, 64)
    assert release["weak_head.bias"].shape == (447,)
    assert all(value.dtype == torch.float32 for value in release.values())
    backbone = backbone_state_dict(release)
    model_state = ASiT(TINY).state_dict()
    assert list(backbone) == list(model_state)
    assert {k: v.shape for k, v in backbone.items()} == {k: v.shape for k, v in model_state.items()}


def test_random_release_loads_strictly_through_our_asit_loader(tmp_path):
    path = write_random_asit_release(tmp_path / "ASIT_strong_1.pt", TINY, seed=5)
    release = torch.load(path, weights_only=True)
    model = ASiT(TINY)
    load_asit_checkpoint(model, path)
    for key, value in model.state_dict().items():
        assert torch.equal(value, release["model." + key]), key
    assert release["model.norm.weight"].mean().item() == pytest.approx(1.0, abs=0.02)
    assert release["model.blocks.0.attn.qkv.bias"].abs().sum() > 0


def test_random_release_is_deterministic_for_a_seed():
    first, again, other = (random_asit_release(TINY, n_classes=5, seed=s) for s in (0, 0, 1))
    assert all(torch.equal(first[key], again[key]) for key in first)
    assert not torch.equal(first["model.cls_token"], other["model.cls_token"])
    assert first["strong_head.weight"].shape == (5, 64)
    assert not torch.equal(first["strong_head.weight"], first["weak_head.weight"])


def test_byte_level_bpe_has_roberta_special_ids_and_is_deterministic():
    vocab, merges = train_byte_level_bpe(CAPTIONS)
    assert [vocab[t] for t in ("<s>", "<pad>", "</s>", "<unk>", "<mask>")] == [0, 1, 2, 3, 4]
    assert len(vocab) >= 5 + 256 and merges
    assert train_byte_level_bpe(CAPTIONS) == (vocab, merges)


@pytest.fixture(scope="module")
def tiny_roberta(tmp_path_factory):
    return write_tiny_roberta(tmp_path_factory.mktemp("roberta"), CAPTIONS, seed=0)


def test_tiny_roberta_loads_offline_as_a_roberta_tokenizer_and_model(tiny_roberta):
    from transformers import AutoModel, AutoTokenizer, RobertaModel, RobertaTokenizerFast

    tokenizer = AutoTokenizer.from_pretrained(tiny_roberta)
    model = AutoModel.from_pretrained(tiny_roberta, add_pooling_layer=False)
    assert isinstance(tokenizer, RobertaTokenizerFast)
    assert isinstance(model, RobertaModel) and model.pooler is None
    assert model.config.model_type == "roberta"
    assert model.config.vocab_size == len(tokenizer)
    assert (model.config.hidden_size, model.config.num_hidden_layers) == (32, 2)
    assert model.config.pad_token_id == tokenizer.pad_token_id == 1
    ids = tokenizer(["a dog barks", "ünïcode ☃ never seen"], padding=True)["input_ids"]
    assert ids[0][0] == tokenizer.cls_token_id == 0
    assert tokenizer.eos_token_id in ids[0] and tokenizer.unk_token_id not in sum(ids, [])
    assert max(sum(ids, [])) < model.config.vocab_size
    assert tokenizer.decode(ids[1], skip_special_tokens=True) == "ünïcode ☃ never seen"


def test_tiny_roberta_encodes_captions_through_the_text_encoder(tiny_roberta):
    from tacos.models.text import TextEncoder

    encoder = TextEncoder(str(tiny_roberta), proj_dim=16).eval()
    with torch.no_grad():
        embeddings = encoder.encode(["A dog barks!", "rain falls", "a dog barks"])
    assert embeddings.shape == (3, 16)
    torch.testing.assert_close(embeddings.norm(dim=1), torch.ones(3))
    assert torch.equal(embeddings[0], embeddings[2])
    assert not torch.allclose(embeddings[0], embeddings[1])


def test_tiny_roberta_is_deterministic_for_a_seed(tmp_path, tiny_roberta):
    again = write_tiny_roberta(tmp_path / "again", CAPTIONS, seed=0)
    other = write_tiny_roberta(tmp_path / "other", CAPTIONS, seed=1)
    for name in ("model.safetensors", "tokenizer.json", "config.json"):
        assert (again / name).read_bytes() == (tiny_roberta / name).read_bytes(), name
    assert (other / "model.safetensors").read_bytes() != (again / "model.safetensors").read_bytes()
    assert (other / "tokenizer.json").read_bytes() == (again / "tokenizer.json").read_bytes()
