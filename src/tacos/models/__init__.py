"""Dual audio-text encoder of the paper (ASiT + RoBERTa) and of the CPU demo (CNN + MiniLM).

Import from the submodules (``tacos.models.dual.build_model`` etc.): this package stays cheap to
import, and ``transformers`` is only loaded when a text encoder is built.
"""
