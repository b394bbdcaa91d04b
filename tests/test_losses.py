"""The losses (docs/protocol.md, section 5) against plain per-region and per-frame loops."""

import math

import pytest
import torch

from tacos.losses import frame_contrastive_loss, global_contrastive_loss, regions_to_frames

F64 = torch.float64


def loop_frame_loss(frames, text, clip, start, end, tau, groups=None, intra=False, negatives=None):
    """Eq. 6 written out: one softmax per (region, frame), negatives listed one by one."""
    clip, start, end = clip.tolist(), start.tolist(), end.tolist()
    groups = list(range(len(text))) if groups is None else groups.tolist()
    if negatives is None:
        negative_text, negative_clip, negative_groups = text, clip, groups
    else:
        negative_text, negative_clip, negative_groups = negatives
        negative_clip = negative_clip.tolist()
        negative_groups = list(range(len(negative_text)))
        if negatives[2] is not None:
            negative_groups = negatives[2].tolist()
    inter_texts = first_row_of_each_text(negative_clip, negative_groups)
    own_texts = first_row_of_each_text(clip, groups)

    def covers(c, g, t):
        return any(
            clip[m] == c and groups[m] == g and start[m] <= t < end[m] for m in range(len(clip))
        )

    region_losses = []
    for r in range(len(text)):
        c = clip[r]
        frame_losses = []
        for t in range(start[r], end[r]):
            a = frames[c, t]
            logits = [a @ text[r] / tau]
            logits += [a @ negative_text[i] / tau for (nc, _), i in inter_texts.items() if nc != c]
            if intra:
                logits += [
                    a @ text[i] / tau
                    for (nc, g), i in own_texts.items()
                    if nc == c and g != groups[r] and not covers(c, g, t)
                ]
            exps = torch.exp(torch.stack(logits))
            frame_losses.append(-torch.log(exps[0] / exps.sum()))
        region_losses.append(sum(frame_losses) / len(frame_losses))
    return sum(region_losses) / len(region_losses)


def first_row_of_each_text(clips, groups):
    first = {}
    for row, key in enumerate(zip(clips, groups, strict=True)):
        first.setdefault(key, row)
    return first


def batch_tensors(regions, n_clips, n_frames, dim, seed):
    """Frames and captions for regions given as (clip, start, end, group); one text per group."""
    generator = torch.Generator().manual_seed(seed)
    frames = torch.randn(n_clips, n_frames, dim, generator=generator, dtype=F64)
    texts = {}
    for c, _, _, g in regions:
        texts.setdefault((c, g), torch.randn(dim, generator=generator, dtype=F64))
    text = torch.stack([texts[(c, g)] for c, _, _, g in regions])
    clip, start, end, groups = (torch.tensor(column) for column in zip(*regions, strict=True))
    return frames, text, clip, start, end, groups


# clip 0: overlapping regions, a duplicate caption (group 0 twice), a one-frame region;
# clip 1: a single one-frame region at the clip's end whose text equals clip 0's group 0;
# clip 2: no regions; clip 3: a region over the whole clip and a duplicated short caption.
HANDMADE = [
    (0, 0, 3, 0),
    (0, 2, 6, 1),
    (0, 7, 10, 0),
    (0, 5, 6, 2),
    (1, 9, 10, 0),
    (3, 0, 10, 0),
    (3, 4, 5, 1),
    (3, 6, 8, 1),
]


def handmade_batch():
    frames, text, clip, start, end, groups = batch_tensors(HANDMADE, 4, 10, 6, seed=0)
    text[4] = text[0]
    return frames, text, clip, start, end, groups


@pytest.mark.parametrize("intra", [False, True])
@pytest.mark.parametrize("tau", [1.0, 0.3])
def test_frame_loss_and_gradients_match_loop_on_handmade_batch(intra, tau):
    frames, text, clip, start, end, groups = handmade_batch()
    frames.requires_grad_()
    text.requires_grad_()
    loss = frame_contrastive_loss(frames, text, clip, start, end, tau, groups, intra)
    expected = loop_frame_loss(frames, text, clip, start, end, tau, groups, intra)
    assert loss.dtype == F64
    assert loss.item() == pytest.approx(expected.item(), abs=1e-10)
    grads = torch.autograd.grad(loss, (frames, text))
    expected_grads = torch.autograd.grad(expected, (frames, text))
    for grad, expected_grad in zip(grads, expected_grads, strict=True):
        torch.testing.assert_close(grad, expected_grad, rtol=0, atol=1e-10)


