"""Datasets: load by name, split, and wrap in patch loaders."""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Callable, Dict, Optional

import torch
from torch.utils.data import DataLoader
from omegaconf import OmegaConf
from tqdm.auto import tqdm

from iqa.build import build as build_node
from iqa.config import MIN_PATCH
from iqa.data.fileset import FIELDS, dataset_settings, file_imageset
from iqa.data import splits
from iqa.data.imageset import ImageSet
from iqa.data.patches import EpochSampler, TestCrops, TrainPatches
from iqa.errors import ConfigError, DataError
from iqa.runtime.repro import loader_rng


def progress_bar(enabled: bool) -> Callable:
    """tqdm with the run's progress setting, for loaders that decode or generate images."""
    return partial(tqdm, disable=not enabled, dynamic_ncols=True, leave=False)


def _known(name: str, data_cfg) -> None:
    if name not in data_cfg.sets:
        raise ConfigError(f"dataset {name!r} is unknown: must be one of {', '.join(sorted(data_cfg.sets))} "
                          f"(or a data.sets.{name} node of your own)")


def check_names(data_cfg) -> None:
    """Every named dataset exists and every file dataset's root and metadata are there, before
    anything is decoded."""
    for name in [data_cfg.name, *data_cfg.cross]:
        _known(name, data_cfg)
        settings = dataset_settings(data_cfg, name)
        if settings.metadata is not None:
            metadata = settings.path("metadata")
            if not metadata.exists():
                raise DataError(f"{name} metadata file {metadata} does not exist")


def load_dataset(name: str, data_cfg, progress: bool = False) -> ImageSet:
    """Read the named dataset with the reader its `data.sets` node names, and decode its images."""
    _known(name, data_cfg)
    settings = dataset_settings(data_cfg, name, progress_bar(progress))
    resolved = OmegaConf.to_container(data_cfg.sets[name], resolve=True)
    node = OmegaConf.create({k: v for k, v in resolved.items() if k not in FIELDS})
    # The split column the reader reads when the run trains on the dataset's own split, else None.
    own_split = (data_cfg.split == "official" or data_cfg.split_column) and data_cfg.name == name
    official = (data_cfg.split_column or "split") if own_split else None
    read = build_node(node, f"data.sets.{name}")
    found = read(settings, official)
    images = found if isinstance(found, ImageSet) else file_imageset(settings, found, data_cfg, progress_bar(progress))
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
    """The train, test and (unless data.val_fraction=0 leaves none) validation parts plus every
    cross set, decoded, and the split that made the parts."""

    train: ImageSet
    test: ImageSet
    cross: Dict[str, ImageSet]
    val: Optional[ImageSet] = None
    split: Optional[splits.Split] = None

    def skipped_images(self) -> Dict[str, Dict]:
        """Bad images skipped per dataset (data.on_bad_image=skip), for metrics.json."""
        sets = {self.train.name.split("/")[0]: self.train, **self.cross}
        return {name: {"count": len(s.skipped), "names": list(s.skipped)} for name, s in sets.items() if s.skipped}


def build(data_cfg, loader_cfg, progress: bool = False, training: bool = True) -> DataBundle:
    """Load, split and check that patches fit; the split uses `data.split_seed`, not the run seed."""
    check_names(data_cfg)
    if any(n.startswith("synthetic") for n in [data_cfg.name, *data_cfg.cross]) \
            and loader_cfg.patch_size > data_cfg.image_size:  # before anything is generated
        raise ConfigError(f"loader.patch_size={loader_cfg.patch_size} is larger than the smallest image side "
                          f"({data_cfg.image_size}) of synthetic: must be <= data.image_size={data_cfg.image_size}")
    full = load_dataset(data_cfg.name, data_cfg, progress)
    split, source = splits.choose(full, data_cfg)
    train, val, test = splits.divide(full, split.parts, source)
    cross = {name: load_dataset(name, data_cfg, progress) for name in data_cfg.cross}
    for part in [train if training else None, val, test, *cross.values()]:
        if part is not None:
            check_rankable(part)
    for part in [train, val, test, *cross.values()]:
        if part is not None and part.min_side() < MIN_PATCH:  # no patch size fits: the image is at fault
            img, name = min(zip(part.images, part.names), key=lambda pair: min(pair[0].shape[:2]))
            raise DataError(f"{part.name}: image {name} is {img.shape[1]}x{img.shape[0]} pixels, smaller than the "
                            f"smallest patch ({MIN_PATCH} px a side): remove it from the dataset")
        if part is not None and loader_cfg.patch_size > part.min_side():
            raise ConfigError(
                f"loader.patch_size={loader_cfg.patch_size} is larger than the smallest image side "
                f"({part.min_side()}) of {part.name}: must be <= {part.min_side()}")
    if training and loader_cfg.batch_size > len(train) * loader_cfg.train_patch_num:
        raise ConfigError(
            f"loader.batch_size={loader_cfg.batch_size} is larger than the training set "
            f"({len(train) * loader_cfg.train_patch_num} patches): must be <= that")
    return DataBundle(train, test, cross, val, split)


def train_loader(images: ImageSet, loader_cfg, seed: int) -> DataLoader:
    """Shuffled random-crop batches; call `loader.sampler.set_epoch(e)` before each epoch."""
    ds = TrainPatches(images, loader_cfg.patch_size, loader_cfg.train_patch_num, seed,
                      loader_cfg.flip, loader_cfg.color_jitter)
    return DataLoader(ds, batch_size=loader_cfg.batch_size, sampler=EpochSampler(len(ds), seed),
                      num_workers=loader_cfg.num_workers, drop_last=True,
                      pin_memory=torch.cuda.is_available(), **loader_rng(seed, "train"))


def test_loader(images: ImageSet, loader_cfg, seed: int) -> DataLoader:
    """Every image's deterministic crops, in dataset order."""
    ds = TestCrops(images, loader_cfg.patch_size, loader_cfg.test_patch_num, loader_cfg.test_crops, seed)
    return DataLoader(ds, batch_size=loader_cfg.eval_batch_size, shuffle=False,
                      num_workers=loader_cfg.num_workers, pin_memory=torch.cuda.is_available(),
                      **loader_rng(seed, images.name))
