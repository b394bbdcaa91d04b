"""PSDS1 + pAUROC: one plain sed_scores_eval call vs the class-blocked path, time and peak RSS.

Synthetic eval sets (10 s clips, 407 classes, 25 Hz frames by default; a few events a clip,
scores = oracle + uniform noise) are written to a score file once per size; each method then
runs in its own subprocess, which reports its wall time and ``ru_maxrss`` (its own and that of
its largest worker). Linux carries ``ru_maxrss`` across fork and exec, so the driver stays
small: it imports no heavy library (the subprocess entry points import them in their functions)
and writes the data sets in subprocesses too. The table ends with a linear extrapolation to the
real eval set (16,935 clips at 50 Hz).

    python benchmarks/bench_psds.py --clips 500 1000 --workers 2
    python benchmarks/bench_psds.py --clips 200 --skip-plain
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
REAL_CLASSES = 407
REAL_FRAME_RATE = 50.0
EVENTS_PER_CLIP = 6
SIGNAL = 0.8  # added to the uniform noise inside events: PSDS1 and pAUROC away from 0 and 1


def make_eval_set(
    directory: Path, n_clips: int, n_classes: int, duration: float, frame_rate: float, seed: int
) -> tuple[Path, Path]:
    """A score file and its ground truth (JSON); class k of clip i gets events in turn."""
    import numpy as np

    from tacos.evaluation.scores import ScoreWriter
    from tacos.frames import frame_count

    rng = np.random.default_rng(seed)
    classes = [f"class {k}" for k in range(n_classes)]
    delta = 1.0 / frame_rate
    n_frames = frame_count(duration, delta)
    starts = np.arange(n_frames) * delta
    truth = {}
    store = directory / f"scores_{n_clips}.h5"
    with ScoreWriter(store, classes, delta) as writer:
        for index in range(n_clips):
            clip_id = f"Y{index:06d}"
            scores = rng.random((n_frames, n_classes), dtype=np.float32)
            events = []
            for slot in range(EVENTS_PER_CLIP):
                k = (index * EVENTS_PER_CLIP + slot) % n_classes
                onset = float(np.round(rng.uniform(0.0, duration - 1.0), 3))
                offset = float(min(duration, np.round(onset + rng.uniform(0.3, 4.0), 3)))
                events.append((onset, offset, classes[k]))
                scores[(starts < offset) & (starts + delta > onset), k] += SIGNAL
            truth[clip_id] = sorted(events)
            writer.add(clip_id, scores, duration)
    truth_path = directory / f"truth_{n_clips}.json"
    truth_path.write_text(json.dumps(truth))
    return store, truth_path


def measure(
    method: str, store: Path, truth_path: Path, workers: int, classes_per_job: int | None
) -> dict:
    """Run one method in this process and report time, peak RSS and the metric values.

    ``baseline`` does nothing: its RSS is that of the interpreter and the imported libraries.
    """
    from tacos.evaluation.ground_truth import scored_classes
    from tacos.evaluation.scores import ScoreReader
    from tacos.evaluation.sed_metrics import sed_metrics, sed_metrics_plain

    truth = {
        clip_id: [tuple(event) for event in events]
        for clip_id, events in json.loads(truth_path.read_text()).items()
    }
    start = time.perf_counter()
    metrics = None
    if method == "plain":
        with ScoreReader(store) as reader:
            frames = reader.score_dataframes("trimmed", scored_classes(truth, reader.class_names))
            durations = reader.durations
        metrics = sed_metrics_plain(frames, truth, durations)
    elif method == "scalable":
        metrics, _ = sed_metrics(store, truth, "trimmed", workers, classes_per_job)
    return {
        "seconds": time.perf_counter() - start,
        "rss_self_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "rss_worker_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
        "psds1": metrics.psds1 if metrics else float("nan"),
        "pauroc": metrics.pauroc if metrics else float("nan"),
    }


def run_subprocess(*arguments: str) -> dict:
    """Run this script's subprocess entry with ``arguments``; its last output line is JSON."""
    command = [sys.executable, "-W", "ignore", __file__, *arguments]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def at_real_clips(measured: list[dict], key: str, fixed_part: float, scale: float) -> float:
    """``key`` at the real clip count: affine in clips through the smallest and largest runs
    (one run: ``fixed_part`` plus a part proportional to clips); ``scale`` multiplies the part
    that grows with clips (frames a clip, classes)."""
    first = min(measured, key=lambda row: row["clips"])
    last = max(measured, key=lambda row: row["clips"])
    if last["clips"] > first["clips"]:
        per_clip = (last[key] - first[key]) / (last["clips"] - first["clips"])
        fixed_part = last[key] - per_clip * last["clips"]
    else:
        per_clip = (last[key] - fixed_part) / last["clips"]
    return fixed_part + per_clip * REAL_CLIPS * scale