def random_regions(seed, n_clips=4, n_frames=12):
    generator = torch.Generator().manual_seed(seed)

    def draw(low, high):
        return int(torch.randint(low, high, (), generator=generator))

    regions = []
    for c in range(n_clips):
        for _ in range(draw(0, 5)):
            s = draw(0, n_frames)
            regions.append((c, s, draw(s + 1, n_frames + 1), draw(0, 3)))
    return regions


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("intra", [False, True])
def test_frame_loss_matches_loop_on_random_batches(seed, intra):
    regions = random_regions(seed)
    frames, text, clip, start, end, groups = batch_tensors(regions, 4, 12, 5, seed)
    loss = frame_contrastive_loss(frames, text, clip, start, end, 0.5, groups, intra)
    expected = loop_frame_loss(frames, text, clip, start, end, 0.5, groups, intra)
    assert loss.item() == pytest.approx(expected.item(), abs=1e-10)


def test_without_groups_every_row_is_a_distinct_text():
    frames, text, clip, start, end, _ = handmade_batch()
    loss = frame_contrastive_loss(frames, text, clip, start, end)
    assert loss.item() == pytest.approx(
        loop_frame_loss(frames, text, clip, start, end, 1.0).item(), abs=1e-10
    )


def test_duplicate_caption_of_other_clip_counts_once():
    # Clip 0 frame (1, 0) with caption (1, 0); clip 1 frame (0, 1) has two regions of one caption
    # (0, 1). Every region: positive logit 1, one negative logit 0.
    frames = torch.tensor([[[1.0, 0.0]], [[0.0, 1.0]]], dtype=F64)
    text = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]], dtype=F64)
    clip, start, end = torch.tensor([0, 1, 1]), torch.tensor([0, 0, 0]), torch.tensor([1, 1, 1])
    groups = torch.tensor([7, 5, 5])
    deduplicated = frame_contrastive_loss(frames, text, clip, start, end, 1.0, groups)
    assert deduplicated.item() == pytest.approx(-math.log(math.e / (math.e + 1)), abs=1e-12)
    distinct = frame_contrastive_loss(frames, text, clip, start, end, 1.0)
    expected = (-math.log(math.e / (math.e + 2)) - 2 * math.log(math.e / (math.e + 1))) / 3
    assert distinct.item() == pytest.approx(expected, abs=1e-12)


def test_single_clip_has_no_negatives_so_zero_loss_and_zero_gradient():
    frames = torch.randn(1, 6, 4, dtype=F64, requires_grad=True)
    text = torch.randn(2, 4, dtype=F64, requires_grad=True)
    clip, start, end = torch.tensor([0, 0]), torch.tensor([0, 3]), torch.tensor([2, 6])
    loss = frame_contrastive_loss(frames, text, clip, start, end)
    loss.backward()
    assert loss.item() == 0.0
    assert torch.equal(frames.grad, torch.zeros_like(frames))
    assert torch.equal(text.grad, torch.zeros_like(text))


def test_intra_clip_negatives_use_captions_not_covering_the_frame():
    frames = torch.randn(1, 6, 4, dtype=F64, requires_grad=True)
    text = torch.randn(2, 4, dtype=F64, requires_grad=True)
    clip, start, end = torch.tensor([0, 0]), torch.tensor([0, 3]), torch.tensor([2, 6])
    loss = frame_contrastive_loss(frames, text, clip, start, end, intra_clip_negatives=True)
    loss.backward()
    expected = loop_frame_loss(frames, text, clip, start, end, 1.0, intra=True)
    assert loss.item() > 0
    assert loss.item() == pytest.approx(expected.item(), abs=1e-10)
    assert torch.isfinite(frames.grad).all() and torch.isfinite(text.grad).all()


def test_batch_without_regions_gives_zero_connected_to_the_graph():
    frames = torch.randn(2, 5, 3, requires_grad=True)
    text = torch.zeros(0, 3, requires_grad=True)
    empty = torch.zeros(0, dtype=torch.long)
    loss = frame_contrastive_loss(frames, text, empty, empty, empty)
    loss.backward()
    assert loss.item() == 0.0
    assert torch.equal(frames.grad, torch.zeros_like(frames))


def test_separate_negatives_equal_to_the_batch_give_the_same_loss():
    frames, text, clip, start, end, groups = handmade_batch()
    default = frame_contrastive_loss(frames, text, clip, start, end, 0.5, groups, True)
    separate = frame_contrastive_loss(
        frames, text, clip, start, end, 0.5, groups, True,
        negative_text=text, negative_clip=clip, negative_groups=groups,
    )  # fmt: skip
    assert separate.item() == pytest.approx(default.item(), abs=1e-12)


