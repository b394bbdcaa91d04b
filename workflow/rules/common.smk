"""Paths, dataset sources and input functions shared by every stage."""

import os
import re
import signal
from pathlib import Path

from tacos.names import DATASET_SPLITS as NAMED_SPLITS
from tacos.names import FINETUNE_STAGES, FRAME_PROTOCOLS, QUERY_SETS as QUERY_SET_NAMES

# SLURM warns a training job before its time limit with SIGUSR1 to every process of its job
# step, this Snakemake's own included, which would die of it. Snakemake ignores the signal; the
# training process inherits that and installs its own handler, which requeues the job
# (tacos.training.cluster).
signal.signal(signal.SIGUSR1, signal.SIG_IGN)

# The rules' conda environments (paths from workflow/rules/): a light one without torch, and one
# with the model stack for training and scoring. Both install the project from the repository
# this Snakefile comes from, which their pip sections name as ${TACOS_PROJECT_DIR}: conda runs
# pip inside .snakemake/conda/, where no relative path reaches the project.
BASE_ENV = "../envs/base.yaml"
MODELS_ENV = "../envs/models.yaml"
os.environ.update(TACOS_PROJECT_DIR=str(Path(workflow.basedir).parent))

# Job resources: portable defaults sized for the paper run; site specifics (partition, account,
# GPU model, other sizes) belong in a profile's set-resources (slurm/config.v9+.yaml). A job asks
# for GPUs when training.accelerator says gpu: one per device. Memory grows with each attempt.
TRAINING = config["training"]
ON_GPU = TRAINING["accelerator"] in ("gpu", "cuda")
# Cores of a training or scoring job: its data-loading processes, at least one.
LOADER_THREADS = max(1, TRAINING["num_workers"])
TRAIN_RESOURCES = {
    "gpu": TRAINING["devices"] if ON_GPU else 0,
    "mem_mb": lambda wildcards, attempt: 64000 * attempt,
    "runtime": 1440,
}
SCORE_RESOURCES = {
    "gpu": int(ON_GPU),
    "mem_mb": lambda wildcards, attempt: 32000 * attempt,
    "runtime": 240,
}
EVALUATE_RESOURCES = {
    # the fast engine at the real size: about 1.2 GB a process plus the job's own (bench_psds.py)
    "mem_mb": lambda wildcards, threads, attempt: (2000 + 1500 * threads) * attempt,
    "runtime": 240,
}

DEMO_DIR = "data/demo"
DEMO_MODELS_DIR = "data/demo_models"  # random-weight model files of a paper-shaped demo
# Every output of a configuration lies below its own root (config `output`), so the demo's and
# the paper's runs never overwrite each other's files.
OUT = config["output"]
LOGS_DIR = f"{OUT}/logs"
BENCHMARKS_DIR = f"{OUT}/benchmarks"
DATA_DIR = f"{OUT}/data"
MODELS_DIR = f"{OUT}/models"
SCORES_DIR = f"{OUT}/scores"
EVAL_DIR = f"{OUT}/eval"
STAGE_PATTERN = "|".join(FINETUNE_STAGES)
QUERY_SETS = config["evaluation"]["query_sets"]
EVALUATED_FRAMES = config["evaluation"]["frames"]
# A model's path below MODELS_DIR: "pretrain", "supervised" or "<stage>/delta<delta>/seed<seed>".
TRAINED_PATTERN = rf"pretrain|supervised|({STAGE_PATTERN})/delta\d+(\.\d+)?/seed\d+"
# A public model's path below SCORES_DIR and EVAL_DIR: "peers/<name of its config entry>".
PEER_PATTERN = r"peers/[A-Za-z0-9_]+"
MODEL_PATTERN = f"{TRAINED_PATTERN}|{PEER_PATTERN}"
PEERS = config["peers"]["models"] if config["peers"]["enabled"] else {}
PEERS_FRAMES = config["peers"]["frames"]  # the frame protocol of the peers table
AUDIO_MODEL = config["model"]["audio"]
# The supervised row of Table 3: ASIT_strong_1 with its own strong head (the paper), or the
# demo's encoder trained with supervision on the demo's AudioSet Strong training split.
SUPERVISED_RELEASE = AUDIO_MODEL["encoder"] == "asit" and bool(
    AUDIO_MODEL.get("checkpoint")
)
SUPERVISED_TRAINED = (
    AUDIO_MODEL["encoder"] == "demo" and "audioset_train" in config["data"]
)
SUPERVISED = SUPERVISED_RELEASE or SUPERVISED_TRAINED
SOURCE = config["data"]["source"]
# The datasets this config reads, with their splits (the demo's AudioSet training split only
# when the config has one).
DATASET_SPLITS = {
    dataset: list(NAMED_SPLITS[dataset]) for dataset in ("tacos", "clotho", "audioset")
}
if "audioset_train" in config["data"]:
    if SOURCE == "download":
        raise ValueError(
            "data.audioset_train is read in place (its audio comes from YouTube): set "
            "data.source to 'local' or 'demo', or remove data.audioset_train"
        )
    DATASET_SPLITS["audioset_train"] = list(NAMED_SPLITS["audioset_train"])
