"""Public audio-text checkpoints scored under the TACOS protocol (the ``peers`` part of the DAG).

Each adapter wraps one ``transformers`` model family behind ``PeerModel`` (``base``): query
embeddings, one clip's frame embeddings, and the model's own frame scores. ``load_peer`` builds
the adapter a config entry names (``registry``); ``fixtures`` writes tiny random checkpoints in
the same folder layout for tests and the demo.
"""
