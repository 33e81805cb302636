"""unimse_hf.losses: values against explicit-loop formulas, absent rows, degenerate batches, dtypes, errors."""

from __future__ import annotations

import math

import pytest
import torch

from unimse_hf.losses import InterModalityContrastiveLoss, SupervisedContrastiveLoss


# ------------------------------------------------------------------------------------------------ references
def _unit(rows: list[list[float]]) -> list[list[float]]:
    return [[x / math.sqrt(sum(v * v for v in row)) for x in row] for row in rows]


def _dot(u: list[float], v: list[float]) -> float:
    return sum(a * b for a, b in zip(u, v, strict=True))


def infonce_loop(anchor: torch.Tensor, other: torch.Tensor, temperature: float, symmetric: bool) -> float:
    """InfoNCE written sample by sample in float64 Python arithmetic."""
    a, o = _unit(anchor.double().tolist()), _unit(other.double().tolist())
    n = len(a)

    def one_direction(x: list[list[float]], y: list[list[float]]) -> float:
        total = 0.0
        for i in range(n):
            scores = [_dot(x[i], y[j]) / temperature for j in range(n)]
            total += -(scores[i] - math.log(sum(math.exp(s) for s in scores)))
        return total / n

    forward = one_direction(a, o)
    return (forward + one_direction(o, a)) / 2 if symmetric else forward


def supcon_loop(embeds: torch.Tensor, labels: list[int], temperature: float) -> float:
    """Khosla et al.'s L_out, averaged over the anchors that have a positive, sample by sample."""
    kept = [i for i, y in enumerate(labels) if y >= 0]
    z = _unit([embeds.double().tolist()[i] for i in kept])
    y = [labels[i] for i in kept]
    losses = []
    for i in range(len(z)):
        positives = [p for p in range(len(z)) if p != i and y[p] == y[i]]
        if not positives:
            continue
        denominator = sum(math.exp(_dot(z[i], z[a]) / temperature) for a in range(len(z)) if a != i)
        terms = [math.log(math.exp(_dot(z[i], z[p]) / temperature) / denominator) for p in positives]
        losses.append(-sum(terms) / len(positives))
    return sum(losses) / len(losses)


def _leaf(*shape: int, seed: int = 0, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=generator).to(dtype).requires_grad_()


# ------------------------------------------------------------------------------------------------ inter-modality
def test_hand_computed_identity_pair():
    # orthonormal and identical: logits [[2, 0], [0, 2]] at temperature 0.5, in both directions
    e = torch.eye(2)
    expected = math.log(1 + math.exp(-2))
    for symmetric in (True, False):
        loss = InterModalityContrastiveLoss(0.5, symmetric=symmetric)(e, e)
        assert loss.item() == pytest.approx(expected, rel=1e-5)


def test_hand_computed_symmetric_vs_one_direction():
    # anchors e1, e2; both others e1 (scaled, to check the normalisation)
    # a -> o: logits [[10, 10], [0, 0]] -> log 2 for each row
    # o -> a: logits [[10, 0], [10, 0]] -> log(1 + e^-10) and log(1 + e^10)
    anchor = torch.eye(2)
    other = torch.tensor([[3.0, 0.0], [0.5, 0.0]])
    forward = math.log(2)
    backward = (math.log(1 + math.exp(-10)) + math.log(1 + math.exp(10))) / 2
    one_way = InterModalityContrastiveLoss(0.1, symmetric=False)(anchor, other)
    both = InterModalityContrastiveLoss(0.1, symmetric=True)(anchor, other)
    assert one_way.item() == pytest.approx(forward, rel=1e-6)
    assert both.item() == pytest.approx((forward + backward) / 2, rel=1e-6)
    # swapping the arguments swaps the one-way direction and leaves the symmetric loss unchanged
    swapped = InterModalityContrastiveLoss(0.1, symmetric=False)(other, anchor)
    assert swapped.item() == pytest.approx(backward, rel=1e-6)
    assert InterModalityContrastiveLoss(0.1)(other, anchor).item() == pytest.approx(both.item(), rel=1e-6)


