"""Datasets: load by name, split, and wrap in patch loaders."""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Callable, Dict, Optional

import torch
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from iqa.data import csv_folder, koniq, livec, spaq
from iqa.data.fileset import dataset_settings, file_imageset
from iqa.data.imageset import ImageSet, split_by_content, split_official
from iqa.data.patches import EpochSampler, TestCrops, TrainPatches
from iqa.data.synthetic import load_synthetic
from iqa.errors import ConfigError, DataError
from iqa.repro import loader_rng


def _synthetic(name: str) -> Callable:
    def load(data_cfg, progress) -> ImageSet:
        return load_synthetic(name, data_cfg.n_refs, data_cfg.image_size, data_cfg.cache_dir, progress)
    return load


def _files(name: str, read: Callable) -> Callable:
    """A loader for a file dataset whose module reads its label file with `read(settings, official)`."""
    def load(data_cfg, progress) -> ImageSet:
        settings = dataset_settings(data_cfg, name)
        official = data_cfg.split == "official" and data_cfg.name == name
        return file_imageset(settings, read(settings, official), data_cfg, progress)
    return load


LOADERS: Dict[str, Callable] = {
    "synthetic": _synthetic("synthetic"),
    "synthetic_cross": _synthetic("synthetic_cross"),
    "koniq": _files("koniq", koniq.read),
    "spaq": _files("spaq", spaq.read),
    "livec": _files("livec", livec.read),
    "csv": _files("csv", csv_folder.read),
}


def progress_bar(enabled: bool) -> Callable:
    """tqdm with the run's progress setting, for loaders that decode or generate images."""
    return partial(tqdm, disable=not enabled, dynamic_ncols=True, leave=False)


def _known(name: str) -> None:
    if name not in LOADERS:
        raise ConfigError(f"dataset {name!r} is unknown: must be one of {', '.join(sorted(LOADERS))}")


def check_names(data_cfg) -> None:
    """Every named dataset exists and every file dataset's root and metadata are there, before
    anything is decoded."""
    for name in [data_cfg.name, *data_cfg.cross]:
        _known(name)
        if name in data_cfg.sets:
            metadata = dataset_settings(data_cfg, name).path("metadata")
            if not metadata.exists():
                raise DataError(f"{name} metadata file {metadata} does not exist")


def load_dataset(name: str, data_cfg, progress: bool = False) -> ImageSet:
    """Decode the named dataset into an ImageSet."""
    _known(name)
    images = LOADERS[name](data_cfg, progress_bar(progress))
    if len(images) == 0:
        raise DataError(f"dataset {name!r} has no images")
    return images


def check_rankable(part: ImageSet) -> None:
    """DataError when SRCC cannot be computed on `part` (fewer than 2 images, or one score for all),
    so the run stops before training instead of blaming the model for a NaN later."""
    if len(part) < 2:
        raise DataError(f"{part.name} has {len(part)} image: rank correlations need at least 2 "
                        f"(add images, or change data.test_fraction / the split column)")
    if float(part.mos.min()) == float(part.mos.max()):
        raise DataError(f"{part.name}: all {len(part)} images have the same score ({float(part.mos[0]):g}): "
                        f"there is nothing to rank (check the score column)")


@dataclass
class DataBundle:
    """The train, test and (with an official split) validation parts plus every cross set, decoded."""

    train: ImageSet
    test: ImageSet
    cross: Dict[str, ImageSet]
    val: Optional[ImageSet] = None

    def skipped_images(self) -> Dict[str, Dict]:
        """Bad images skipped per dataset (data.on_bad_image=skip), for metrics.json."""
        sets = {self.train.name.split("/")[0]: self.train, **self.cross}
        return {name: {"count": len(s.skipped), "names": list(s.skipped)} for name, s in sets.items() if s.skipped}


def build(data_cfg, trainer_cfg, progress: bool = False, training: bool = True) -> DataBundle:
    """Load, split and check that patches fit; the split uses `data.split_seed`, not the run seed."""
    check_names(data_cfg)
    if any(n.startswith("synthetic") for n in [data_cfg.name, *data_cfg.cross]) \
            and trainer_cfg.patch_size > data_cfg.image_size:  # before anything is generated
        raise ConfigError(f"trainer.patch_size={trainer_cfg.patch_size} is larger than the smallest image side "
                          f"({data_cfg.image_size}) of synthetic: must be <= data.image_size={data_cfg.image_size}")
    full = load_dataset(data_cfg.name, data_cfg, progress)
    if data_cfg.split == "official":
        train, val, test = split_official(full)
    else:
        train, test = split_by_content(full, data_cfg.test_fraction, data_cfg.split_seed)
        val = None
    cross = {name: load_dataset(name, data_cfg, progress) for name in data_cfg.cross}
    for part in [train if training else None, val, test, *cross.values()]:
        if part is not None:
            check_rankable(part)
    for part in [train, val, test, *cross.values()]:
        if part is not None and trainer_cfg.patch_size > part.min_side():
            raise ConfigError(
                f"trainer.patch_size={trainer_cfg.patch_size} is larger than the smallest image side "
                f"({part.min_side()}) of {part.name}: must be <= {part.min_side()}")
    if training and trainer_cfg.batch_size > len(train) * trainer_cfg.train_patch_num:
        raise ConfigError(
            f"trainer.batch_size={trainer_cfg.batch_size} is larger than the training set "
            f"({len(train) * trainer_cfg.train_patch_num} patches): must be <= that")
    return DataBundle(train, test, cross, val)


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
