"""The names every layer and the workflow share: stages, query sets, frame protocols, splits.

One home, imported by the package and by ``workflow/rules/common.smk`` (so this module imports
nothing: the workflow reads it before any rule runs).
"""

FINETUNE_STAGES = ("weak", "strong", "strong_intra")
"""TACOS fine-tuning stages, each trained at a frame duration delta; ``strong_intra`` is strong
fine-tuning with intra-clip negatives (the ablation)."""
STAGES = ("pretrain", *FINETUNE_STAGES)
"""Every training stage of an audio-text model (``supervised`` is the separate baseline)."""
QUERY_SETS = ("classes407", "categories50")
"""The 407 AudioSet classes queried by display name, the 50 categories queried by a sentence."""
FRAME_PROTOCOLS = ("untrimmed", "trimmed")
"""``untrimmed``: every stored frame (the authors'); ``trimmed``: those before the clip's end."""
DATASET_SPLITS = {
    "tacos": ("development", "test"),
    "clotho": ("development", "validation", "evaluation"),
    "audioset": ("eval",),
    # the demo's AudioSet Strong training split, for the supervised pretraining of its encoder
    "audioset_train": ("train",),
}
"""The splits each dataset's prepare step writes, ``<split>.jsonl``."""
