"""Rule figures: example clips (weak vs strong), metrics vs delta, per-class PSDS1, curves, frame
collapse."""

from tacos.data.audioset import read_class_list
from tacos.data.manifest import read_manifest
from tacos.evaluation.ground_truth import build_ground_truth, events_from_clips
from tacos.logs import setup_logging
from tacos.plots import (
    plot_example_clips,
    plot_frame_collapse,
    plot_metric_vs_delta,
    plot_per_class,
    plot_training_curves,
    run_label,
)
from tacos.tables import read_per_class, read_results

setup_logging(snakemake.log[0])
output = snakemake.output
delta = float(snakemake.params.delta)
ground_truth = build_ground_truth(
    events_from_clips(read_manifest(snakemake.input.eval_manifest)), read_class_list("eval_train")
)
plot_example_clips(
    snakemake.input.weak_scores,
    snakemake.input.strong_scores,
    ground_truth,
    [output.clips_png, output.clips_pdf],
    clip_ids=snakemake.params.get("example_clips"),
)
main = snakemake.params.frames[0]  # the first frame protocol, that of Table 3's first rows
plot_metric_vs_delta(
    read_results(snakemake.input.results, frames=main), [output.delta_png, output.delta_pdf]
)
plot_per_class(
    read_per_class(snakemake.input.results, frames=main),
    [output.per_class_png, output.per_class_pdf],
    delta=delta,
)
plot_training_curves(
    {run_label(path): path for path in snakemake.input.metrics},
    [output.curves_png, output.curves_pdf],
)
plot_frame_collapse(snakemake.params.collapse, [output.collapse_png, output.collapse_pdf])
