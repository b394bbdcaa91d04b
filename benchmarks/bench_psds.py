"""PSDS1 + pAUROC at the real eval size: the fast engine, with its bootstrap, beside the library.

Two parts, each method in its own subprocess, which reports its wall time and peak RSS (its own
and that of its largest worker; Linux carries ``ru_maxrss`` across fork and exec, so the driver
imports no heavy library and writes the data sets in subprocesses too):

1. Side by side at ``--side-clips`` (default 1,000 and 2,000 clips, 407 classes, trimmed, no
   bootstrap): one plain sed_scores_eval call, the library engine and the fast engine, with
   the speed-ups and whether the numbers agree; then the fast engine with ``--bootstrap``
   replicates, and the time per replicate.
2. The real size (``--real-clips``, default 16,935): for each query set (407 classes, 50
   categories) and frame protocol (untrimmed, trimmed), the fast engine with ``--bootstrap``
   replicates on ``--workers`` processes, and the total.

Synthetic eval sets: every clip has ``--frames`` score frames at 20 ms (1491: the authors' padded
30 s input), its duration from ``../shared/data/audioset/eval_durations.csv`` where that file is
(else 10 s), a few events a clip (8 of the 407 classes, 5 of the 50 categories), and scores of
uniform noise plus ``SIGNAL`` inside events, stored as ``--dtype``. Noise that changes every
frame is the worst case for the number of change points. The real-size 407-class file is about
20 GB in float16: give ``--folder`` a disk with room.

    python benchmarks/bench_psds.py                          # both parts, about 40 min
    python benchmarks/bench_psds.py --real-clips 0           # side by side only
    python benchmarks/bench_psds.py --side-clips --real-clips 2000
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REAL_CLIPS = 16_935
DELTA = 0.02
QUERY_SETS = {"classes407": (407, 8), "categories50": (50, 5)}  # classes, events a clip
SIGNAL = 0.6  # added to the uniform noise inside events: PSDS1 and pAUROC away from 0 and 1
DURATIONS = Path(__file__).resolve().parents[1] / ".." / "shared/data/audioset/eval_durations.csv"
CLIPS_PER_WRITE = 32


def eval_durations(n_clips: int) -> list[float]:
    """The first ``n_clips`` real eval durations (repeated if more are asked), else 10 s."""
    if not DURATIONS.is_file():
        return [10.0] * n_clips
    real = [float(line.split(",")[1]) for line in DURATIONS.read_text().split()]
    return [real[index % len(real)] for index in range(n_clips)]


def make_eval_set(
    directory: Path, n_clips: int, query_set: str, n_frames: int, dtype: str, seed: int
) -> tuple[Path, Path]:
    """A score file and its ground truth (JSON) for one query set."""
    import numpy as np

    from tacos.evaluation.scores import ScoreWriter

    n_classes, events_per_clip = QUERY_SETS[query_set]
    rng = np.random.default_rng(seed)
    classes = [f"class {k}" for k in range(n_classes)]
    starts = np.arange(n_frames) * DELTA
    truth = {}
    store = directory / f"{query_set}_{n_clips}.h5"
    with ScoreWriter(store, classes, DELTA, dtype=np.dtype(dtype).type) as writer:
        for index, duration in enumerate(eval_durations(n_clips)):
            clip_id = f"Y{index:06d}"
            scores = rng.random((n_frames, n_classes), dtype=np.float32)
            events = {}
            for k in rng.choice(n_classes, events_per_clip, replace=False):
                onset = float(np.round(rng.uniform(0.0, max(duration - 0.3, 0.0)), 3))
                offset = float(min(duration, np.round(onset + rng.uniform(0.3, 4.0), 3)))
                events[k] = (onset, offset, classes[k])
                scores[(starts < offset) & (starts + DELTA > onset), k] += SIGNAL
            truth[clip_id] = sorted(events.values())
            writer.add(clip_id, scores, duration)
    truth_path = directory / f"{query_set}_{n_clips}.json"
    truth_path.write_text(json.dumps(truth))
    return store, truth_path


def measure(
    method: str, store: Path, truth_path: Path, frames: str, workers: int, n_bootstrap: int
) -> dict:
    """Run one method in this process and report time, peak RSS and the metric values.

    ``baseline`` does nothing: its RSS is that of the interpreter and the imported libraries.
    """
    from tacos.evaluation.ground_truth import scored_classes
    from tacos.evaluation.scores import ScoreReader
    from tacos.evaluation.sed_metrics import sed_metrics, sed_metrics_plain
    from tacos.logs import setup_logging

    setup_logging()  # the engines' progress lines, on stderr

    truth = {
        clip_id: [tuple(event) for event in events]
        for clip_id, events in json.loads(truth_path.read_text()).items()
    }
    start = time.perf_counter()
    metrics = bootstrap = None
    if method == "plain":
        with ScoreReader(store) as reader:
            tables = reader.score_dataframes(frames, scored_classes(truth, reader.class_names))
            durations = reader.durations
        metrics = sed_metrics_plain(tables, truth, durations)
    elif method in ("fast", "library"):
        metrics, bootstrap = sed_metrics(
            store, truth, frames, workers, n_bootstrap=n_bootstrap, engine=method
        )
    return {
        "seconds": time.perf_counter() - start,
        "rss_self_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "rss_worker_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
        "metrics": metrics.to_dict() if metrics else None,
        "intervals": {
            metric: bootstrap.interval(metric) for metric in ("psds1", "psds1_macro", "pauroc")
        }
        if bootstrap
        else None,
    }


def run_subprocess(*arguments: str) -> dict:
    """Run this script's subprocess entry with ``arguments``; its last output line is JSON (its
    log lines pass through on stderr)."""
    command = [sys.executable, "-W", "ignore", __file__, *arguments]
    output = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def make(directory: Path, n_clips: int, query_set: str, args) -> tuple[str, str, float]:
    start = time.perf_counter()
    store, truth = run_subprocess(
        "--make", str(directory), query_set, str(n_clips), "--frames", str(args.frames),
        "--dtype", args.dtype, "--seed", str(args.seed),
    )  # fmt: skip
    return store, truth, time.perf_counter() - start


def run_method(method: str, store: str, truth: str, frames: str, workers: int, boot: int) -> dict:
    result = run_subprocess(
        "--measure", method, store, truth, frames, "--workers", str(workers),
        "--bootstrap", str(boot),
    )  # fmt: skip
    result["peak_gb"] = max(result["rss_self_mb"], result["rss_worker_mb"]) / 1024
    return result


def agree(first: dict, second: dict) -> str:
    """How two results' metrics compare: per-class values and pAUROC equal, PSDS1 difference."""
    same = all(
        first[key] == second[key] for key in ("psds1_per_class", "pauroc_per_class", "pauroc")
    )
    return (
        f"per-class equal: {same}, |PSDS1 difference| {abs(first['psds1'] - second['psds1']):.1e}"
    )