@pytest.mark.parametrize("symmetric", [True, False])
@pytest.mark.parametrize("temperature", [0.07, 0.1, 1.0])
def test_matches_loop_reference(symmetric: bool, temperature: float):
    anchor, other = _leaf(5, 4, seed=1), _leaf(5, 4, seed=2)
    loss = InterModalityContrastiveLoss(temperature, symmetric=symmetric)(anchor, other)
    assert loss.dtype == torch.float32 and loss.ndim == 0
    assert loss.item() == pytest.approx(infonce_loop(anchor, other, temperature, symmetric), rel=1e-5)


@pytest.mark.parametrize("symmetric", [True, False])
def test_absent_rows_take_no_part(symmetric: bool):
    anchor, other = _leaf(6, 3, seed=3), _leaf(6, 3, seed=4)
    present = torch.tensor([True, False, True, True, False, True])
    loss_fn = InterModalityContrastiveLoss(symmetric=symmetric)
    with_absent = loss_fn(anchor, other, present)
    without = loss_fn(anchor[present], other[present])
    assert with_absent.item() == pytest.approx(without.item(), rel=1e-6)
    assert with_absent.item() == pytest.approx(infonce_loop(anchor[present], other[present], 0.1, symmetric), rel=1e-5)
    # whatever the absent rows hold (here NaN) changes nothing, and they get zero gradient
    anchor2, other2 = anchor.detach().clone(), other.detach().clone()
    anchor2[~present], other2[~present] = float("nan"), float("nan")
    anchor2.requires_grad_(), other2.requires_grad_()
    loss = loss_fn(anchor2, other2, present)
    assert loss.item() == pytest.approx(without.item(), rel=1e-6)
    loss.backward()
    for grad in (anchor2.grad, other2.grad):
        assert torch.isfinite(grad).all()
        assert (grad[~present] == 0).all() and (grad[present] != 0).any()


def test_all_present_mask_equals_no_mask():
    anchor, other = _leaf(4, 3, seed=5), _leaf(4, 3, seed=6)
    loss_fn = InterModalityContrastiveLoss()
    assert loss_fn(anchor, other, torch.ones(4, dtype=torch.bool)).item() == loss_fn(anchor, other).item()


@pytest.mark.parametrize(
    ("batch", "present"),
    [(1, None), (4, [False, False, False, False]), (4, [False, True, False, False]), (0, None)],
)
def test_fewer_than_two_present_is_a_differentiable_zero(batch: int, present: list[bool] | None):
    anchor, other = _leaf(batch, 3, seed=7), _leaf(batch, 3, seed=8)
    mask = None if present is None else torch.tensor(present)
    loss = InterModalityContrastiveLoss()(anchor, other, mask)
    assert loss.item() == 0.0 and loss.dtype == torch.float32
    assert loss.requires_grad
    loss.backward()
    for grad in (anchor.grad, other.grad):
        assert grad is not None and torch.isfinite(grad).all() and (grad == 0).all()


def test_gradients_reach_both_inputs():
    anchor, other = _leaf(4, 3, seed=9), _leaf(4, 3, seed=10)
    InterModalityContrastiveLoss()(anchor, other).backward()
    for grad in (anchor.grad, other.grad):
        assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0


def test_one_direction_gradients_reach_both_inputs():
    anchor, other = _leaf(4, 3, seed=11), _leaf(4, 3, seed=12)
    InterModalityContrastiveLoss(symmetric=False)(anchor, other).backward()
    assert anchor.grad.abs().sum() > 0 and other.grad.abs().sum() > 0


@pytest.mark.parametrize("symmetric", [True, False])
def test_aligned_pairs_give_a_smaller_loss(symmetric: bool):
    anchor = _leaf(16, 8, seed=13).detach()
    aligned = anchor + 0.05 * _leaf(16, 8, seed=14).detach()
    random = _leaf(16, 8, seed=15).detach()
    loss_fn = InterModalityContrastiveLoss(symmetric=symmetric)
    assert loss_fn(anchor, aligned).item() < 0.1 < loss_fn(anchor, random).item()
    # and one gradient step on the other side reduces the loss
    other = random.clone().requires_grad_()
    before = loss_fn(anchor, other)
    before.backward()
    with torch.no_grad():
        after = loss_fn(anchor, other - 0.5 * other.grad)
    assert after.item() < before.item()