@pytest.mark.parametrize("intra", [False, True])
def test_separate_negatives_from_other_ranks_join_the_negatives(intra):
    frames, text, clip, start, end, groups = handmade_batch()
    generator = torch.Generator().manual_seed(3)
    remote_text = torch.randn(3, text.shape[1], generator=generator, dtype=F64)
    remote_text[2] = remote_text[1]
    negative_text = torch.cat((text, remote_text))
    negative_clip = torch.cat((clip, torch.tensor([4, 5, 5])))
    negative_groups = torch.cat((groups, torch.tensor([0, 0, 0])))
    loss = frame_contrastive_loss(
        frames, text, clip, start, end, 0.5, groups, intra,
        negative_text=negative_text, negative_clip=negative_clip, negative_groups=negative_groups,
    )  # fmt: skip
    negatives = (negative_text, negative_clip, negative_groups)
    expected = loop_frame_loss(frames, text, clip, start, end, 0.5, groups, intra, negatives)
    assert loss.item() == pytest.approx(expected.item(), abs=1e-10)


@pytest.mark.parametrize("intra", [False, True])
def test_frame_loss_gradcheck(intra):
    generator = torch.Generator().manual_seed(1)
    frames = torch.randn(2, 4, 3, generator=generator, dtype=F64, requires_grad=True)
    text = torch.randn(4, 3, generator=generator, dtype=F64, requires_grad=True)
    clip, start = torch.tensor([0, 0, 1, 1]), torch.tensor([0, 1, 0, 3])
    end = torch.tensor([2, 4, 4, 4])
    groups = torch.tensor([0, 1, 0, 0])

    def loss(frames, text):
        return frame_contrastive_loss(frames, text, clip, start, end, 0.7, groups, intra)

    assert torch.autograd.gradcheck(loss, (frames, text))


@pytest.mark.parametrize(
    ("clip", "start", "end", "problem"),
    [
        ([0, 2], [0, 0], [1, 1], "clip 2"),
        ([0, 1], [0, 3], [1, 3], r"\[3, 3\)"),
        ([0, 1], [0, 2], [1, 5], r"\[2, 5\)"),
        ([0, -1], [0, 0], [1, 1], "clip -1"),
    ],
)
def test_frame_loss_rejects_regions_outside_the_batch(clip, start, end, problem):
    frames, text = torch.zeros(2, 4, 3), torch.zeros(2, 3)
    with pytest.raises(ValueError, match=f"region 1 .*{problem}"):
        frame_contrastive_loss(frames, text, *(torch.tensor(x) for x in (clip, start, end)))


def test_frame_loss_rejects_group_ids_of_wrong_length():
    frames, text = torch.zeros(2, 4, 3), torch.zeros(2, 3)
    regions = torch.tensor([0, 1]), torch.tensor([0, 0]), torch.tensor([1, 1])
    with pytest.raises(ValueError, match="text_groups"):
        frame_contrastive_loss(frames, text, *regions, text_groups=torch.tensor([0]))


def test_separate_negatives_need_their_clip_ids():
    frames, text = torch.zeros(2, 4, 3), torch.zeros(2, 3)
    regions = torch.tensor([0, 1]), torch.tensor([0, 0]), torch.tensor([1, 1])
    with pytest.raises(ValueError, match="negative_clip"):
        frame_contrastive_loss(frames, text, *regions, negative_text=torch.zeros(5, 3))


