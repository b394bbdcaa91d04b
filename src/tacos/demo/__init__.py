"""The embedded demo: procedurally synthesised TACOS, Clotho and AudioSet Strong look-alikes.

The datasets use the real releases' file formats and real AudioSet classes, so the same readers
serve the demo and the real data. In the order they build on each other: ``sounds`` synthesises
the 16 event types, ``scenes`` mixes them into clips, ``captions`` words them, ``freesound``
makes up their metadata rows, and ``datasets`` writes the three datasets (see it for the layout
and the config keys).
"""

from tacos.demo.datasets import (
    DEFAULT_CONFIG,
    make_demo_data,
    write_audioset_demo,
    write_clotho_demo,
    write_tacos_demo,
)
from tacos.demo.scenes import compose_scene
from tacos.demo.sounds import EVENTS, VOCABULARY, SoundEvent, synthesize_event

__all__ = [
    "DEFAULT_CONFIG",
    "EVENTS",
    "VOCABULARY",
    "SoundEvent",
    "compose_scene",
    "make_demo_data",
    "synthesize_event",
    "write_audioset_demo",
    "write_clotho_demo",
    "write_tacos_demo",
]
