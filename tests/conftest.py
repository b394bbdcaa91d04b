"""Test-wide settings: no model hub is reachable here, so fail fast instead of waiting."""

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
