"""Supervised SED row: ASIT_strong_1's strong head on the first 10 s, 250 frames, scoring."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tacos.data.audioset import query_set, read_categories, read_class_list
from tacos.models.asit import ASIT_STRONG_1_URL, ASiT, ASiTConfig, CheckpointError
from tacos.models.demo_encoder import DemoAudioEncoder, DemoEncoderConfig
from tacos.models.fixtures import random_asit_release, write_random_asit_release
from tacos.models.supervised import (
    SupervisedConfig,
    SupervisedSED,
    fit_sequence_length,
    load_strong_head_checkpoint,
    median_filter_frames,
    query_scores,
    supervised_scores,
)

TINY = ASiTConfig(embed_dim=32, depth=2, num_heads=2)
RATE = 32000


@pytest.fixture(scope="module")
def tiny_sed() -> SupervisedSED:
    torch.manual_seed(0)
    return SupervisedSED(ASiT(TINY)).eval()


@pytest.fixture(scope="module")
def clip_30s() -> torch.Tensor:
    return torch.randn(2, 30 * RATE, generator=torch.Generator().manual_seed(1))


@pytest.fixture(scope="module")
def logits_30s(tiny_sed, clip_30s) -> torch.Tensor:
    with torch.no_grad():
        return tiny_sed(clip_30s)


def test_config_defaults_are_the_authors():
    config = SupervisedConfig()
    assert (config.seq_len, config.input_seconds, config.median_filter, config.n_classes) == (
        250,
        10.0,
        9,
        447,
    )


def test_30s_input_gives_250_frames_of_447_logits(tiny_sed, logits_30s):
    assert logits_30s.shape == (2, 250, 447)
    assert torch.isfinite(logits_30s).all()
    assert tiny_sed.strong_head.weight.shape == (447, 32)


def test_frame_step_is_40_ms_and_rate_is_the_backbones(tiny_sed):
    assert tiny_sed.frame_step == pytest.approx(0.04)
    assert tiny_sed.sample_rate == RATE
    assert tiny_sed.input_samples == 10 * RATE


def test_audio_after_10s_does_not_change_the_logits(tiny_sed, clip_30s, logits_30s):
    changed = clip_30s.clone()
    changed[:, 10 * RATE :] = torch.randn(2, 20 * RATE) * 5
    with torch.no_grad():
        assert torch.equal(tiny_sed(changed), logits_30s)
        assert torch.equal(tiny_sed(clip_30s[:, : 10 * RATE]), logits_30s)


def test_short_input_is_zero_padded_to_10s(tiny_sed):
    short = torch.randn(1, 4 * RATE)
    padded = torch.cat([short, torch.zeros(1, 6 * RATE)], dim=1)
    with torch.no_grad():
        assert torch.equal(tiny_sed(short), tiny_sed(padded))


def test_asit_on_10s_gives_497_tokens_pooled_to_250(tiny_sed):
    with torch.no_grad():
        tokens = tiny_sed.backbone(torch.randn(1, 10 * RATE))
    assert tokens.shape == (1, 1 + 62 * 8, 32)


def test_sequence_is_fitted_by_adaptive_average_pooling_over_time():
    frames = torch.randn(2, 497, 3)
    fitted = fit_sequence_length(frames, 250)
    for i in (0, 1, 124, 249):
        start, end = (i * 497) // 250, -((-(i + 1) * 497) // 250)
        torch.testing.assert_close(fitted[:, i], frames[:, start:end].mean(dim=1))
    assert fit_sequence_length(frames, 497) is frames


def test_shorter_sequence_is_linearly_interpolated():
    frames = torch.arange(5.0).reshape(1, 5, 1)
    fitted = fit_sequence_length(frames, 10)
    assert fitted.shape == (1, 10, 1)
    assert fitted[0, 0, 0] == 0.0 and fitted[0, -1, 0] == 4.0
    assert (fitted[0, 1:, 0] >= fitted[0, :-1, 0]).all()


def test_demo_cnn_works_as_backbone():
    encoder = DemoAudioEncoder(
        DemoEncoderConfig(
            input_sample_rate=16000, channels=(8, 16), freq_strides=(4, 4), time_strides=(2, 1)
        )
    )
    model = SupervisedSED(encoder).eval()
    with torch.no_grad():
        logits = model(torch.randn(1, 12 * 16000))
    assert logits.shape == (1, 250, 447)
    assert model.sample_rate == 16000 and model.input_samples == 160000


def test_release_checkpoint_round_trips_backbone_and_strong_head(tmp_path):
    path = write_random_asit_release(tmp_path / "ASIT_strong_1.pt", TINY, seed=3)
    release = torch.load(path, weights_only=True)
    model = SupervisedSED(ASiT(TINY))
    load_strong_head_checkpoint(model, path)
    assert torch.equal(model.strong_head.weight, release["strong_head.weight"])
    assert torch.equal(model.strong_head.bias, release["strong_head.bias"])
    for key, value in model.backbone.state_dict().items():
        assert torch.equal(value, release["model." + key]), key
    assert not torch.equal(model.strong_head.weight, release["weak_head.weight"])


def test_missing_checkpoint_names_the_download_url(tmp_path):
    with pytest.raises(FileNotFoundError, match="ASIT_strong_1.pt"):
        load_strong_head_checkpoint(SupervisedSED(ASiT(TINY)), tmp_path / "absent.pt")
    assert ASIT_STRONG_1_URL.endswith("/v0.0.1/ASIT_strong_1.pt")


def test_head_of_another_size_is_refused(tmp_path):
    path = write_random_asit_release(tmp_path / "c.pt", TINY, n_classes=527)
    with pytest.raises(CheckpointError, match=r"strong_head: 2 shape mismatches.*\(527, 32\)"):
        load_strong_head_checkpoint(SupervisedSED(ASiT(TINY)), path)


def test_checkpoint_with_rnn_or_other_depth_is_refused(tmp_path):
    release = random_asit_release(TINY)
    release["seq_model.rnn.weight_ih_l0"] = torch.zeros(3)
    torch.save(release, tmp_path / "rnn.pt")
    with pytest.raises(CheckpointError, match=r"backbone: 1 unexpected keys.*seq_model"):
        load_strong_head_checkpoint(SupervisedSED(ASiT(TINY)), tmp_path / "rnn.pt")
    deeper = ASiTConfig(embed_dim=32, depth=3, num_heads=2)
    with pytest.raises(CheckpointError, match=r"backbone: 12 missing keys.*blocks\.2\."):
        load_strong_head_checkpoint(SupervisedSED(ASiT(deeper)), tmp_path / "rnn.pt")
    no_head = {k: v for k, v in random_asit_release(TINY).items() if "strong_head" not in k}
    torch.save(no_head, tmp_path / "no_head.pt")
    with pytest.raises(CheckpointError, match=r"strong_head: 2 missing keys"):
        load_strong_head_checkpoint(SupervisedSED(ASiT(TINY)), tmp_path / "no_head.pt")


def direct_median(scores: np.ndarray, size: int) -> np.ndarray:
    """Per column, per frame: median of the ``size`` frames around it, edges mirrored with the
    edge frame repeated (numpy ``symmetric`` = scipy ``reflect``)."""
    half = size // 2
    out = np.empty_like(scores)
    for column in range(scores.shape[1]):
        padded = np.pad(scores[:, column], half, mode="symmetric")
        out[:, column] = [np.median(padded[t : t + size]) for t in range(len(scores))]
    return out


@pytest.mark.parametrize("frames", [250, 9, 4])
def test_median_filter_equals_direct_per_column_computation(frames):
    scores = np.random.default_rng(frames).standard_normal((frames, 6)).astype(np.float32)
    filtered = median_filter_frames(scores, 9)
    assert filtered.dtype == np.float32
    np.testing.assert_array_equal(filtered, direct_median(scores, 9))
    np.testing.assert_array_equal(median_filter_frames(torch.from_numpy(scores), 9), filtered)
    np.testing.assert_array_equal(median_filter_frames(scores, 1), scores)


def test_median_filter_removes_short_spikes_and_keeps_long_events():
    scores = np.zeros((40, 2), dtype=np.float32)
    scores[10:14, 0] = 5.0  # 4 frames: shorter than half the window
    scores[20:30, 1] = 5.0  # 10 frames
    filtered = median_filter_frames(scores, 9)
    assert (filtered[:, 0] == 0).all()
    np.testing.assert_array_equal(filtered[:, 1], scores[:, 1])


def test_median_filter_rejects_bad_sizes_and_shapes():
    with pytest.raises(ValueError, match="positive integer"):
        median_filter_frames(np.zeros((5, 2)), 0)
    with pytest.raises(ValueError, match=r"\[frames, classes\]"):
        median_filter_frames(np.zeros(5), 3)


def test_head_class_list_has_447_unique_sorted_names_covering_both_query_sets():
    train = read_class_list("train")
    assert len(train) == len(set(train)) == 447
    assert train == sorted(train)
    assert set(read_class_list("eval_train")) <= set(train)
    members = [c for names in read_categories()["category_to_audioset"].values() for c in names]
    assert len(members) == len(set(members)) == 117
    assert set(members) <= set(train)


def test_classes407_picks_the_eval_columns_by_name():
    train = read_class_list("train")
    frames = np.arange(3, dtype=np.float32)[:, None] * 1000
    logits = frames + np.arange(447, dtype=np.float32)[None, :]
    scores = query_scores(logits, train, "classes407")
    assert scores.shape == (3, 407)
    expected = [train.index(name) for name in read_class_list("eval_train")]
    np.testing.assert_array_equal(scores, logits[:, expected])
    # a head whose columns are in another order is followed by name, not position
    order = np.random.default_rng(0).permutation(447)
    permuted = query_scores(logits[:, order], [train[i] for i in order], "classes407")
    np.testing.assert_array_equal(permuted, scores)
    assert query_set("classes407")[0] == read_class_list("eval_train")


def test_categories50_sums_the_member_columns():
    train = read_class_list("train")
    categories = read_categories()
    logits = np.random.default_rng(2).integers(-50, 50, (7, 447)).astype(np.float32)
    scores = query_scores(logits, train, "categories50")
    names = list(categories["category_to_sentence"])
    assert query_set("categories50")[0] == names and len(names) == 50
    assert scores.shape == (7, 50)
    for k, name in enumerate(names):
        members = [train.index(c) for c in categories["category_to_audioset"][name]]
        expected = sum(logits[:, i] for i in members)
        np.testing.assert_array_equal(scores[:, k], expected, err_msg=name)
    assert len(categories["category_to_audioset"]["Speech"]) == 7


def test_supervised_scores_filter_each_class_then_sum():
    train = read_class_list("train")
    logits = np.random.default_rng(3).standard_normal((60, 447)).astype(np.float32)
    scores = supervised_scores(logits, train, "categories50")
    filtered = direct_median(logits, 9)
    members = read_categories()["category_to_audioset"]
    for k, name in enumerate(query_set("categories50")[0]):
        expected = filtered[:, [train.index(c) for c in members[name]]].sum(axis=1)
        np.testing.assert_allclose(scores[:, k], expected, rtol=0, atol=1e-5)
    np.testing.assert_array_equal(
        supervised_scores(logits, train, "classes407"),
        query_scores(filtered, train, "classes407"),
    )


def test_query_scores_rejects_unknown_sets_and_mismatched_class_lists():
    train = read_class_list("train")
    with pytest.raises(ValueError, match="unknown query set"):
        query_scores(np.zeros((2, 447)), train, "classes416")
    with pytest.raises(ValueError, match="446 class names for 447"):
        query_scores(np.zeros((2, 447)), train[:-1], "classes407")
    renamed = ["x" if name == "Bark" else name for name in train]
    with pytest.raises(ValueError, match="Bark"):
        query_scores(np.zeros((2, 447)), renamed, "categories50")
