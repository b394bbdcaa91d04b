"""Models: the dual audio-text encoder, the supervised SED head and the public peers.

``dual`` builds the paper's encoder (``asit`` or the demo's ``demo_encoder``, a BiGRU, and the
``text`` tower); ``supervised`` is the strong-head baseline; ``checkpoint`` saves and rebuilds a
trained model from its file alone; ``fixtures`` writes random-weight stand-ins in the releases'
layouts; ``peers`` wraps public checkpoints for scoring.

Import from the submodules (``tacos.models.dual.build_model`` etc.): this package stays cheap to
import, and ``transformers`` is only loaded when a text encoder is built.
"""
