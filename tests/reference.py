"""The reference HyperIQA's ways of computing, kept to measure ours against and to test equality.

- Per-image target-network weights applied as one grouped 1x1 convolution over the batch
  (ours: batched matrix multiplication, `HyperIQA.target_net`).
- Evaluation with one crop per forward pass at batch size 1 (ours: every crop of several images
  in one pass, `iqa.evaluation.evaluate.predict`).
Used by `benchmarks/` and `tests/`, never by a run.
"""
from __future__ import annotations

from typing import List, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from iqa.data.patches import normalize


def grouped_target_net(vec: torch.Tensor, weights: List[torch.Tensor], biases: List[torch.Tensor]) -> torch.Tensor:
    """`HyperIQA.target_net` computed the reference way: the batch becomes the channel groups.

    Image i's layer weights [out, in] become group i of a [n * out, in, 1, 1] kernel applied to a
    [1, n * in, 1, 1] input; sigmoid after all but the last layer.
    """
    n = vec.shape[0]
    q = vec.reshape(1, -1, 1, 1)
    for i, (w, b) in enumerate(zip(weights, biases)):
        out_f, in_f = w.shape[1], w.shape[2]
        q = F.conv2d(q, w.reshape(n * out_f, in_f, 1, 1), b.reshape(n * out_f), groups=n)
        if i < len(weights) - 1:
            q = torch.sigmoid(q)
    return q.reshape(-1)


def grouped_forward(model, x: torch.Tensor) -> torch.Tensor:
    """A HyperIQA model's forward pass with the grouped-convolution target network."""
    return grouped_target_net(*model.hyper_params(x))


@torch.no_grad()
def predict_one_crop_per_pass(model, dataset, device: torch.device) -> Tuple[np.ndarray, np.ndarray]:
    """Per-image scores of a `TestCrops` dataset, each crop alone through the model (the reference loop)."""
    model.eval()
    preds, moses = [], []
    for i in range(len(dataset)):
        crops, mos, _ = dataset[i]
        scores = [grouped_forward(model, normalize(crop.unsqueeze(0).to(device))).item() for crop in crops]
        preds.append(float(np.mean(scores)))
        moses.append(float(mos))
    return np.asarray(preds, dtype=np.float32), np.asarray(moses, dtype=np.float32)


def logistic_fit_multistart(pred, mos) -> np.ndarray:
    """The VQEG 4-parameter logistic fitted the plain way, as a check on `iqa.evaluation.metrics.
    logistic_fit`: all four parameters at once (bounded trust-region least squares on standardised
    data, rise >= 0), from many starting points (centres at quantiles and between neighbouring
    predictions, scales from a step to a line), keeping the lowest sum of squares."""
    from scipy.optimize import least_squares
    from scipy.special import expit

    pred, mos = np.asarray(pred, dtype=np.float64), np.asarray(mos, dtype=np.float64)
    x, y = (pred - pred.mean()) / pred.std(), (mos - mos.mean()) / mos.std()
    ordered = np.sort(x)
    centres = np.concatenate([np.quantile(x, np.linspace(0, 1, 7)),
                              np.quantile((ordered[1:] + ordered[:-1]) / 2, np.linspace(0, 1, min(len(x) - 1, 20)))])

    def residuals(p):
        return p[0] + p[1] * expit((x - p[2]) / p[3]) - y
    best = None
    for centre in centres:
        for scale in (1e-4, 1.0):
            z = expit((x - centre) / scale)
            low, rise = np.linalg.lstsq(np.c_[np.ones_like(z), z], y, rcond=None)[0]
            fit = least_squares(residuals, [low, max(rise, 1e-6), centre, scale],
                                bounds=([-np.inf, 0.0, -np.inf, 1e-12], np.inf), method="trf", max_nfev=200,
                                xtol=1e-10, ftol=1e-10, gtol=1e-10)
            if best is None or fit.cost < best.cost:
                best = fit
    return (best.fun + y) * mos.std() + mos.mean()
