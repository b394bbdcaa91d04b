"""Tiny random peer checkpoints in the real folder layout (``save_pretrained`` of the model and
of its processor), for tests and the demo: no model hub is reachable here.

The tokenizer is a byte-level BPE trained on the given texts (``tacos.models.fixtures``); the
feature extractors are the real ones with their default settings (48 kHz). Weights are drawn
from a seeded generator, and the logit scale and bias are set so that scores vary (a fresh
PE-A-Frame has scale 0, which would give every frame the same score).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import torch

from tacos.models.fixtures import train_byte_level_bpe

TINY_LOGIT_SCALE = 10.0
TINY_LOGIT_BIAS = -5.0


def _tokenizer(texts: Iterable[str], max_length: int = 64):
    from transformers import RobertaTokenizerFast

    vocab, merges = train_byte_level_bpe(texts, vocab_size=400)
    return RobertaTokenizerFast(vocab=vocab, merges=merges, model_max_length=max_length)


def _save(folder: str | os.PathLike, model, processor) -> Path:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    processor.save_pretrained(folder)
    model.save_pretrained(folder)
    return folder


def write_tiny_pe_audio_frame(
    folder: str | os.PathLike, texts: Iterable[str], seed: int = 0
) -> Path:
    """A ``PeAudioFrameLevelModel`` folder with a 2-layer ModernBERT and a 2-layer audio encoder
    on the real DAC strides (40 ms frames at 48 kHz)."""
    from transformers import (
        PeAudioConfig,
        PeAudioFeatureExtractor,
        PeAudioFrameLevelModel,
        PeAudioProcessor,
    )

    tokenizer = _tokenizer(texts)
    special = {
        "pad_token_id": tokenizer.pad_token_id,
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "cls_token_id": tokenizer.bos_token_id,
        "sep_token_id": tokenizer.eos_token_id,
    }
    text = {"model_type": "modernbert", "vocab_size": len(tokenizer), "hidden_size": 32}
    text |= {"intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2}
    text |= {"max_position_embeddings": 64, "local_attention": 16, **special}
    dac = {"encoder_hidden_size": 4, "hidden_size": 32, "codebook_dim": 8}
    audio = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2}
    audio |= {"num_attention_heads": 2, "head_dim": 16, "dac_config": dac}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = PeAudioFrameLevelModel(PeAudioConfig(text_config=text, audio_config=audio))
    with torch.no_grad():
        model.text_audio_logit_scale.fill_(TINY_LOGIT_SCALE)
        model.text_audio_logit_bias.fill_(TINY_LOGIT_BIAS)
    processor = PeAudioProcessor(feature_extractor=PeAudioFeatureExtractor(), tokenizer=tokenizer)
    return _save(folder, model, processor)


def write_tiny_clap(folder: str | os.PathLike, texts: Iterable[str], seed: int = 0) -> Path:
    """A ``ClapModel`` folder with a 2-layer RoBERTa and a one-block-per-stage HTSAT, and the
    unfused models' feature extractor (``rand_trunc``, ``repeatpad``)."""
    from transformers import ClapConfig, ClapFeatureExtractor, ClapModel, ClapProcessor

    tokenizer = _tokenizer(texts)
    text = {"vocab_size": len(tokenizer), "hidden_size": 32, "intermediate_size": 64}
    text |= {"num_hidden_layers": 2, "num_attention_heads": 2, "max_position_embeddings": 66}
    text |= {"pad_token_id": tokenizer.pad_token_id, "projection_dim": 16}
    audio = {"hidden_size": 64, "projection_dim": 16, "depths": [1, 1, 1, 1]}
    audio |= {"num_attention_heads": [1, 1, 2, 2], "patch_embeds_hidden_size": 8}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = ClapModel(ClapConfig(text_config=text, audio_config=audio, projection_dim=16))
    extractor = ClapFeatureExtractor(truncation="rand_trunc", padding="repeatpad")
    processor = ClapProcessor(feature_extractor=extractor, tokenizer=tokenizer)
    return _save(folder, model, processor)


TINY_WRITERS = {"pe_audio_frame": write_tiny_pe_audio_frame, "clap": write_tiny_clap}
"""The tiny checkpoint writer of each adapter (``registry.ADAPTERS``' names)."""
