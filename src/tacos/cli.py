"""The ``tacos`` command: each workflow step, runnable on its own outside Snakemake."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import yaml

from tacos.data.fetch import DATASETS
from tacos.logs import setup_logging


def _fetch(args: argparse.Namespace) -> int:
    """1 with a message on stderr when the download or its check fails."""
    from tacos.data.fetch import DownloadError, fetch_dataset
    from tacos.data.report import DataFormatError

    try:
        report = fetch_dataset(args.dataset, args.dest, args.base_url)
    except (DownloadError, DataFormatError, FileExistsError) as err:
        print(f"tacos fetch: {err}", file=sys.stderr)
        return 1
    print(
        f"{args.dataset}: {len(report['files'])} files, {report['total_bytes']} bytes verified "
        f"in {args.dest}"
    )
    return 0


def _prepare(args: argparse.Namespace) -> int:
    from tacos.data.prepare import prepare_dataset

    config = yaml.safe_load(Path(args.config).read_text(encoding="utf-8"))
    report = prepare_dataset(args.dataset, config["data"][args.dataset], args.out)
    print(report.summary())
    return 0


def _demo_data(args: argparse.Namespace) -> int:
    from tacos.demo import make_demo_data

    config = yaml.safe_load(Path(args.config).read_text(encoding="utf-8"))
    make_demo_data(args.out, config["data"]["demo"])
    return 0


def _build_store(args: argparse.Namespace) -> int:
    from tacos.data.store import build_audio_store

    build_audio_store(args.manifest, args.out, args.sample_rate, threads=args.threads)
    return 0


def _detect(args: argparse.Namespace) -> int:
    from tacos.data.audio import AudioReadError

    try:
        from tacos.detect import DetectionSettings, run_detection
    except ModuleNotFoundError as missing:
        raise SystemExit(
            f"tacos detect: error: {missing.name} is not installed; detection needs the models "
            "extra: pip install 'tacos-reproduction[models]'"
        ) from missing

    settings = DetectionSettings(
        thresholds=tuple(args.threshold or (0.5,)),
        median_filter=args.median_filter,
        min_duration=args.min_duration,
        window=args.window,
        hop=args.hop,
    )
    try:
        detections = run_detection(
            args.audio, args.query, args.checkpoint, args.out, settings, args.plot, args.device
        )
    except (ValueError, FileNotFoundError, AudioReadError) as error:
        raise SystemExit(f"tacos detect: error: {error}") from error
    print(f"{sum(len(found.events) for found in detections)} events written to {args.out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tacos", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo-data", help="generate the embedded demo datasets")
    demo.add_argument("out", type=Path, help="output folder (tacos/, clotho/, audioset/)")
    demo.add_argument("--config", default="config/config.yaml", help="config with data.demo")
    demo.set_defaults(run=_demo_data)

    fetch = commands.add_parser("fetch", help="download, verify and unpack a released dataset")
    fetch.add_argument("dataset", choices=sorted(DATASETS), help="which dataset to fetch")
    fetch.add_argument("dest", type=Path, help="folder that receives the dataset")
    fetch.add_argument(
        "--base-url",
        default=None,
        help="fetch <BASE_URL>/<file name> instead of the official URLs (a mirror)",
    )
    fetch.set_defaults(run=_fetch)

    prepare = commands.add_parser("prepare", help="read a dataset into manifests and a report")
    prepare.add_argument("dataset", choices=["tacos", "clotho", "audioset"])
    prepare.add_argument("out", type=Path, help="folder for <split>.jsonl and report.json")
    prepare.add_argument("--config", default="config/config.yaml", help="config with data paths")
    prepare.set_defaults(run=_prepare)

    store = commands.add_parser("build-store", help="decode a manifest's audio into one store")
    store.add_argument("manifest", type=Path, help="a <split>.jsonl manifest")
    store.add_argument("out", type=Path, help="the store to write (.h5)")
    store.add_argument("--sample-rate", type=int, default=32000)
    store.add_argument("--threads", type=int, default=2)
    store.set_defaults(run=_build_store)

    detect = commands.add_parser("detect", help="find events described by text queries in audio")
    detect.add_argument("audio", nargs="+", type=Path, help="audio files of any length")
    detect.add_argument("--query", action="append", required=True, help="text query (repeat)")
    detect.add_argument("--checkpoint", type=Path, required=True, help="trained model.ckpt")
    detect.add_argument("--out", type=Path, required=True, help="events TSV to write")
    detect.add_argument("--plot", type=Path, help="PNG of the scores (one per file if several)")
    detect.add_argument(
        "--threshold",
        type=float,
        action="append",
        help="score threshold: once for all queries or once per query, in order (default 0.5)",
    )
    detect.add_argument("--median-filter", type=float, default=0.0, metavar="SECONDS")
    detect.add_argument("--min-duration", type=float, default=0.0, metavar="SECONDS")
    detect.add_argument(
        "--window",
        type=float,
        default=None,
        metavar="SECONDS",
        help="window length (default: the input length the model was trained on)",
    )
    detect.add_argument(
        "--hop", type=float, default=None, metavar="SECONDS", help="default: half the window"
    )
    detect.add_argument("--device", help="torch device (default: cuda if available, else cpu)")
    detect.set_defaults(run=_detect)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging()
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