def test_bf16_inputs_give_a_float32_result():
    anchor, other = _leaf(6, 5, seed=16, dtype=torch.bfloat16), _leaf(6, 5, seed=17, dtype=torch.bfloat16)
    loss = InterModalityContrastiveLoss()(anchor, other)
    assert loss.dtype == torch.float32
    reference = InterModalityContrastiveLoss()(anchor.detach().float(), other.detach().float())
    assert loss.item() == pytest.approx(reference.item(), rel=1e-6)
    assert loss.item() == pytest.approx(infonce_loop(anchor.detach(), other.detach(), 0.1, True), rel=1e-5)
    loss.backward()
    assert anchor.grad.dtype == torch.bfloat16 and torch.isfinite(anchor.grad.float()).all()


def test_float32_under_bf16_autocast():
    anchor, other = _leaf(6, 64, seed=18), _leaf(6, 64, seed=19)
    reference = infonce_loop(anchor.detach(), other.detach(), 0.1, True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = InterModalityContrastiveLoss()(anchor, other)
    assert loss.dtype == torch.float32
    assert loss.item() == pytest.approx(reference, rel=1e-5)


@pytest.mark.parametrize(
    ("anchor", "other", "present", "error", "match"),
    [
        (torch.zeros(4), torch.zeros(4, 3), None, ValueError, "anchor_embeds must have shape"),
        (torch.zeros(4, 3), torch.zeros(4, 3, 1), None, ValueError, "other_embeds must have shape"),
        (torch.zeros(4, 3), torch.zeros(5, 3), None, ValueError, "anchor_embeds .* other_embeds"),
        (torch.zeros(4, 3), torch.zeros(4, 2), None, ValueError, "anchor_embeds .* other_embeds"),
        (torch.zeros(4, 3, dtype=torch.long), torch.zeros(4, 3), None, TypeError, "anchor_embeds .* floating"),
        ([[0.0]], torch.zeros(1, 1), None, TypeError, "anchor_embeds must be a torch.Tensor"),
        (torch.zeros(4, 3), torch.zeros(4, 3), torch.ones(3, dtype=torch.bool), ValueError, "present must have"),
        (torch.zeros(4, 3), torch.zeros(4, 3), torch.ones(4), TypeError, "present must be a bool"),
    ],
)
def test_invalid_inputs_name_the_argument(anchor, other, present, error, match):
    with pytest.raises(error, match=match):
        InterModalityContrastiveLoss()(anchor, other, present)


@pytest.mark.parametrize("loss_class", [InterModalityContrastiveLoss, SupervisedContrastiveLoss])
@pytest.mark.parametrize("temperature", [0.0, -0.1, float("nan"), float("inf")])
def test_invalid_temperature(loss_class, temperature: float):
    with pytest.raises(ValueError, match="temperature"):
        loss_class(temperature=temperature)


def test_config_and_citation():
    loss_fn = InterModalityContrastiveLoss(temperature=0.2, symmetric=False)
    assert loss_fn.get_config_dict() == {"temperature": 0.2, "symmetric": False}
    assert "hu2022unimse" in loss_fn.citation and "oord2018cpc" in loss_fn.citation
    assert "temperature=0.2" in repr(loss_fn)
    supcon = SupervisedContrastiveLoss(temperature=0.3)
    assert supcon.get_config_dict() == {"temperature": 0.3}
    assert supcon.citation.startswith("@inproceedings{khosla2020supcon")


# ------------------------------------------------------------------------------------------------ SupCon
def test_supcon_hand_computed():
    # labels [0, 0, 1]; z1 = z2 = e1, z3 = e2; temperature 1
    # anchors 0 and 1: -log(e / (e + 1)) = log(1 + e^-1); anchor 2 has no positive and is skipped
    embeds = torch.tensor([[1.0, 0.0], [2.0, 0.0], [0.0, 1.0]])
    loss = SupervisedContrastiveLoss(temperature=1.0)(embeds, torch.tensor([0, 0, 1]))
    assert loss.item() == pytest.approx(math.log(1 + math.exp(-1)), rel=1e-6)


@pytest.mark.parametrize("temperature", [0.1, 0.5])
@pytest.mark.parametrize(
    "labels",
    [[0, 1, 0, 1, 2, 2, 0], [3, 3, 3, 3, 3, 3, 3], [0, -1, 0, 1, 2, -1, 1], [0, 1, 2, 3, 4, 5, 0]],
)
def test_supcon_matches_loop_reference(labels: list[int], temperature: float):
    embeds = _leaf(7, 4, seed=20)
    loss = SupervisedContrastiveLoss(temperature)(embeds, torch.tensor(labels))
    assert loss.dtype == torch.float32 and loss.ndim == 0
    assert loss.item() == pytest.approx(supcon_loop(embeds, labels, temperature), rel=1e-5)


def test_supcon_unlabelled_rows_take_no_part():
    embeds = _leaf(6, 4, seed=21)
    labels = torch.tensor([0, -1, 0, 1, 1, -100])
    keep = labels >= 0
    loss_fn = SupervisedContrastiveLoss()
    assert loss_fn(embeds, labels).item() == pytest.approx(loss_fn(embeds[keep], labels[keep]).item(), rel=1e-6)
    moved = embeds.detach().clone()
    moved[~keep] = moved[0].clone()  # an unlabelled copy of anchor 0 would be a strong negative if it took part
    assert loss_fn(moved, labels).item() == pytest.approx(loss_fn(embeds, labels).item(), rel=1e-6)
    loss_fn(embeds, labels).backward()
    assert (embeds.grad[~keep] == 0).all() and (embeds.grad[keep] != 0).any()


@pytest.mark.parametrize("labels", [[0, 1, 2, 3], [-1, -1, -1, -1], [5, -1, -1, 6], [7]])
def test_supcon_without_positives_is_a_differentiable_zero(labels: list[int]):
    embeds = _leaf(len(labels), 3, seed=22)
    loss = SupervisedContrastiveLoss()(embeds, torch.tensor(labels))
    assert loss.item() == 0.0 and loss.requires_grad
    loss.backward()
    assert torch.isfinite(embeds.grad).all() and (embeds.grad == 0).all()


def test_supcon_clustered_embeddings_give_a_smaller_loss():
    labels = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1, 2])
    centres = 5 * torch.eye(3, 8)
    clustered = centres[labels] + 0.1 * _leaf(9, 8, seed=23).detach()
    random = _leaf(9, 8, seed=24)
    loss_fn = SupervisedContrastiveLoss()
    assert loss_fn(clustered, labels).item() < loss_fn(random, labels).item()
    loss_fn(random, labels).backward()
    assert random.grad.abs().sum() > 0


