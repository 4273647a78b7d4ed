"""The in-memory form every dataset loader produces (iqa/data/splits.py divides it)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional, Sequence

import numpy as np


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