# The name the fetch layer (tacos fetch) gives each dataset; its folder is dataset_dir's.
FETCH_NAMES = {"tacos": "tacos", "clotho": "clotho", "audioset": "audioset_strong"}


def dataset_dir(dataset):
    """The folder that holds a dataset's release files (AudioSet: the labels' folder)."""
    entry = config["data"][dataset]
    return os.path.dirname(entry["labels"]) if "labels" in entry else entry["root"]


def fetch_dirs():
    """The release folders the fetch rule downloads into, with the dataset each holds."""
    if SOURCE != "download":
        return {}
    folders = {}
    for name in FETCH_NAMES:
        folder = dataset_dir(name)
        if folder in folders:
            raise ValueError(
                f"data.{folders[folder]} and data.{name} both point at {folder}/: each release "
                f"is downloaded into a folder of its own; give data.{name} another folder"
            )
        folders[folder] = name
    return folders


FETCH_DIRS = fetch_dirs()


def check_demo_paths():
    """The demo writes every dataset under DEMO_DIR; a config pointing elsewhere is an error."""
    outside = [
        name for name in DATASET_SPLITS if not dataset_dir(name).startswith(DEMO_DIR)
    ]
    if outside:
        raise ValueError(
            f"data.source is 'demo' but data.{outside[0]} points outside {DEMO_DIR}/; "
            f"keep the demo paths of config/config.yaml or set data.source to 'local'"
        )


if SOURCE == "demo":
    check_demo_paths()


def release_files(dataset):
    """What a dataset's prepare step needs before it can read the release."""
    if SOURCE == "demo":
        return [f"{DEMO_DIR}/demo_manifest.json"]
    if SOURCE == "download":
        return [f"{dataset_dir(dataset)}/fetch_report.json"]
    entry = config["data"][dataset]
    if "labels" in entry:
        return [entry["labels"]]
    if dataset == "clotho":
        return [
            f"{entry['root']}/clotho_captions_{split}.csv"
            for split in DATASET_SPLITS[dataset]
        ]
    return [
        f"{entry['root']}/annotations_strong.csv",
        f"{entry['root']}/annotations_weak.csv",
    ]


CAPTIONS_DIR = f"{OUT}/captions"
CLEANED = {
    "strong_file": f"{CAPTIONS_DIR}/annotations_strong.csv",
    "weak_file": f"{CAPTIONS_DIR}/annotations_weak.csv",
}


def prepare_inputs(dataset):
    """Release files, plus the cleaned captions when TACOS is read with them."""
    inputs = release_files(dataset)
    if dataset == "tacos" and config["captions"]["clean"]:
        inputs += list(CLEANED.values())
    return inputs


def dataset_source(dataset):
    """A dataset's config entry, pointing TACOS at the cleaned captions when cleaning runs."""
    source = dict(config["data"][dataset])
    if dataset == "tacos" and config["captions"]["clean"]:
        source.update(CLEANED)
    return source


def caption_settings():
    """The caption backend's settings: the captions section without the workflow's own keys."""
    return {
        k: v for k, v in config["captions"].items() if k not in ("clean", "raw_file")
    }


def mirror(dataset):
    """The URL prefix a dataset is fetched from; None: its official host."""
    return config["data"].get("mirrors", {}).get(FETCH_NAMES[dataset])


def manifests(dataset):
    return expand(
        "{dir}/{dataset}/{split}.jsonl",
        dir=DATA_DIR,
        dataset=dataset,
        split=DATASET_SPLITS[dataset],
    )


def data_outputs():
    """Manifests, reports and audio stores of every dataset."""
    outputs = []
    for dataset, splits in DATASET_SPLITS.items():
        outputs += manifests(dataset)
        outputs.append(f"{DATA_DIR}/{dataset}/report.json")
        outputs += expand(
            "{dir}/{dataset}/{split}.h5", dir=DATA_DIR, dataset=dataset, split=splits
        )
    return outputs


def training_config(phase):
    """Params of a training phase: the model, the audio rate and the settings it reads.

    Each phase leaves out the other phases' settings (fine-tuning depends on the pretrained
    model file instead) and the seed list, so that changing a setting retrains only the runs
    that read it and adding a seed trains that seed.
    """
    phases = {"pretrain", "finetune", "supervised"}
    unread = (
        (phases - {phase})
        | {"seeds"}
        | ({"loss_weights"} if phase != "finetune" else set())
    )
    training = {k: v for k, v in config["training"].items() if k not in unread}
    params = {"model": config["model"], "audio": config["audio"], "training": training}
    if phase == "finetune":
        # the TACOS split the fine-tuning data comes from, recorded in the model's protocol
        params["data"] = {"tacos": {"split": config["data"]["tacos"]["split"]}}
    return params


