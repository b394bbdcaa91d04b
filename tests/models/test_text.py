"""Text tower: caption preprocessing, the bundled MiniLM, de-duplication and clear failures."""

from __future__ import annotations

import string

import huggingface_hub.constants
import pytest
import torch

from tacos.models.text import (
    BUNDLED_MINILM,
    TextEncoder,
    TextModelNotFoundError,
    pool_tokens,
    preprocess_caption,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("A Dog, barks!", "a dog barks"),
        ("  Rain   falls\ton the ROOF...  ", "rain   falls\ton the roof"),
        ("a dog , barks", "a dog  barks"),  # inner whitespace kept, as the authors do
        ("Male speech, man speaking", "male speech man speaking"),
        ("A dog-like (odd) 'sound'?", "a doglike odd sound"),
        ("", ""),
    ],
)
def test_preprocess_caption_is_the_authors_lower_translate_strip(raw, expected):
    assert preprocess_caption(raw) == expected
    authors = raw.lower().translate(str.maketrans("", "", string.punctuation)).strip()
    assert preprocess_caption(raw) == authors


def test_pool_tokens_first_takes_token_zero_and_mean_ignores_padding():
    states = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]]])
    mask = torch.tensor([[1, 1, 0]])
    assert torch.equal(pool_tokens(states, mask, "first"), torch.tensor([[1.0, 2.0]]))
    assert torch.equal(pool_tokens(states, mask, "mean"), torch.tensor([[2.0, 3.0]]))


@pytest.fixture(scope="module")
def minilm() -> TextEncoder:
    torch.manual_seed(0)
    return TextEncoder(BUNDLED_MINILM, proj_dim=48, pooling="mean").eval()


def test_bundled_minilm_gives_unit_norm_embeddings_of_projection_size(minilm):
    with torch.no_grad():
        embeddings = minilm.encode(["a dog barks", "rain falls on a tin roof", "a car passes"])
    assert minilm.hidden_dim == 384
    assert embeddings.shape == (3, 48)
    assert torch.allclose(embeddings.norm(dim=-1), torch.ones(3), atol=1e-5)


def test_duplicate_captions_are_tokenised_once_and_scattered_back(minilm, monkeypatch):
    seen: list[list[str]] = []
    tokenizer = minilm.tokenizer

    def recording_tokenizer(texts, **kwargs):
        seen.append(list(texts))
        return tokenizer(texts, **kwargs)

    monkeypatch.setattr(minilm, "tokenizer", recording_tokenizer)
    captions = ["A Dog, barks!", "rain falls", "a dog barks", "Rain falls.", "a dog barks"]
    with torch.no_grad():
        embeddings = minilm.encode(captions)
    assert seen == [["a dog barks", "rain falls"]]
    assert embeddings.shape == (5, 48)
    assert torch.equal(embeddings[0], embeddings[2])
    assert torch.equal(embeddings[0], embeddings[4])
    assert torch.equal(embeddings[1], embeddings[3])
    assert not torch.allclose(embeddings[0], embeddings[1])


def test_punctuation_and_case_do_not_change_the_embedding(minilm):
    with torch.no_grad():
        noisy = minilm.encode(["A Dog, barks!"])
        clean = minilm.encode(["a dog barks"])
    assert torch.equal(noisy, clean)


def test_empty_caption_list_gives_empty_matrix(minilm):
    assert minilm.encode([]).shape == (0, 48)


def test_missing_hub_model_fails_fast_naming_model_and_local_path_fix(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(TextModelNotFoundError) as error:
        TextEncoder("roberta-base-not-cached-here")
    message = str(error.value)
    assert "'roberta-base-not-cached-here'" in message
    assert "local folder" in message
    assert "text.model" in message


def test_missing_local_folder_is_reported_as_such(tmp_path):
    folder = tmp_path / "models" / "roberta-base"
    with pytest.raises(TextModelNotFoundError, match="does not exist"):
        TextEncoder(str(folder))


def test_frozen_encoder_trains_only_the_projection_and_runs_each_caption_once(monkeypatch):
    encoder = TextEncoder(BUNDLED_MINILM, proj_dim=8, pooling="mean", freeze=True)
    calls = []
    original = encoder.transformer.forward
    monkeypatch.setattr(
        encoder.transformer,
        "forward",
        lambda **kwargs: calls.append(len(kwargs["input_ids"])) or original(**kwargs),
    )
    encoder.train()
    assert not encoder.transformer.training
    first = encoder.encode(["a dog barks", "rain falls"])
    first.sum().backward()
    second = encoder.encode(["Rain falls!", "a bell rings"])
    assert calls == [2, 1]  # only "a bell rings" is new the second time
    assert torch.allclose(first[1], second[0])
    assert encoder.projection.weight.grad is not None
    assert all(not p.requires_grad for p in encoder.transformer.parameters())