def warm_up(directory: Path, args) -> None:
    """One small run first, so that numba's compiled kernels are in its cache (compiling them
    once after an install or an edit takes some seconds, and is not what is measured)."""
    store, truth, _ = make(directory, 50, "categories50", args)
    run_method("fast", store, truth, "trimmed", args.workers, 2)
    Path(store).unlink()


def side_by_side(directory: Path, args) -> None:
    print("side by side: 407 classes, trimmed frames, no bootstrap", flush=True)
    print(f"{'clips':>6} {'method':>8} {'seconds':>9} {'peak GB':>8} {'psds1':>8} {'speed-up':>9}")
    for n_clips in args.side_clips:
        store, truth, _ = make(directory, n_clips, "classes407", args)
        rows = {}
        for method in ("plain", "library", "fast"):
            rows[method] = run_method(method, store, truth, "trimmed", args.workers, 0)
            row = rows[method]
            speed_up = rows["plain"]["seconds"] / row["seconds"]
            print(
                f"{n_clips:>6} {method:>8} {row['seconds']:>9.1f} {row['peak_gb']:>8.2f} "
                f"{row['metrics']['psds1']:>8.4f} {speed_up:>8.1f}x",
                flush=True,
            )
        comparison = agree(rows["fast"]["metrics"], rows["plain"]["metrics"])
        print(f"{n_clips:>6} fast vs plain: {comparison}")
        booted = run_method("fast", store, truth, "trimmed", args.workers, args.bootstrap)
        per_replicate = (booted["seconds"] - rows["fast"]["seconds"]) / args.bootstrap
        print(
            f"{n_clips:>6} fast with {args.bootstrap} replicates: {booted['seconds']:.1f} s, "
            f"{booted['peak_gb']:.2f} GB; {per_replicate * 1000:.1f} ms a replicate",
            flush=True,
        )
        Path(store).unlink()


