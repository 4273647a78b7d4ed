"""Batch fingerprints: what the first N training batches of a run contained, in `batches.json`.

Two runs that should be identical can be compared batch by batch (`python -m iqa.consistency`)
long before their metrics are in, and a difference is pinned to a batch and a field: which
samples, where they were cropped, whether flipped, or only the pixel bytes.
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, List

import numpy as np

if TYPE_CHECKING:  # importing torch is not needed to read or compare fingerprints
    import torch

from iqa.atomic import write_json


def fingerprint(epoch: int, step: int, patches: torch.Tensor, samples: torch.Tensor, dataset) -> dict:
    """One batch as the loader delivered it (uint8 patches, before normalisation and device transfer)."""
    crops = [dataset.crop_params(epoch, s) for s in samples.tolist()]
    pixels = patches.contiguous().numpy()
    digest = hashlib.sha256(f"{pixels.dtype}{pixels.shape}".encode())
    digest.update(pixels.tobytes())
    values = pixels.astype(np.float64)
    return {
        "epoch": epoch,
        "step": step,
        "samples": samples.tolist(),
        "images": [c["image"] for c in crops],
        "tops": [c["top"] for c in crops],
        "lefts": [c["left"] for c in crops],
        "flips": [c["flip"] for c in crops],
        "jitter": [c["jitter"] for c in crops],
        "sha256": digest.hexdigest(),
        "sum": float(values.sum()),
        "std": float(values.std()),
    }


class BatchFingerprints:
    """Collects the first `limit` training batches (across epochs if one is shorter) and writes them.

    The file is written as soon as the last wanted batch is seen, so two long runs can be
    compared minutes after they start; a run with fewer batches writes what it has at each
    epoch's end. The list travels in `last.pt`, so a resumed run writes the same file.
    """

    def __init__(self, path, limit: int, dataset, seed: int):
        self.path, self.limit, self.dataset, self.seed = Path(path), limit, dataset, seed
        self.batches: List[dict] = []
        self._unsaved = False

    @property
    def complete(self) -> bool:
        return len(self.batches) >= self.limit

    def record(self, epoch: int, step: int, patches: torch.Tensor, samples: torch.Tensor) -> None:
        if self.complete:
            return
        self.batches.append(fingerprint(epoch, step, patches, samples, self.dataset))
        self._unsaved = True
        if self.complete:
            self.flush()

    def flush(self) -> None:
        """Write the file if batches were recorded since the last write."""
        if self._unsaved:
            write_json(self.path, {"seed": self.seed, "limit": self.limit, "batches": self.batches})
            self._unsaved = False

    def restore(self, batches: List[dict]) -> None:
        """Continue from a checkpoint's list, writing it into this run folder."""
        self.batches = list(batches)
        self._unsaved = bool(self.batches)
        self.flush()
