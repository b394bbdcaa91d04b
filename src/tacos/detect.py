"""Text-queried sound event detection in audio of any length with a trained model.

Frame scores: the audio (decoded at the model's rate) is cut into windows of ``window`` seconds
(default: the input length the model was trained on, from its checkpoint) every ``hop`` seconds
(default: half a window) on the global frame grid (``tacos.frames``: frame ``t`` covers
``[t*delta, (t+1)*delta)``); each window is embedded on its own, its frames scored by cosine
against the queries, and each global frame gets the mean of the windows that cover it. Every
window the model sees is exactly ``window`` seconds long, as in training: the last window ends
at the file's last frame (it may start off the hop grid), and a file shorter than one window is
zero-padded to it (the frames past its end are dropped). A window covers the frames the model
gives for it: at the paper's setting 1491 tokens of a 30 s window, so its last 9 frames of 20 ms
are left to the next window. A file of ``duration`` seconds has ``frame_count(duration, delta)``
frames, the last one ending at the file's end.

Events, per query: optional median filter over ``median_filter`` seconds (an odd number of
frames, edges repeated), frames with a filtered score >= the query's threshold, adjacent frames
merged into one event, events shorter than ``min_duration`` dropped. An event's score is the
highest unfiltered frame score inside it.

Output: a TSV ``filename onset offset event_label score`` (file name without folder, times in
seconds to 3 decimals, scores to 4, sorted by file name, onset and label), deterministic for
the same input, and optionally a plot per file.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from scipy import ndimage

from tacos.data.audio import load_audio
from tacos.frames import frame_count
from tacos.inference import batch_frame_scores, batch_frames, embed_queries
from tacos.models.checkpoint import load_trained_model
from tacos.models.dual import AudioTextModel
from tacos.models.text import preprocess_caption

log = logging.getLogger(__name__)

TSV_HEADER = ("filename", "onset", "offset", "event_label", "score")
GRID_TOLERANCE = 1e-6  # window and hop must be whole frames up to this many frames


@dataclass(frozen=True)
class DetectionSettings:
    """How frame scores become events; ``thresholds``: one for all queries or one per query.

    ``window`` and ``hop`` in seconds; None: the model's training input length and half of it
    (``for_model``).
    """

    thresholds: tuple[float, ...] = (0.5,)
    median_filter: float = 0.0
    min_duration: float = 0.0
    window: float | None = None
    hop: float | None = None
    batch_size: int = 8

    def for_model(self, input_seconds: float) -> DetectionSettings:
        """These settings with the window and hop a model trained on ``input_seconds`` gets."""
        window = input_seconds if self.window is None else self.window
        return replace(self, window=window, hop=window / 2 if self.hop is None else self.hop)


@dataclass(frozen=True)
class Event:
    filename: str
    onset: float
    offset: float
    label: str
    score: float


@dataclass(frozen=True)
class Detection:
    """One file's stitched frame scores ``[T, K]`` and its events."""

    filename: str
    waveform: np.ndarray
    scores: np.ndarray
    duration: float
    events: tuple[Event, ...]


def window_frames(window: float, hop: float, delta: float) -> tuple[int, int]:
    """Window and hop in frames; both must be positive whole frames and hop <= window."""
    if window <= 0 or hop <= 0:
        raise ValueError(f"window ({window} s) and hop ({hop} s) must be positive")
    if hop > window:
        raise ValueError(f"hop ({hop} s) must not exceed the window ({window} s): gaps unscored")
    frames = []
    for name, seconds in (("window", window), ("hop", hop)):
        count = seconds / delta
        if abs(count - round(count)) > GRID_TOLERANCE:
            raise ValueError(f"{name} ({seconds} s) must be a multiple of the frame ({delta} s)")
        frames.append(round(count))
    return frames[0], frames[1]


def window_starts(n_frames: int, covered: int, hop: int) -> list[int]:
    """First frame of each window: every ``hop`` frames, the last window's ``covered`` frames
    ending at frame ``n_frames``."""
    if n_frames <= covered:
        return [0]
    return [*range(0, n_frames - covered, hop), n_frames - covered]


def covered_frames(model: AudioTextModel, window_samples: int, window: int) -> int:
    """Frames the model gives for one window: the grid's ``window``, or fewer where the
    backbone's own frames are used (ASiT: 1491 tokens for a 30 s window of 1500 frames)."""
    silence = torch.zeros((1, window_samples))
    frames = batch_frames(model, silence, torch.tensor([window_samples]))
    return min(window, frames.shape[1])