def test_supcon_bf16_gives_float32():
    embeds = _leaf(6, 4, seed=25, dtype=torch.bfloat16)
    labels = [0, 1, 0, 1, 2, 2]
    loss = SupervisedContrastiveLoss()(embeds, torch.tensor(labels))
    assert loss.dtype == torch.float32
    assert loss.item() == pytest.approx(supcon_loop(embeds.detach(), labels, 0.1), rel=1e-5)


@pytest.mark.parametrize(
    ("embeds", "labels", "error", "match"),
    [
        (torch.zeros(4), torch.zeros(4, dtype=torch.long), ValueError, "embeds must have shape"),
        (torch.zeros(4, 3, dtype=torch.long), torch.zeros(4, dtype=torch.long), TypeError, "embeds .* floating"),
        (torch.zeros(4, 3), torch.zeros(4), TypeError, "labels must be an integer"),
        (torch.zeros(4, 3), torch.zeros(4, dtype=torch.bool), TypeError, "labels must be an integer"),
        (torch.zeros(4, 3), torch.zeros(3, dtype=torch.long), ValueError, "labels must have shape"),
        (torch.zeros(4, 3), [0, 0, 0, 0], TypeError, "labels must be a torch.Tensor"),
    ],
)
def test_supcon_invalid_inputs_name_the_argument(embeds, labels, error, match):
    with pytest.raises(error, match=match):
        SupervisedContrastiveLoss()(embeds, labels)
