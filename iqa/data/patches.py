"""Patch datasets over decoded images: random training crops and deterministic test crops.

Every random choice (shuffle order, crop position, flip, jitter) is a pure function of
(seed, epoch, sample), so batches do not depend on `num_workers`.
"""
from __future__ import annotations

import math
import warnings
from typing import Iterator, List, Optional, Tuple

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from iqa.data.imageset import ImageSet
from iqa.runtime.repro import generator

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def as_tensors(images) -> List[torch.Tensor]:
    """HxWx3 uint8 arrays as CHW uint8 tensors sharing their memory (no copy of a memory map)."""
    with warnings.catch_warnings():
        # Cached images are read-only maps; these tensors are only ever read (see `crop`).
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return [torch.from_numpy(np.asarray(img)).permute(2, 0, 1) for img in images]


def crop(img: torch.Tensor, top: int, left: int, size: int, flip: bool = False) -> torch.Tensor:
    """A contiguous CHW copy of one square patch of a CHW view over HWC memory (a cached array).

    Cut in NumPy: one copy that also flips and reorders the channels, several times faster than
    torch's multi-threaded strided copy of the permuted view on a busy CPU.
    """
    hwc = img.permute(1, 2, 0).numpy()[top:top + size, left:left + size]
    if flip:
        hwc = hwc[:, ::-1]
    return torch.from_numpy(np.ascontiguousarray(hwc.transpose(2, 0, 1)))


def color_jitter(x: torch.Tensor, factors: torch.Tensor) -> torch.Tensor:
    """Brightness, then contrast, per image of a float [0, 1] NCHW batch, on the batch's device.

    `factors` is [N, 2] (brightness, contrast), drawn per sample by `TrainPatches.crop_params`.
    Done on the whole batch where it is trained rather than patch by patch in the loader
    (torchvision's functionals take one factor per call); contrast blends with the mean of the
    image's luma, as torchvision's `adjust_contrast` does.
    """
    brightness, contrast = factors.to(x.dtype).unbind(1)
    x = x.mul_(brightness.view(-1, 1, 1, 1)).clamp_(0.0, 1.0)
    luma = (0.2989 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]).mean(dim=(1, 2)).view(-1, 1, 1, 1)
    c = contrast.view(-1, 1, 1, 1)
    return x.mul_(c).add_((1.0 - c) * luma).clamp_(0.0, 1.0)


def normalize(batch: torch.Tensor, jitter: Optional[torch.Tensor] = None) -> torch.Tensor:
    """uint8 NCHW patches to the float, ImageNet-normalised input every backbone expects,
    colour-jittered first when per-image `jitter` factors are given."""
    x = batch.float().div_(255.0)
    if jitter is not None:
        x = color_jitter(x, jitter)
    mean = torch.tensor(IMAGENET_MEAN, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=x.device).view(1, 3, 1, 1)
    return x.sub_(mean).div_(std)  # in place: no second and third batch-sized allocation


class TrainPatches(Dataset):
    """`patch_num` random crops per image per epoch; item `epoch * len + i` is sample i of that epoch."""

    def __init__(self, images: ImageSet, patch_size: int, patch_num: int, seed: int,
                 flip: bool = True, color_jitter: float = 0.0):
        self.tensors = as_tensors(images.images)
        self.mos = torch.as_tensor(images.mos, dtype=torch.float32)
        self.patch_size, self.patch_num, self.seed = patch_size, patch_num, seed
        self.flip, self.color_jitter = flip, color_jitter

    def __len__(self) -> int:
        return len(self.tensors) * self.patch_num

    def crop_params(self, epoch: int, sample: int) -> dict:
        """Where and how sample `sample` of `epoch` is cropped (also recorded in batch fingerprints)."""
        img = self.tensors[sample // self.patch_num]
        g = generator(self.seed, epoch, sample)
        p = self.patch_size
        top = int(torch.randint(0, img.shape[1] - p + 1, (1,), generator=g))
        left = int(torch.randint(0, img.shape[2] - p + 1, (1,), generator=g))
        flip = bool(self.flip and torch.rand((), generator=g) < 0.5)
        jitter = (1.0 + self.color_jitter * (2 * torch.rand(2, generator=g) - 1)).tolist()
        return {"image": sample // self.patch_num, "top": top, "left": left, "flip": flip, "jitter": jitter}

    def __getitem__(self, item: int) -> Tuple[torch.Tensor, torch.Tensor, int, torch.Tensor]:
        """The uint8 patch (cropped and flipped), its MOS, its sample index and its colour-jitter
        factors, which the training step applies to the batch on its device (`normalize`)."""
        epoch, sample = divmod(int(item), len(self))
        c = self.crop_params(epoch, sample)
        patch = crop(self.tensors[c["image"]], c["top"], c["left"], self.patch_size, c["flip"])
        return patch, self.mos[c["image"]], sample, torch.tensor(c["jitter"])


class EpochSampler(Sampler[int]):
    """A seeded shuffle per epoch that yields `epoch * n + i`, so items know their epoch."""

    def __init__(self, n: int, seed: int):
        self.n, self.seed, self.epoch = n, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.n

    def __iter__(self) -> Iterator[int]:
        order = torch.randperm(self.n, generator=generator(self.seed, self.epoch, -1))
        return iter((order + self.epoch * self.n).tolist())


def crop_offsets(height: int, width: int, patch: int, n: int, mode: str, seed: int = 0,
                 image_index: int = 0) -> List[Tuple[int, int]]:
    """Top-left corners of the `n` evaluation crops of one image.

    grid: the centre first, then n - 1 positions spread evenly over a k x k grid spanning the
    image; center: the centre n times (useful with n = 1); random: seeded by (seed, image).
    """
    max_top, max_left = height - patch, width - patch
    center = (max_top // 2, max_left // 2)
    if mode == "center" or n == 1 and mode == "grid":
        return [center] * n
    if mode == "random":
        g = generator(seed, 1_000_003, image_index)
        tops = torch.randint(0, max_top + 1, (n,), generator=g).tolist()
        lefts = torch.randint(0, max_left + 1, (n,), generator=g).tolist()
        return list(zip(tops, lefts))
    k = math.ceil(math.sqrt(n - 1))
    grid = [(round(max_top * r / max(k - 1, 1)), round(max_left * c / max(k - 1, 1)))
            for r in range(k) for c in range(k)]
    pick = np.linspace(0, len(grid) - 1, n - 1).round().astype(int)
    return [center] + [grid[i] for i in pick]


class TestCrops(Dataset):
    """All `patch_num` evaluation crops of image i as one [n, 3, p, p] item."""

    def __init__(self, images: ImageSet, patch_size: int, patch_num: int, mode: str, seed: int = 0):
        self.tensors = as_tensors(images.images)
        self.mos = torch.as_tensor(images.mos, dtype=torch.float32)
        self.patch_size, self.patch_num, self.mode, self.seed = patch_size, patch_num, mode, seed

    def __len__(self) -> int:
        return len(self.tensors)

    def __getitem__(self, i: int) -> Tuple[torch.Tensor, torch.Tensor, int]:
        img, p = self.tensors[i], self.patch_size
        offsets = crop_offsets(img.shape[1], img.shape[2], p, self.patch_num, self.mode, self.seed, i)
        crops = torch.stack([crop(img, t, l, p) for t, l in offsets])
        return crops, self.mos[i], i
