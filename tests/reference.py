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