def delta_name(delta):
    """A frame duration as it appears in paths, e.g. 0.04 -> '0.04'."""
    return f"{float(delta):g}"


def model_name(stage, seed, delta=None):
    """A model's path below MODELS_DIR (see TRAINED_PATTERN)."""
    if stage == "pretrain":
        return "pretrain"
    delta = delta_name(config["model"]["delta"] if delta is None else delta)
    return f"{stage}/delta{delta}/seed{seed}"


def demo_model_files():
    """Pretrained model files the demo DAG makes itself (random weights in the release layouts)
    when the config points them under DEMO_MODELS_DIR: ASIT_strong_1.pt and a RoBERTa folder.
    """
    if SOURCE != "demo":
        return {}
    files = {}
    asit_file = AUDIO_MODEL.get("checkpoint") or ""
    if AUDIO_MODEL["encoder"] == "asit" and asit_file.startswith(DEMO_MODELS_DIR):
        files["asit"] = asit_file
    text_model = config["model"]["text"]["model"]
    if text_model.startswith(DEMO_MODELS_DIR):
        files["roberta"] = f"{text_model}/config.json"
    return files


def table3_models(seeds=None):
    """The models of Table 3: pretraining, the supervised row, weak and strong per seed (of
    ``seeds``, default: every training seed)."""
    names = ["pretrain"] + (["supervised"] if SUPERVISED else [])
    for seed in config["training"]["seeds"] if seeds is None else seeds:
        names += [model_name("weak", seed), model_name("strong", seed)]
    return names


def ablation_models():
    """The ablation runs: strong fine-tuning at each delta, and with intra-clip negatives."""
    names = []
    ablations = config["ablations"]
    for seed in ablations["seeds"]:
        names += [model_name("strong", seed, delta) for delta in ablations["deltas"]]
        if ablations["intra_clip_negatives"]:
            names.append(model_name("strong_intra", seed))
    return names


def trained_models():
    """Every model the config asks for: Table 3's and the ablations'."""
    return list(dict.fromkeys(table3_models() + ablation_models()))


def evaluation_outputs():
    """The results JSON of every model and query set: Table 3's models under every frame
    protocol (the authors' and the corrected one side by side), the ablations under the first.
    """
    table3 = table3_models()
    pattern = "{dir}/{model}/{query_set}/{frames}.json"
    outputs = expand(
        pattern,
        dir=EVAL_DIR,
        model=table3,
        query_set=QUERY_SETS,
        frames=EVALUATED_FRAMES,
    )
    others = [name for name in ablation_models() if name not in table3]
    outputs += expand(
        pattern,
        dir=EVAL_DIR,
        model=others,
        query_set=QUERY_SETS,
        frames=EVALUATED_FRAMES[:1],
    )
    return outputs


def peer_names():
    """The scored public models' paths below SCORES_DIR (none when peers are off)."""
    return [f"peers/{name}" for name in PEERS]


def peers_table_models():
    """The rows of the peers table: Table 3's models of the first seed, then every peer."""
    return table3_models(config["training"]["seeds"][:1]) + peer_names()


def results_by_model(names, frames):
    """Results JSONs of models under one frame protocol, per model: {query set: path}."""
    return {
        name: {qs: f"{EVAL_DIR}/{name}/{qs}/{frames}.json" for qs in QUERY_SETS}
        for name in names
    }


def collapse_outputs():
    """The frame-collapse JSON of every scored model, ours and the peers', by model path."""
    return {
        name: f"{SCORES_DIR}/{name}/collapse.json"
        for name in trained_models() + peer_names()
    }


def training_logs():
    """The Lightning metrics.csv of every audio-text model (written next to its checkpoint), for
    the training-curves figure; the supervised model has no Clotho validation to plot.
    """
    return [
        f"{MODELS_DIR}/{name}/metrics.csv"
        for name in trained_models()
        if name != "supervised"
    ]


TABLES_DIR = f"{OUT}/tables"
FIGURES_DIR = f"{OUT}/figures"
TABLES = {
    "table3": "table3",
    "delta": "ablation_delta",
    "negatives": "ablation_negatives",
    "collapse": "frame_collapse",
}
FIGURES = {
    "clips": "example_clips",
    "delta": "psds_vs_delta",
    "per_class": "per_class_psds",
    "curves": "training_curves",
    "collapse": "frame_collapse",
}


def report_files(directory, names, suffixes, category):
    """Named outputs ``<key>_<suffix>`` marked for the report with the caption of their name."""
    return {
        f"{key}_{suffix}": report(
            f"{directory}/{name}.{suffix}",
            caption=f"../report/{name}.rst",
            category=category,
        )
        for key, name in names.items()
        for suffix in suffixes
    }
