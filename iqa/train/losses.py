"""Training losses: L1 on MOS and L1 plus a pairwise margin-ranking term."""
from __future__ import annotations

import torch
from torch import nn


def pairwise_ranking(pred: torch.Tensor, mos: torch.Tensor, margin: float) -> torch.Tensor:
    """Mean over all pairs (i, j) with mos_i > mos_j of max(0, margin - (pred_i - pred_j)).

    Vectorised over the batch's pair matrix; zero when no pair is ordered (all MOS equal).
    """
    ordered = mos.unsqueeze(1) > mos.unsqueeze(0)
    hinge = torch.relu(margin - (pred.unsqueeze(1) - pred.unsqueeze(0)))
    count = ordered.sum()
    if count == 0:
        return pred.sum() * 0.0
    return (hinge * ordered).sum() / count


class L1Loss(nn.Module):
    """Mean absolute error between predicted and ground-truth MOS."""

    def forward(self, pred: torch.Tensor, mos: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.l1_loss(pred, mos)


class RankingLoss(nn.Module):
    """(1 - alpha) * L1 + alpha * pairwise ranking; alpha = 0 is exactly L1."""

    def __init__(self, alpha: float, margin: float):
        super().__init__()
        self.alpha, self.margin = alpha, margin

    def forward(self, pred: torch.Tensor, mos: torch.Tensor) -> torch.Tensor:
        l1 = torch.nn.functional.l1_loss(pred, mos)
        if self.alpha == 0:
            return l1
        return (1 - self.alpha) * l1 + self.alpha * pairwise_ranking(pred, mos, self.margin)


def build(loss_cfg) -> nn.Module:
    """The loss the `loss` config group names."""
    if loss_cfg.name == "ranking":
        return RankingLoss(loss_cfg.alpha, loss_cfg.margin)
    return L1Loss()
