"""The adapters by config name: one more peer is one module with a ``PeerModel`` subclass and
one line here."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from pathlib import Path

from tacos.models.peers.base import PeerModel

ADAPTERS = {
    "pe_audio_frame": "tacos.models.peers.pe_audio:PeAudioFrame",
    "clap": "tacos.models.peers.clap:ClapWindows",
}


def adapter_class(name: str) -> type[PeerModel]:
    if name not in ADAPTERS:
        raise ValueError(f"unknown peer adapter {name!r}; the adapters are {sorted(ADAPTERS)}")
    module, cls = ADAPTERS[name].split(":")
    return getattr(importlib.import_module(module), cls)


def load_peer(name: str, entry: Mapping) -> PeerModel:
    """The peer a config entry (``adapter``, ``path``, ``sample_rate`` and the adapter's own
    settings) describes, loaded from its local folder, in eval mode on the CPU."""
    settings = {key: value for key, value in entry.items() if key not in PeerModel.ENTRY_KEYS}
    cls = adapter_class(entry["adapter"])
    unknown = sorted(settings.keys() - cls.SETTINGS)
    if unknown:
        raise ValueError(
            f"peer {name!r}: adapter {entry['adapter']!r} takes no settings {unknown}; "
            f"its settings are {sorted(cls.SETTINGS)}"
        )
    folder = _folder(name, entry)
    try:
        model = cls.from_folder(folder, **settings)
    except (OSError, ValueError) as error:
        raise ValueError(
            f"peer {name!r}: cannot load {folder} as a {entry['adapter']} checkpoint: "
            f"{str(error).splitlines()[0]}. Download it again with {_download(entry, folder)}"
        ) from error
    if model.sample_rate != int(entry["sample_rate"]):
        raise ValueError(
            f"peer {name!r}: {entry['path']} takes {model.sample_rate} Hz audio but its config "
            f"entry says sample_rate: {entry['sample_rate']}; set it to {model.sample_rate}"
        )
    model.name = name
    return model.eval()


def _folder(name: str, entry: Mapping) -> Path:
    folder = Path(entry["path"]).expanduser()
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(
            f"peer {name!r}: no model folder at {folder} (config.json missing). Without a "
            f"reachable model hub, download the checkpoint once: {_download(entry, folder)}, "
            f"or set peers.models.{name}.path to the folder that holds config.json, the "
            "processor files and the weights"
        )
    return folder


def _download(entry: Mapping, folder: Path) -> str:
    """The command that puts the entry's checkpoint into ``folder``."""
    return f"`hf download {entry.get('source') or '<org>/<model>'} --local-dir {folder}`"