def extrapolate(
    rows: list[dict], n_classes: int, frame_rate: float, baseline_mb: float
) -> dict[str, tuple[float, float]]:
    """Minutes and peak GB at the real size (rough).

    Time grows with clips x frames x classes; memory above the import baseline with clips x
    frames, and for the plain call also with classes (the class-blocked path holds one block of
    classes a worker). Per-clip costs that grow faster than the frame count are missed.
    """
    estimates = {}
    frames = REAL_FRAME_RATE / frame_rate
    classes = REAL_CLASSES / n_classes
    for method in ("plain", "scalable"):
        measured = [row for row in rows if row["method"] == method]
        if measured:
            memory_scale = frames * classes if method == "plain" else frames
            seconds = at_real_clips(measured, "seconds", 0.0, frames * classes)
            megabytes = at_real_clips(measured, "peak_mb", baseline_mb, memory_scale)
            estimates[method] = (seconds / 60, megabytes / 1024)
    return estimates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, nargs="+", default=[500, 1000])
    parser.add_argument("--classes", type=int, default=407)
    parser.add_argument("--duration", type=float, default=10.0, help="clip length in seconds")
    parser.add_argument("--frame-rate", type=float, default=25.0, help="score frames a second")
    parser.add_argument("--workers", type=int, default=2, help="processes of the scalable path")
    parser.add_argument(
        "--classes-per-job", type=int, help="class block a worker holds (default: the file's chunk)"
    )
    parser.add_argument("--skip-plain", action="store_true", help="only the scalable path")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--make", help=argparse.SUPPRESS)  # subprocess entry: data set in DIR
    parser.add_argument("--measure", nargs=3, help=argparse.SUPPRESS)  # subprocess entry
    args = parser.parse_args()
    if args.make:
        paths = make_eval_set(
            Path(args.make), args.clips[0], args.classes, args.duration, args.frame_rate, args.seed
        )
        print(json.dumps([str(path) for path in paths]))
        return
    if args.measure:
        method, store, truth_path = args.measure
        result = measure(method, Path(store), Path(truth_path), args.workers, args.classes_per_job)
        print(json.dumps(result))
        return
    methods = ["scalable"] if args.skip_plain else ["plain", "scalable"]
    shape = ["--classes", str(args.classes), "--duration", str(args.duration)]
    shape += ["--frame-rate", str(args.frame_rate), "--seed", str(args.seed)]
    workers = ["--workers", str(args.workers)]
    if args.classes_per_job:
        workers += ["--classes-per-job", str(args.classes_per_job)]
    rows = []
    print(f"{'clips':>6} {'method':>9} {'seconds':>9} {'peak MB':>9} {'psds1':>8} {'pauroc':>8}")
    with tempfile.TemporaryDirectory() as directory:
        for n_clips in args.clips:
            store, truth_path = run_subprocess("--make", directory, "--clips", str(n_clips), *shape)
            for method in methods:
                result = run_subprocess("--measure", method, store, truth_path, *workers)
                peak = max(result["rss_self_mb"], result["rss_worker_mb"])
                rows.append({"clips": n_clips, "method": method, "peak_mb": peak, **result})
                print(
                    f"{n_clips:>6} {method:>9} {result['seconds']:>9.1f} {peak:>9.0f} "
                    f"{result['psds1']:>8.4f} {result['pauroc']:>8.4f}",
                    flush=True,
                )
            if len(methods) == 2:
                plain, scalable = rows[-2], rows[-1]
                same = all(plain[key] == scalable[key] for key in ("psds1", "pauroc"))
                print(f"{n_clips:>6} plain and scalable give identical PSDS1 and pAUROC: {same}")
        baseline = run_subprocess("--measure", "baseline", store, truth_path)["rss_self_mb"]
    print(f"(scalable: {args.workers} workers; peak MB: the larger of the process and one worker;")
    print(f" a process that only imports the libraries peaks at {baseline:.0f} MB)")
    estimates = extrapolate(rows, args.classes, args.frame_rate, baseline)
    for method, (minutes, gigabytes) in estimates.items():
        print(
            f"linear extrapolation to {REAL_CLIPS} clips x {REAL_CLASSES} classes at "
            f"{REAL_FRAME_RATE:g} Hz, {method}: {minutes:.0f} min, {gigabytes:.1f} GB peak"
        )


if __name__ == "__main__":
    main()
