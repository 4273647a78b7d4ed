"""Where each image of the training dataset goes: train, val or test.

A split is one part name per image. It is drawn from `data.split_seed` alone (never the run
seed), so every seed of a configuration trains and is tested on the same images; it is written
as `split.csv` (image,part) with a hash in `metrics.json`, and `data.split_file` reads such a file
back (or a published one with the same two columns).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List

import numpy as np

from iqa.atomic import write_csv
from iqa.data.imageset import ImageSet
from iqa.data.metadata import file_names, need_file, read_table, split_parts
from iqa.errors import ConfigError, DataError

PARTS = ("train", "val", "test")
# Column names accepted in a split file: ours first, then those published splits use.
IMAGE_COLUMNS = ("image", "image_name", "path", "Image name", "file")
PART_COLUMNS = ("part", "set", "split")


@dataclass
class Split:
    """The part of every image of one dataset, in dataset order."""

    names: List[str]
    parts: np.ndarray

    def rows(self) -> List[Dict[str, str]]:
        return [{"image": n, "part": p} for n, p in zip(self.names, self.parts)]

    def hash(self) -> str:
        """SHA-256 (first 16 hex digits) of the sorted `image,part` lines: equal hashes, equal splits."""
        lines = sorted(f"{n},{p}" for n, p in zip(self.names, self.parts))
        return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]

    def counts(self) -> Dict[str, int]:
        return {p: int(np.sum(self.parts == p)) for p in PARTS}

    def sizes(self) -> Dict[str, int]:
        """{n_train, n_val, n_test}: what metrics.json records, so comparisons over re-splits can
        correct for their overlapping training sets."""
        return {f"n_{p}": n for p, n in self.counts().items()}

    def write(self, path) -> Path:
        return write_csv(path, self.rows(), ["image", "part"])


# A part that is scored needs two images at least: a correlation of one image is undefined.
MIN_SCORED_IMAGES = 2


def _count(wanted: int, order: np.ndarray, sizes: Dict, start: int) -> int:
    """`wanted` groups from order[start:], or more while they hold fewer than MIN_SCORED_IMAGES images."""
    n = wanted
    while n < len(order) - start and sum(sizes[g] for g in order[start:start + n]) < MIN_SCORED_IMAGES:
        n += 1
    return n


def _sizes(groups: np.ndarray) -> Dict:
    values, counts = np.unique(groups, return_counts=True)
    return dict(zip(values.tolist(), counts.tolist()))


def random_parts(images: ImageSet, test_fraction: float, val_fraction: float, split_seed: int) -> np.ndarray:
    """Content-disjoint parts: `test_fraction` of the groups to test, then `val_fraction` of the
    remaining groups to val (each at least one group and two images). The test part depends on
    (split_seed, test_fraction) only."""
    order = np.random.default_rng(split_seed).permutation(np.unique(images.groups))
    sizes = _sizes(images.groups)
    n_test = _count(max(1, int(round(len(order) * test_fraction))), order, sizes, 0)
    n_val = 0 if val_fraction == 0 else _count(max(1, int(round((len(order) - n_test) * val_fraction))),
                                                  order, sizes, n_test)
    if n_test + n_val >= len(order):
        raise DataError(f"{images.name}: {len(order)} content groups are too few to split off a test "
                        f"({n_test}) and a validation ({n_val}) part and keep one for training")
    parts = np.full(len(images), "train", dtype=object)
    parts[np.isin(images.groups, order[:n_test])] = "test"
    parts[np.isin(images.groups, order[n_test:n_test + n_val])] = "val"
    return parts.astype(str)


def with_val(images: ImageSet, parts: np.ndarray, val_fraction: float, split_seed: int, source: str) -> np.ndarray:
    """`parts` with `val_fraction` of the training groups (at least one, and two images) moved to
    val when it has no val part."""
    if val_fraction == 0 or np.any(parts == "val"):
        return parts
    train = np.flatnonzero(parts == "train")
    order = np.random.default_rng([split_seed, 1]).permutation(np.unique(images.groups[train]))
    n_val = _count(max(1, int(round(len(order) * val_fraction))), order, _sizes(images.groups[train]), 0)
    if n_val >= len(order):
        raise DataError(f"{images.name}: the train part of {source} has {len(order)} content groups, too few "
                        f"to split off a validation part (set data.val_fraction=0 to select on test)")
    parts = parts.copy()
    parts[train[np.isin(images.groups[train], order[:n_val])]] = "val"
    return parts


def file_parts(images: ImageSet, path) -> np.ndarray:
    """The parts a split file gives every image; DataError naming the first image it misses or
    the first row naming an image the dataset does not have (bad images skipped are allowed)."""
    path = need_file(Path(path).expanduser(), "split file")
    header = read_table(path, [])
    image_col = next((c for c in IMAGE_COLUMNS if c in header), None)
    part_col = next((c for c in PART_COLUMNS if c in header), None)
    if image_col is None or part_col is None:
        raise DataError(f"{path} needs an image column ({', '.join(IMAGE_COLUMNS)}) and a part column "
                        f"({', '.join(PART_COLUMNS)}); it has {', '.join(header)}")
    part_of = dict(zip(file_names(header[image_col], path, image_col),
                       split_parts(header[part_col], path, part_col)))
    known = set(images.names) | set(images.skipped)
    for row, name in enumerate(part_of, start=2):
        if name not in known:
            raise DataError(f"{path} row {row}: image {name!r} is not in {images.name}")
    missing = [n for n in images.names if n not in part_of]
    if missing:
        raise DataError(f"{path} has no row for {missing[0]} (and {len(missing) - 1} more images of {images.name})")
    return np.asarray([part_of[n] for n in images.names], dtype=str)


def refuse_split_groups(images: ImageSet, parts: np.ndarray, source: str) -> None:
    """DataError naming the content groups a given split puts in more than one part: their images
    show the same content, so a model would be tested on what it trained on."""
    groups = images.groups.astype(str)
    pairs = np.unique(np.stack([groups, parts]), axis=1)[0]
    names, counts = np.unique(pairs, return_counts=True)
    torn = names[counts > 1].tolist()
    if torn:
        shown = "; ".join(f"{' '.join(np.asarray(images.names)[groups == g][:3])}" for g in torn[:3])
        more = f" (and {len(torn) - 3} more groups)" if len(torn) > 3 else ""
        raise DataError(f"{images.name}: {source} puts the images of {len(torn)} content group"
                        f"{'s' if len(torn) > 1 else ''} in more than one part: {shown}{more} "
                        f"(each group's images must share one part)")


def divide(images: ImageSet, parts: np.ndarray, source: str):
    """(train, val or None, test) subsets; DataError when train or test is empty."""
    out = []
    for part in PARTS:
        index = np.flatnonzero(parts == part)
        if len(index) == 0 and part != "val":
            raise DataError(f"{images.name}: the {part} part of {source} is empty")
        out.append(images.subset(index, f"{images.name}/{part}") if len(index) else None)
    return tuple(out)


def choose(images: ImageSet, data_cfg):
    """(Split, where it came from): a split file, the dataset's own split (`data.split=official`
    or a csv `data.split_column`), or a random content-disjoint one from `data.split_seed`. A
    given split without a validation part gets one drawn from its train part."""
    if data_cfg.split_file:
        source = f"split file {data_cfg.split_file}"
        parts = with_val(images, file_parts(images, data_cfg.split_file), data_cfg.val_fraction,
                         data_cfg.split_seed, source)
    elif data_cfg.split == "official" or data_cfg.split_column:
        if images.split is None:
            raise ConfigError(f"data.split=official is out of range for {images.name}: it has no official split "
                              f"(use data.split=random)")
        source = f"the {data_cfg.split_column or 'official'} split"
        refuse_split_groups(images, np.asarray(images.split, dtype=str), source)
        parts = with_val(images, np.asarray(images.split, dtype=str), data_cfg.val_fraction, data_cfg.split_seed,
                         source)
    else:
        source = f"data.split_seed={data_cfg.split_seed}"
        parts = random_parts(images, data_cfg.test_fraction, data_cfg.val_fraction, data_cfg.split_seed)
    return Split(list(images.names), parts), source
