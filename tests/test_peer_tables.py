import json

import numpy as np
import pytest

from tacos.evaluation.collapse import CollapseMeter, write_collapse
from tacos.peer_tables import (
    NOT_STATED,
    OURS_TRAINING_DATA,
    collapse_cell,
    collapse_table,
    model_row,
    paper_number,
    peers_table,
)
from tacos.tables import markdown_table

PEER_MODEL = {"stage": "peer", "delta": 0.04, "seed": None, "checkpoint": "models/pe"}
OURS_MODEL = {"stage": "strong", "delta": 0.02, "seed": 1, "checkpoint": "model.ckpt"}


def write_results(path, model, query_set, psds1, pauroc, bootstrap=True):
    """A results JSON in the evaluate rule's layout (the keys the tables read)."""
    data = {
        "model": model,
        "query_set": query_set,
        "protocol": {"frames": "trimmed"},
        "metrics": {"psds1": psds1, "psds1_macro": psds1, "pauroc": pauroc},
        "bootstrap": (
            {
                "psds1": {"low": psds1 - 0.01, "high": psds1 + 0.02},
                "pauroc": {"low": 0.5, "high": 0.9},
            }
            if bootstrap
            else None
        ),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return str(path)


def write_meter(path, frames_per_clip, step=0.25):
    meter = CollapseMeter(step)
    for frames in frames_per_clip:
        meter.add(frames)
    return str(write_collapse(meter.result(), {}, path))


@pytest.fixture
def rows(tmp_path):
    ours = {
        "classes407": write_results(
            tmp_path / "s407.json", OURS_MODEL, "classes407", 0.1799, 0.787
        ),
        "categories50": write_results(
            tmp_path / "s50.json", OURS_MODEL, "categories50", 0.25, 0.8, False
        ),
    }
    peer = {
        "classes407": write_results(tmp_path / "p407.json", PEER_MODEL, "classes407", 0.05, 0.6)
    }
    same = np.tile([[1.0, 0.0]], (8, 1))
    changing = np.array([[1.0, 0.0], [0.0, 1.0]] * 4)
    entry = {"label": "PE-A-Frame small", "published": "12.3 PSDS1 (own protocol)"}
    return [
        model_row(ours, write_meter(tmp_path / "c_ours.json", [changing])),
        model_row(peer, write_meter(tmp_path / "c_peer.json", [same]), entry),
    ]


def test_our_row_comes_from_the_results_model_block_with_the_papers_number(rows):
    ours = rows[0]
    assert ours.label == "Strong fine-tuning (TACOS strong captions) (this workflow, seed 1)"
    assert ours.training_data == OURS_TRAINING_DATA
    assert ours.published == paper_number("strong")
    assert paper_number("strong") == (
        "17.99 PSDS1, 78.70 pAUROC (paper Table 3; authors' frame protocol, AudioSet Strong eval)"
    )
    assert paper_number("pretrain") == "not reported"


def test_a_peer_row_states_what_its_entry_gives_and_not_stated_otherwise(rows):
    peer = rows[1]
    assert (peer.label, peer.published) == ("PE-A-Frame small", "12.3 PSDS1 (own protocol)")
    assert peer.training_data == NOT_STATED


def test_peers_table_cells(rows):
    table = peers_table(rows, "trimmed")
    assert markdown_table(table.display).splitlines()[0] == (
        "| Model | PSDS1 (407 classes) | pAUROC (407 classes) | PSDS1 (50 categories) | "
        "pAUROC (50 categories) | Frame collapse | Training data overlaps AudioSet Strong | "
        "Published |"
    )
    ours, peer = table.display.to_dict("records")
    assert ours["PSDS1 (407 classes)"] == "17.99 [17.0, 20.0]"
    assert ours["pAUROC (407 classes)"] == "78.70 [50.0, 90.0]"
    assert ours["PSDS1 (50 categories)"] == "25.00"
    assert ours["Frame collapse"] == "0.000 ± 0.000 (0 % > 0.9)"
    assert peer["PSDS1 (50 categories)"] == "no result"
    assert peer["Frame collapse"] == "1.000 ± 0.000 (100 % > 0.9)"
    numbers = table.numbers.to_dict("records")
    assert numbers[1]["classes407_psds1"] == 5.0
    assert numbers[1]["collapse_share"] == 1.0
    assert np.isnan(numbers[1]["categories50_psds1"])
    assert any("frames: trimmed" in note for note in table.notes)
    assert table.caption == "Public models under the TACOS protocol"


def test_collapse_cell_without_windows():
    meter = CollapseMeter(1.0)
    meter.add(np.ones((3, 2)))
    assert collapse_cell(meter.result()) == "no window of 1 s holds two frames"


def test_collapse_table_lists_every_model(tmp_path):
    paths = {
        "strong/delta0.1/seed1": write_meter(tmp_path / "a.json", [np.ones((8, 2))]),
        "peers/clap": write_meter(tmp_path / "b.json", [np.ones((8, 2))], step=0.5),
    }
    table = collapse_table(paths)
    assert table.display.to_dict("records") == [
        {
            "Model": "strong/delta0.1/seed1",
            "Frame step (s)": "0.25",
            "Windows": "2",
            "Neighbour cosine": "1.000 ± 0.000 (100 % > 0.9)",
        },
        {
            "Model": "peers/clap",
            "Frame step (s)": "0.5",
            "Windows": "4",
            "Neighbour cosine": "1.000 ± 0.000 (100 % > 0.9)",
        },
    ]
    assert table.numbers["n_windows"].tolist() == [2, 4]