def stitched_scores(
    model: AudioTextModel,
    waveform: np.ndarray,
    text: torch.Tensor,
    settings: DetectionSettings,
    covered: int | None = None,
) -> np.ndarray:
    """Frame scores ``[frame_count(duration), K]``: the mean over the windows covering a frame.

    ``covered``: the frames the model gives for one window (``covered_frames``), when the caller
    has it already; probed otherwise.
    """
    window, hop = window_frames(settings.window, settings.hop, model.delta)
    frame_samples = model.sample_rate * model.delta
    n_frames = frame_count(len(waveform) / model.sample_rate, model.delta)
    window_samples = round(window * frame_samples)
    if covered is None:
        covered = covered_frames(model, window_samples, window)
    starts = window_starts(n_frames, covered, hop)
    first_samples = [round(start * frame_samples) for start in starts]
    padded = np.zeros(max(first_samples[-1] + window_samples, len(waveform)), np.float32)
    padded[: len(waveform)] = waveform
    sums = np.zeros((n_frames, len(text)), np.float64)
    counts = np.zeros(n_frames, np.int64)
    for batch in range(0, len(starts), settings.batch_size):
        batch_starts = starts[batch : batch + settings.batch_size]
        batch_first = first_samples[batch : batch + settings.batch_size]
        waves = torch.from_numpy(np.stack([padded[s : s + window_samples] for s in batch_first]))
        lengths = torch.tensor([min(window_samples, len(waveform) - s) for s in batch_first])
        scores = batch_frame_scores(model, waves, lengths, text)
        for start, window_scores in zip(batch_starts, scores, strict=True):
            kept = min(covered, n_frames - start)
            sums[start : start + kept] += window_scores[:kept]
            counts[start : start + kept] += 1
    return (sums / counts[:, None]).astype(np.float32)


def median_frames(seconds: float, delta: float) -> int:
    """Median filter length in frames: ``round(seconds / delta)``, made odd; 1 means none."""
    frames = max(1, round(seconds / delta))
    return frames if frames % 2 else frames + 1


def median_filter(scores: np.ndarray, size: int) -> np.ndarray:
    """Median over ``size`` (odd) frames centred on each frame, edge frames repeated, per query
    (scipy's filter: no copy of ``size`` values per frame, so hour-long files fit)."""
    if size <= 1:
        return scores
    return ndimage.median_filter(scores, size=(size, 1), mode="nearest")


def extract_events(
    scores: np.ndarray,
    delta: float,
    duration: float,
    labels: Sequence[str],
    thresholds: Sequence[float],
    settings: DetectionSettings,
    filename: str,
) -> list[Event]:
    """Events of each query from its frame scores (see the module doc for the rules)."""
    filtered = median_filter(scores, median_frames(settings.median_filter, delta))
    events = []
    for column, (label, threshold) in enumerate(zip(labels, thresholds, strict=True)):
        for start, end in active_runs(filtered[:, column] >= threshold):
            onset, offset = start * delta, min(end * delta, duration)
            if offset - onset + 1e-9 < settings.min_duration:
                continue
            score = float(scores[start:end, column].max())
            events.append(Event(filename, onset, offset, label, score))
    return events


def active_runs(active: np.ndarray) -> list[tuple[int, int]]:
    """``(start, end)`` frame ranges of the runs of True, end exclusive."""
    edges = np.diff(np.concatenate([[0], active.astype(np.int8), [0]]))
    return list(
        zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist(), strict=True)
    )


def check_queries(queries: Sequence[str], thresholds: Sequence[float]) -> tuple[float, ...]:
    """Queries must be non-blank after preprocessing and distinct; returns one threshold each."""
    if not queries:
        raise ValueError("give at least one query")
    for position, query in enumerate(queries, start=1):
        if not preprocess_caption(query):
            raise ValueError(f"query {position} ({query!r}) is empty after preprocessing")
    if len(set(queries)) != len(queries):
        raise ValueError(f"queries must be distinct, got {list(queries)}")
    if len(thresholds) == 1:
        return tuple(thresholds) * len(queries)
    if len(thresholds) != len(queries):
        raise ValueError(
            f"give one threshold for all queries or one per query: {len(thresholds)} thresholds "
            f"for {len(queries)} queries"
        )
    return tuple(thresholds)


def detect_file(
    model: AudioTextModel,
    audio_path: str | os.PathLike,
    queries: Sequence[str],
    text: torch.Tensor,
    thresholds: Sequence[float],
    settings: DetectionSettings,
    covered: int | None = None,
) -> Detection:
    """Decode one file at the model's rate, score it window by window and extract its events."""
    waveform = load_audio(audio_path, model.sample_rate)
    duration = len(waveform) / model.sample_rate
    scores = stitched_scores(model, waveform, text, settings, covered)
    name = Path(audio_path).name
    events = extract_events(scores, model.delta, duration, queries, thresholds, settings, name)
    return Detection(name, waveform, scores, duration, tuple(events))