def real_size(directory: Path, args) -> None:
    n_clips = args.real_clips
    print(f"real size: {n_clips} clips, {args.frames} frames a clip, {args.dtype} scores, "
          f"{args.bootstrap} replicates, {args.workers} workers", flush=True)  # fmt: skip
    print(f"{'query set':>12} {'frames':>9} {'seconds':>9} {'peak GB':>8}  "
          "metric: estimate [95 % bootstrap interval]")  # fmt: skip
    total = 0.0
    for query_set in QUERY_SETS:
        store, truth, made = make(directory, n_clips, query_set, args)
        size = Path(store).stat().st_size / 2**30
        print(f"{query_set:>12} (data set written in {made:.0f} s, {size:.1f} GB)", flush=True)
        for frames in ("untrimmed", "trimmed"):
            row = run_method("fast", store, truth, frames, args.workers, args.bootstrap)
            total += row["seconds"]
            intervals = row["intervals"] or {}
            values = "  ".join(
                f"{metric} {row['metrics'][metric]:.4f}"
                + (" [{:.4f}, {:.4f}]".format(*intervals[metric]) if metric in intervals else "")
                for metric in ("psds1", "psds1_macro", "pauroc")
            )
            print(
                f"{query_set:>12} {frames:>9} {row['seconds']:>9.1f} {row['peak_gb']:>8.2f}  "
                f"{values}",
                flush=True,
            )
        Path(store).unlink()
    print(f"total for one model (both query sets, both protocols): {total / 60:.1f} min")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side-clips", type=int, nargs="*", default=[1000, 2000])
    parser.add_argument("--real-clips", type=int, default=REAL_CLIPS)
    parser.add_argument("--frames", type=int, default=1491, help="score frames a clip")
    parser.add_argument("--dtype", default="float16", choices=["float16", "float32"])
    parser.add_argument("--bootstrap", type=int, default=1000, help="replicates")
    parser.add_argument("--workers", type=int, default=2, help="processes of the engines")
    parser.add_argument("--folder", help="where the data sets are written (default: a temp dir)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--make", nargs=3, help=argparse.SUPPRESS)  # subprocess entry
    parser.add_argument("--measure", nargs=4, help=argparse.SUPPRESS)  # subprocess entry
    args = parser.parse_args()
    if args.make:
        folder, query_set, n_clips = args.make
        paths = make_eval_set(
            Path(folder), int(n_clips), query_set, args.frames, args.dtype, args.seed
        )
        print(json.dumps([str(path) for path in paths]))
        return
    if args.measure:
        method, store, truth, frames = args.measure
        result = measure(method, Path(store), Path(truth), frames, args.workers, args.bootstrap)
        print(json.dumps(result))
        return
    with tempfile.TemporaryDirectory(dir=args.folder) as directory:
        warm_up(Path(directory), args)
        if args.side_clips:
            side_by_side(Path(directory), args)
        if args.real_clips:
            real_size(Path(directory), args)


if __name__ == "__main__":
    main()
