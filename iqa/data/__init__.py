"""Datasets: load by name, split content-disjointly, and wrap in patch loaders."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict

import torch
from torch.utils.data import DataLoader

from iqa.data.imageset import ImageSet, split_by_content
from iqa.data.patches import EpochSampler, TestCrops, TrainPatches
from iqa.data.synthetic import load_synthetic
from iqa.errors import ConfigError, DataError
from iqa.repro import loader_rng


def _synthetic(name: str) -> Callable:
    def load(data_cfg, progress=None) -> ImageSet:
        return load_synthetic(name, data_cfg.n_refs, data_cfg.image_size, data_cfg.cache_dir, progress)
    return load


LOADERS: Dict[str, Callable] = {
    "synthetic": _synthetic("synthetic"),
    "synthetic_cross": _synthetic("synthetic_cross"),
}


def load_dataset(name: str, data_cfg, progress=None) -> ImageSet:
    """Decode the named dataset into an ImageSet."""
    if name not in LOADERS:
        raise ConfigError(f"dataset {name!r} is unknown: must be one of {', '.join(sorted(LOADERS))}")
    images = LOADERS[name](data_cfg, progress)
    if len(images) == 0:
        raise DataError(f"dataset {name!r} has no images")
    return images


@dataclass
class DataBundle:
    """The train and test splits plus every cross-dataset test set, decoded."""

    train: ImageSet
    test: ImageSet
    cross: Dict[str, ImageSet]


def build(data_cfg, trainer_cfg, progress=None) -> DataBundle:
    """Load, split and check that patches fit; the split uses `data.split_seed`, not the run seed."""
    full = load_dataset(data_cfg.name, data_cfg, progress)
    train, test = split_by_content(full, data_cfg.test_fraction, data_cfg.split_seed)
    cross = {name: load_dataset(name, data_cfg, progress) for name in data_cfg.cross}
    for part in [train, test, *cross.values()]:
        if trainer_cfg.patch_size > part.min_side():
            raise ConfigError(
                f"trainer.patch_size={trainer_cfg.patch_size} is larger than the smallest image side "
                f"({part.min_side()}) of {part.name}: must be <= {part.min_side()}")
    if trainer_cfg.batch_size > len(train) * trainer_cfg.train_patch_num:
        raise ConfigError(
            f"trainer.batch_size={trainer_cfg.batch_size} is larger than the training set "
            f"({len(train) * trainer_cfg.train_patch_num} patches): must be <= that")
    return DataBundle(train, test, cross)


def train_loader(images: ImageSet, trainer_cfg, seed: int) -> DataLoader:
    """Shuffled random-crop batches; call `loader.sampler.set_epoch(e)` before each epoch."""
    ds = TrainPatches(images, trainer_cfg.patch_size, trainer_cfg.train_patch_num, seed,
                      trainer_cfg.flip, trainer_cfg.color_jitter)
    return DataLoader(ds, batch_size=trainer_cfg.batch_size, sampler=EpochSampler(len(ds), seed),
                      num_workers=trainer_cfg.num_workers, drop_last=True,
                      pin_memory=torch.cuda.is_available(), **loader_rng(seed, "train"))


def test_loader(images: ImageSet, trainer_cfg, seed: int) -> DataLoader:
    """Every image's deterministic crops, in dataset order."""
    ds = TestCrops(images, trainer_cfg.patch_size, trainer_cfg.test_patch_num, trainer_cfg.test_crops, seed)
    return DataLoader(ds, batch_size=trainer_cfg.eval_batch_size, shuffle=False,
                      num_workers=trainer_cfg.num_workers, pin_memory=torch.cuda.is_available(),
                      **loader_rng(seed, images.name))
