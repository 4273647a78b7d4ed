"""The ranking loss against a brute-force double loop over pairs."""
import pytest
import torch

from omegaconf import OmegaConf

from helpers import compose
from iqa.build import build
from iqa.train.losses import RankingLoss, pairwise_ranking


def brute_force(pred, mos, margin):
    total, count = 0.0, 0
    for i in range(len(mos)):
        for j in range(len(mos)):
            if mos[i] > mos[j]:
                total += max(0.0, margin - (pred[i] - pred[j]))
                count += 1
    return total / count if count else 0.0


@pytest.mark.parametrize("margin", [0.0, 0.1, 0.5])
def test_pairwise_matches_double_loop(margin):
    g = torch.Generator().manual_seed(0)
    pred = torch.rand(17, generator=g, dtype=torch.float64)
    mos = torch.randint(0, 6, (17,), generator=g).double()  # ties included
    expected = brute_force(pred.tolist(), mos.tolist(), margin)
    assert pairwise_ranking(pred, mos, margin).item() == pytest.approx(expected, rel=1e-12)


def test_ranking_combines_l1_and_pairs():
    g = torch.Generator().manual_seed(1)
    pred, mos = torch.rand(9, generator=g, dtype=torch.float64), torch.rand(9, generator=g, dtype=torch.float64)
    alpha, margin = 0.3, 0.2
    l1 = (pred - mos).abs().mean().item()
    expected = (1 - alpha) * l1 + alpha * brute_force(pred.tolist(), mos.tolist(), margin)
    assert RankingLoss(alpha, margin)(pred, mos).item() == pytest.approx(expected, rel=1e-12)


def test_alpha_zero_is_exactly_l1():
    pred, mos = torch.tensor([0.1, 0.9, 0.4]), torch.tensor([0.3, 0.2, 0.8])
    l1 = build(compose("loss=l1").loss, "loss")(pred, mos)
    ranking = build(compose("loss=ranking", "loss.alpha=0.0", "loss.margin=0.5").loss, "loss")
    assert isinstance(ranking, RankingLoss) and torch.equal(ranking(pred, mos), l1)


def test_a_loss_of_ones_own_plugs_in_by_target():
    node = OmegaConf.create({"_target_": "torch.nn.SmoothL1Loss", "beta": 0.5})
    pred, mos = torch.tensor([0.0, 2.0]), torch.tensor([0.2, 0.0])
    assert build(node, "loss")(pred, mos).item() == pytest.approx(((0.2 ** 2 / 2 / 0.5) + (2.0 - 0.25)) / 2)


def test_equal_mos_batch_has_no_pairs_and_keeps_gradients():
    pred = torch.tensor([0.2, 0.4], requires_grad=True)
    loss = pairwise_ranking(pred, torch.tensor([1.0, 1.0]), 0.3)
    loss.backward()
    assert loss.item() == 0.0 and pred.grad is not None
