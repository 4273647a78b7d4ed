"""The in-memory form every dataset loader produces, and the content-disjoint split."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional, Sequence

import numpy as np

from iqa.errors import ConfigError, DataError


@dataclass
class ImageSet:
    """Decoded uint8 HxWx3 images with their MOS.

    `groups` names the content each image shows (its reference image), so a split can keep
    every version of one content on the same side.
    """

    name: str
    images: Sequence[np.ndarray]
    mos: np.ndarray
    groups: np.ndarray
    names: List[str]
    split: Optional[np.ndarray] = None
    skipped: List[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.mos)

    def subset(self, index: np.ndarray, name: str) -> "ImageSet":
        """The images at `index`, under a new name."""
        index = np.asarray(index, dtype=np.int64)
        images = self.images[index] if isinstance(self.images, np.ndarray) else [self.images[i] for i in index]
        return ImageSet(
            name=name,
            images=images,
            mos=self.mos[index],
            groups=self.groups[index],
            names=[self.names[i] for i in index],
            split=None if self.split is None else self.split[index],
            skipped=list(self.skipped),
        )

    def min_side(self) -> int:
        """The smallest height or width over all images (a patch must fit in every one)."""
        return int(min(min(img.shape[0], img.shape[1]) for img in self.images))


def split_by_content(images: ImageSet, test_fraction: float, split_seed: int):
    """Split into (train, test) so no content group has images on both sides."""
    groups = np.unique(images.groups)
    rng = np.random.default_rng(split_seed)
    order = rng.permutation(groups)
    n_test = max(1, int(round(len(groups) * test_fraction)))
    if n_test >= len(groups):
        raise DataError(f"{images.name}: {len(groups)} content groups are too few to split off a test set")
    test_groups = set(order[:n_test].tolist())
    is_test = np.array([g in test_groups for g in images.groups])
    train = images.subset(np.flatnonzero(~is_test), f"{images.name}/train")
    test = images.subset(np.flatnonzero(is_test), f"{images.name}/test")
    return train, test


def split_official(images: ImageSet):
    """(train, val or None, test) from the dataset's own split column."""
    if images.split is None:
        raise ConfigError(f"data.split=official is out of range for {images.name}: it has no official split "
                          f"(use data.split=random)")
    parts = {}
    for part in ("train", "val", "test"):
        index = np.flatnonzero(images.split == part)
        if len(index) == 0 and part != "val":
            raise DataError(f"{images.name}: the official {part} split is empty")
        parts[part] = images.subset(index, f"{images.name}/{part}") if len(index) else None
    return parts["train"], parts["val"], parts["test"]