def test_frame_loss_under_bf16_autocast_is_the_float32_loss():
    frames, text, clip, start, end, groups = handmade_batch()
    frames, text = frames.float(), text.float()
    plain = frame_contrastive_loss(frames, text, clip, start, end, 0.1, groups, True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = frame_contrastive_loss(frames, text, clip, start, end, 0.1, groups, True)
    half_inputs = frame_contrastive_loss(
        frames.bfloat16(), text.bfloat16(), clip, start, end, 0.1, groups, True
    )
    rounded = frame_contrastive_loss(
        frames.bfloat16().float(), text.bfloat16().float(), clip, start, end, 0.1, groups, True
    )
    assert mixed.dtype == half_inputs.dtype == torch.float32
    torch.testing.assert_close(mixed, plain, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(half_inputs, rounded, rtol=1e-6, atol=1e-6)


def test_global_loss_on_a_hand_computed_pair():
    audio = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=F64)
    text = torch.tensor([[1.0, 0.0], [0.6, 0.8]], dtype=F64)
    # logits / tau = [[2.0, 1.2], [0.0, 1.6]] with tau = 0.5
    audio_to_text = -math.log(math.exp(2) / (math.exp(2) + math.exp(1.2))) - math.log(
        math.exp(1.6) / (1 + math.exp(1.6))
    )
    text_to_audio = -math.log(math.exp(2) / (math.exp(2) + 1)) - math.log(
        math.exp(1.6) / (math.exp(1.2) + math.exp(1.6))
    )
    expected = (audio_to_text / 2 + text_to_audio / 2) / 2
    loss = global_contrastive_loss(audio, text, tau=0.5)
    assert loss.item() == pytest.approx(expected, abs=1e-12)


def test_global_loss_gradcheck_and_default_tau():
    generator = torch.Generator().manual_seed(2)
    audio = torch.randn(3, 4, generator=generator, dtype=F64, requires_grad=True)
    text = torch.randn(3, 4, generator=generator, dtype=F64, requires_grad=True)
    assert torch.autograd.gradcheck(global_contrastive_loss, (audio, text))
    logits = audio @ text.T / 0.05
    log_a2t = torch.log_softmax(logits, 1).diagonal()
    log_t2a = torch.log_softmax(logits, 0).diagonal()
    expected = -(log_a2t.mean() + log_t2a.mean()) / 2
    assert global_contrastive_loss(audio, text).item() == pytest.approx(expected.item(), abs=1e-10)


def test_global_loss_under_bf16_autocast_is_the_float32_loss():
    audio = torch.nn.functional.normalize(torch.randn(8, 16), dim=1)
    text = torch.nn.functional.normalize(torch.randn(8, 16), dim=1)
    plain = global_contrastive_loss(audio, text)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = global_contrastive_loss(audio, text)
    assert mixed.dtype == torch.float32
    torch.testing.assert_close(mixed, plain, rtol=1e-6, atol=1e-6)


def test_global_loss_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="batch, dim"):
        global_contrastive_loss(torch.zeros(2, 3), torch.zeros(3, 3))


@pytest.mark.parametrize(
    ("onset", "offset", "delta", "n_frames", "expected"),
    [
        (0.06, 0.1, 0.02, 100, (3, 5)),  # exact multiples
        (0.58, 0.6, 0.02, 100, (29, 30)),  # 0.58 / 0.02 == 28.999999999999996
        (0.1, 0.14, 0.02, 100, (5, 7)),  # 0.14 / 0.02 == 7.000000000000001
        (0.3, 0.5, 0.1, 100, (3, 5)),  # 0.3 / 0.1 == 2.9999999999999996
        (0.03, 0.035, 0.02, 100, (1, 2)),  # inside one frame
        (0.5, 0.5 + 1e-12, 0.02, 100, (25, 26)),  # shorter than the snap: still one frame
        (-1.0, 0.05, 0.02, 100, (0, 3)),  # clipped at the clip's start
        (29.0, 31.0, 0.02, 1491, (1450, 1491)),  # clipped at the clip's end
        (0.0, 29.82, 0.02, 1491, (0, 1491)),  # ends exactly on the last frame boundary
    ],
)
def test_regions_to_frames_edges(onset, offset, delta, n_frames, expected):
    start, end = regions_to_frames(onset, offset, delta, n_frames)
    assert (start.item(), end.item()) == expected
    assert start.dtype == end.dtype == torch.long


def test_regions_to_frames_premise_float_error_is_real():
    assert 0.58 / 0.02 < 29 and 0.14 / 0.02 > 7 and 0.3 / 0.1 < 3


def test_regions_to_frames_clips_each_region_to_its_own_clip_length():
    onset = torch.tensor([0.0, 1.0, 0.25], dtype=F64)
    offset = torch.tensor([5.0, 5.0, 0.75], dtype=F64)
    start, end = regions_to_frames(onset, offset, 0.5, torch.tensor([4, 20, 20]))
    assert start.tolist() == [0, 2, 0]
    assert end.tolist() == [4, 10, 2]


@pytest.mark.parametrize(
    ("onset", "offset", "problem"),
    [
        (30.0, 31.0, "no frame inside the clip"),  # starts past the real frames
        (29.82, 30.0, "no frame inside the clip"),  # starts exactly at the clip's end
        (-2.0, -1.0, "no frame inside the clip"),  # ends before the clip
        (0.0, 0.0, "offset > onset"),
        (3.0, 1.0, "offset > onset"),
        (float("nan"), 1.0, "offset > onset"),
    ],
)
def test_regions_to_frames_rejects_regions_without_frames(onset, offset, problem):
    onsets, offsets = [0.0, 1.0, onset], [1.0, 2.0, offset]
    with pytest.raises(ValueError, match=f"region 2 .*{problem}"):
        regions_to_frames(onsets, offsets, 0.02, 1491)
