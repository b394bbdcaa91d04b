"""Freesound-style metadata of the demo clips: users, licences, tags and the rows of TACOS's
``metadata.csv`` and Clotho's ``clotho_metadata_<split>.csv``.

The rows are plausible, not real: they give the readers every column of the releases to read.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tacos.data.formats import format_seconds
from tacos.demo.captions import pick
from tacos.demo.scenes import Scene

LICENSES = (
    "http://creativecommons.org/publicdomain/zero/1.0/",
    "http://creativecommons.org/licenses/by/3.0/",
    "http://creativecommons.org/licenses/by/4.0/",
    "http://creativecommons.org/licenses/by-nc/3.0/",
    "http://creativecommons.org/licenses/sampling+/1.0/",
)
USER_PREFIXES = ("field", "sound", "audio", "echo", "nature", "urban", "quiet", "deep", "lo")
USER_SUFFIXES = ("recordist", "walker", "hunter", "scapes", "fox", "lab", "works", "ears")
RECORDERS = ("Zoom H4n", "Tascam DR-40", "Zoom H5", "Sony PCM-D100", "Rode NT4", "smartphone")
ORIGINAL_FORMATS = (("wav", 16), ("wav", 24), ("flac", 16), ("flac", 24), ("aiff", 16), ("mp3", 16))
ORIGINAL_RATES = (44100, 48000, 96000)
# Freesound broad sound taxonomy (superclass, subclass) and tags of each event type.
FREESOUND_CLASSES = {
    "beep": (("Sound effects", "Alarms"), ("beep", "electronic", "signal")),
    "siren": (("Sound effects", "Alarms"), ("siren", "emergency", "ambulance")),
    "car_engine": (("Sound effects", "Vehicles"), ("car", "engine", "idle")),
    "knock": (("Sound effects", "Human sounds and actions"), ("knock", "door", "wood")),
    "clock_tick": (("Sound effects", "Objects / House appliances"), ("clock", "tick", "tock")),
    "bird_chirp": (("Soundscapes", "Nature"), ("bird", "chirp", "birdsong")),
    "rain": (("Soundscapes", "Nature"), ("rain", "weather", "drops")),
    "bell": (("Sound effects", "Bells"), ("bell", "church", "chime")),
    "speech": (("Speech", "Solo speech"), ("voice", "speech", "male")),
    "dog_bark": (("Sound effects", "Animals"), ("dog", "bark", "animal")),
    "phone_ring": (("Sound effects", "Bells"), ("telephone", "ring", "phone")),
    "stream": (("Soundscapes", "Nature"), ("water", "stream", "river")),
    "hammer": (("Sound effects", "Objects / House appliances"), ("hammer", "metal", "impact")),
    "whistling": (("Speech", "Solo speech"), ("whistle", "whistling", "melody")),
    "wind": (("Soundscapes", "Nature"), ("wind", "gust", "weather")),
    "bee_buzz": (("Sound effects", "Animals"), ("bee", "insect", "buzz")),
}
GENERIC_TAGS = ("field-recording", "ambience", "ambient", "outdoor", "indoor", "atmosphere")


def user_name(rng: np.random.Generator) -> str:
    """A Freesound-like user name."""
    return f"{pick(rng, USER_PREFIXES)}{pick(rng, USER_SUFFIXES)}{int(rng.integers(1, 100))}"


def tacos_metadata(rng: np.random.Generator, freesound_id: int, scene: Scene, weak: str) -> tuple:
    """A plausible ``metadata.csv`` row for a clip cut from a fictional Freesound upload."""
    by_length = sorted(scene.regions, key=lambda r: (r.onset - r.offset, r.onset))
    main = [region.event for region in by_length[:2]]
    (superclass, subclass), _ = FREESOUND_CLASSES[main[0]]
    tags = [tag for event in main for tag in FREESOUND_CLASSES[event][1]]
    tags.append(pick(rng, GENERIC_TAGS))
    title = " and ".join(FREESOUND_CLASSES[event][1][0] for event in main).capitalize()
    user = user_name(rng)
    file_type, bit_depth = pick(rng, ORIGINAL_FORMATS)
    whole_file = rng.random() < 0.5
    start = 0.0 if whole_file else round(float(rng.uniform(0.0, 60.0)), 3)
    end = round(start + scene.duration, 3)
    original = end if whole_file else round(end + float(rng.uniform(0.0, 60.0)), 3)
    ratings = int(rng.integers(0, 40))
    geotag = (
        f"{rng.uniform(-60.0, 70.0):.5f} {rng.uniform(-180.0, 180.0):.5f}"
        if rng.random() < 0.4
        else ""
    )
    return (
        f"{freesound_id}.mp3",
        ";".join(dict.fromkeys(tags)),
        freesound_id,
        f"https://freesound.org/people/{user}/sounds/{freesound_id}/",
        user,
        pick(rng, LICENSES),
        superclass,
        subclass,
        title,
        f"{weak} Recorded with a {pick(rng, RECORDERS)}.",
        format_seconds(original),
        pick(rng, ORIGINAL_RATES),
        bit_depth,
        file_type,
        int(rng.integers(5, 5000)),
        f"{rng.uniform(2.5, 5.0):.1f}" if ratings else "",
        geotag,
        format_seconds(start),
        format_seconds(end),
        f"{title.lower().replace(' ', '_')}_{int(rng.integers(1, 30)):02d}.{file_type}",
    )


def clotho_metadata(
    rng: np.random.Generator, name: str, sound_id: int, events: Sequence[str], duration: float
) -> tuple:
    """A ``clotho_metadata_<split>.csv`` row: the clip's tags, its Freesound link and the samples
    (at 44.1 kHz) it was cut from."""
    user = user_name(rng)
    first = int(rng.integers(0, 44100 * 20))
    tags = [tag for event in events for tag in FREESOUND_CLASSES[event][1][:2]]
    return (
        name,
        ";".join(dict.fromkeys(tags)),
        sound_id,
        f"https://freesound.org/people/{user}/sounds/{sound_id}",
        f"[{first}, {first + int(round(duration * 44100))}]",
        user,
        pick(rng, LICENSES),
    )
