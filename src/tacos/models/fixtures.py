"""Release-layout stand-ins for the pretrained models, for tests and tiny workflows.

No model hub is reachable here, so the real ``ASIT_strong_1.pt`` and ``roberta-base`` cannot be
loaded. These writers produce files in the same layout, with random weights and small sizes,
deterministic for a seed, so that the real loading code runs on them unchanged:

- :func:`write_random_asit_release`: a torch file laid out like PretrainedSED's release v0.0.1
  ``ASIT_strong_1.pt``, a flat parameter dict (no ``state_dict`` wrapper) with the ViT under
  ``model.`` and two linear heads ``strong_head`` and ``weak_head`` of ``n_classes`` outputs
  (PretrainedSED's ``PredictionsWrapper.load_checkpoint`` renames ``model.`` to ``model.asit.``
  and then loads strictly, so the file holds exactly these keys).
- :func:`write_tiny_roberta`: a RoBERTa model folder (``save_pretrained``) with a tiny random
  config and a byte-level BPE tokenizer trained on the given texts, loadable offline with
  ``AutoModel``/``AutoTokenizer``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

import torch

from tacos.data.audioset import read_categories, read_class_list
from tacos.models.asit import ASiT, ASiTConfig

RELEASE_BACKBONE_PREFIX = "model."
RELEASE_HEADS = ("strong_head", "weak_head")
ROBERTA_SPECIAL_TOKENS = ("<s>", "<pad>", "</s>", "<unk>", "<mask>")
"""RoBERTa's special tokens in its id order: ``<s>`` 0, ``<pad>`` 1, ``</s>`` 2, ``<unk>`` 3."""


def random_asit_release(
    asit_config: ASiTConfig, n_classes: int = 447, seed: int = 0
) -> dict[str, torch.Tensor]:
    """The parameter dict of :func:`write_random_asit_release`, in the release file's key order.

    Every tensor is drawn from a generator seeded with ``seed`` (normal, std 0.02; LayerNorm
    weights around 1), so biases and norms are not trivially zero or one.
    """
    backbone = ASiT(asit_config).state_dict()
    generator = torch.Generator().manual_seed(seed)

    def draw(key: str, shape: torch.Size) -> torch.Tensor:
        values = torch.randn(shape, generator=generator) * 0.02
        return values + 1.0 if _is_layer_norm_weight(key) else values

    release = {
        RELEASE_BACKBONE_PREFIX + key: draw(key, value.shape) for key, value in backbone.items()
    }
    for head in RELEASE_HEADS:
        release[f"{head}.weight"] = draw(head, torch.Size((n_classes, asit_config.embed_dim)))
        release[f"{head}.bias"] = draw(head, torch.Size((n_classes,)))
    return release


def _is_layer_norm_weight(key: str) -> bool:
    return key.endswith(("norm1.weight", "norm2.weight")) or key == "norm.weight"


def write_random_asit_release(
    path: str | os.PathLike, asit_config: ASiTConfig, n_classes: int = 447, seed: int = 0
) -> Path:
    """Write a random ``ASIT_strong_1.pt`` look-alike for ``asit_config``; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(random_asit_release(asit_config, n_classes, seed), path)
    return path


def query_texts() -> list[str]:
    """The texts a tiny tokenizer is trained on: every class name and category sentence the
    evaluation queries with, so that no query falls apart into single bytes."""
    return read_class_list("train") + list(read_categories()["category_to_sentence"].values())


def train_byte_level_bpe(texts: Iterable[str], vocab_size: int = 512) -> tuple[dict, list]:
    """``(vocab, merges)`` of a byte-level BPE trained on ``texts`` with RoBERTa's special tokens
    first (ids 0-4); the 256 byte symbols are always in the vocabulary, so no text is unknown."""
    from tokenizers import ByteLevelBPETokenizer

    bpe = ByteLevelBPETokenizer(add_prefix_space=False)
    bpe.train_from_iterator(
        list(texts),
        vocab_size=vocab_size,
        min_frequency=1,
        special_tokens=list(ROBERTA_SPECIAL_TOKENS),
        show_progress=False,
    )
    model = json.loads(bpe.to_str())["model"]
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in model["merges"]]
    return dict(model["vocab"]), merges


def write_tiny_roberta(
    folder: str | os.PathLike,
    texts: Iterable[str],
    seed: int = 0,
    hidden_size: int = 32,
    num_layers: int = 2,
    num_heads: int = 2,
    intermediate_size: int = 64,
    vocab_size: int = 512,
    max_length: int = 64,
) -> Path:
    """Write a tiny random RoBERTa (``RobertaModel`` without pooler) and its tokenizer to
    ``folder`` with ``save_pretrained``; returns the folder.

    The tokenizer is a ``RobertaTokenizerFast`` over a byte-level BPE trained on ``texts``; the
    model's ``vocab_size`` is the tokenizer's length and its positions cover ``max_length``
    tokens (RoBERTa's positions start after the padding id, hence ``max_length + 2``).
    """
    from transformers import RobertaConfig, RobertaModel, RobertaTokenizerFast

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    vocab, merges = train_byte_level_bpe(texts, vocab_size)
    tokenizer = RobertaTokenizerFast(vocab=vocab, merges=merges, model_max_length=max_length)
    config = RobertaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        intermediate_size=intermediate_size,
        max_position_embeddings=max_length + 2,
        type_vocab_size=1,
        bos_token_id=tokenizer.bos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = RobertaModel(config, add_pooling_layer=False)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
