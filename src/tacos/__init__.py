"""The TACOS reproduction: data, caption cleaning, models, training, evaluation and report.

Layers, each importing only itself and those listed before it: ``names``, ``frames`` and
``logs`` (the shared names, the frame grid, logging); ``data`` (releases to manifests and audio
stores), ``demo`` (the embedded demo's generated datasets) and ``captions`` (the cleaning
stage); ``models`` (the dual encoder, the supervised head, the public peers) and ``losses``;
``training``; ``inference`` (frame embeddings and scores of every model kind); ``evaluation``
(scores, metrics, results); ``tables``, ``peer_tables``, ``plots`` and ``detect``; ``cli``. The
workflow's scripts (``workflow/scripts/``) call into these, and ``workflow/rules/common.smk``
reads ``names``.
"""