def detect(
    model: AudioTextModel,
    audio_paths: Sequence[str | os.PathLike],
    queries: Sequence[str],
    settings: DetectionSettings,
) -> list[Detection]:
    """Detections of every file; inputs are checked before any work, queries embedded once."""
    thresholds = check_queries(queries, settings.thresholds)
    window, _ = window_frames(settings.window, settings.hop, model.delta)
    names = [Path(path).name for path in audio_paths]
    if len(set(names)) != len(names):
        raise ValueError("two audio files share a file name; the TSV could not tell them apart")
    model.eval()
    text = embed_queries(model, queries)
    # one probe of the model's frames per window for all files, not one per file
    covered = covered_frames(model, round(window * model.sample_rate * model.delta), window)
    return [
        detect_file(model, path, queries, text, thresholds, settings, covered)
        for path in audio_paths
    ]


def event_rows(events: Sequence[Event]) -> list[tuple[str, str, str, str, str]]:
    """TSV rows: times to 3 decimals, score to 4, sorted by file name, onset and label."""
    rows = [
        (event.filename, round(event.onset, 3), round(event.offset, 3), event.label, event.score)
        for event in events
    ]
    rows.sort(key=lambda row: (row[0], row[1], row[3], row[2]))
    return [
        (name, f"{on:.3f}", f"{off:.3f}", label, f"{score:.4f}")
        for name, on, off, label, score in rows
    ]


def write_events(events: Sequence[Event], path: str | os.PathLike) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["\t".join(TSV_HEADER)] + ["\t".join(row) for row in event_rows(events)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def plot_detection(
    detection: Detection,
    sample_rate: int,
    delta: float,
    queries: Sequence[str],
    thresholds: Sequence[float],
    path: str | os.PathLike,
) -> Path:
    """Spectrogram on top; below, each query's frame scores, threshold and shaded events."""
    figure = Figure(figsize=(12, 6), layout="constrained")
    FigureCanvasAgg(figure)
    top, bottom = figure.subplots(2, 1, sharex=True, height_ratios=(1, 1.4))
    top.imshow(
        log_spectrogram(detection.waveform, sample_rate),
        origin="lower",
        aspect="auto",
        cmap="magma",
        extent=(0.0, detection.duration, 0.0, sample_rate / 2000.0),
    )
    top.set_ylabel("frequency (kHz)")
    top.set_title(detection.filename)
    times = np.arange(len(detection.scores) + 1) * delta
    times[-1] = detection.duration
    for column, (query, threshold) in enumerate(zip(queries, thresholds, strict=True)):
        color = f"C{column % 10}"
        values = detection.scores[:, column]
        bottom.stairs(values, times, color=color, label=query)
        bottom.axhline(threshold, color=color, linestyle="--", linewidth=0.8)
        for event in detection.events:
            if event.label == query:
                bottom.axvspan(event.onset, event.offset, color=color, alpha=0.2)
    bottom.set_xlim(0.0, detection.duration)
    bottom.set_xlabel("time (s)")
    bottom.set_ylabel("cosine score")
    bottom.legend(loc="upper right", fontsize="small")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    return path


def log_spectrogram(waveform: np.ndarray, sample_rate: int, max_columns: int = 4000) -> np.ndarray:
    """Power spectrogram in dB ``[freq, time]``, hop chosen to keep at most ``max_columns``."""
    n_fft = 1 << max(8, math.ceil(math.log2(0.032 * sample_rate)))
    hop = max(n_fft // 4, math.ceil(len(waveform) / max_columns))
    wave = torch.from_numpy(np.pad(waveform, (0, max(0, n_fft - len(waveform)))))
    spectrum = torch.stft(
        wave, n_fft, hop_length=hop, window=torch.hann_window(n_fft), return_complex=True
    )
    return (10.0 * torch.log10(spectrum.abs().square() + 1e-10)).numpy()


def plot_paths(plot: str | os.PathLike, detections: Sequence[Detection]) -> list[Path]:
    """One plot path per file: ``plot`` itself for one file, ``<stem>_<file name><suffix>``
    for several."""
    plot = Path(plot)
    if len(detections) == 1:
        return [plot]
    return [
        plot.with_name(f"{plot.stem}_{detection.filename}{plot.suffix}") for detection in detections
    ]


def run_detection(
    audio_paths: Sequence[str | os.PathLike],
    queries: Sequence[str],
    checkpoint: str | os.PathLike,
    out: str | os.PathLike,
    settings: DetectionSettings,
    plot: str | os.PathLike | None = None,
    device: str | None = None,
) -> list[Detection]:
    """The ``tacos detect`` command: load the model, detect, write the TSV (and plots)."""
    thresholds = check_queries(queries, settings.thresholds)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    model, spec = load_trained_model(checkpoint, device)
    settings = settings.for_model(spec.input_seconds)
    detections = detect(model, audio_paths, queries, settings)
    write_events([event for found in detections for event in found.events], out)
    if plot is not None:
        for detection, path in zip(detections, plot_paths(plot, detections), strict=True):
            plot_detection(detection, model.sample_rate, model.delta, queries, thresholds, path)
    log.info(
        "%d events in %d files written to %s",
        sum(len(found.events) for found in detections),
        len(detections),
        out,
    )
    return detections
