"""Datasets of image files: where one lives (its settings), and its records made into an ImageSet.

Every file dataset (koniq, spaq, livec, csv) reads its own label file into `Records`; this module
does the rest the same way for all of them: decode through the cache and apply `data.on_bad_image`.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Tuple

from iqa.data.cache import cached_images
from iqa.data.imageset import ImageSet
from iqa.data.metadata import Records
from iqa.errors import ConfigError, DataError

log = logging.getLogger("iqa")

FIELDS = ("root", "metadata", "images", "label", "short_side")
SKIP_HINT = "pass data.on_bad_image=skip to skip bad images"


@dataclass(frozen=True)
class DatasetSettings:
    """The resolved settings of one file dataset; `key` is its config node, for messages."""

    name: str
    key: str
    root: Optional[Path]
    metadata: Optional[str]
    images: Optional[str]
    label: Optional[str]
    short_side: Optional[int]
    cache_dir: Optional[str] = None
    progress: Callable = field(default=lambda it, **kw: it, compare=False)

    def path(self, field: str) -> Path:
        """root / the file or folder the setting `field` names."""
        value = getattr(self, field)
        if value is None:
            raise ConfigError(f"{self.key}.{field} is not set: {self.name} needs it")
        if self.root is None:
            raise ConfigError(f"{self.key}.root is not set: pass {self.key}.root=PATH to the {self.name} folder")
        return self.root / value

    def need_label(self, allowed: Tuple[str, ...]) -> str:
        """The label setting, or ConfigError when this dataset has no such score."""
        if allowed and self.label not in allowed:
            raise ConfigError(f"{self.key}.label={self.label!r} is out of range: must be one of {', '.join(allowed)}")
        return self.label


def setting_values(data_cfg, name: str) -> Dict[str, Any]:
    """Each setting of `name`: `data.sets[name]`, overridden by the flat `data.*` value when
    `name` is the training set and that value is set."""
    node = (data_cfg.get("sets") or {}).get(name)
    values = {f: (node.get(f) if node is not None else None) for f in FIELDS}
    if name == data_cfg.name:
        values.update({f: data_cfg[f] for f in FIELDS if data_cfg.get(f) is not None})
    return values


def dataset_settings(data_cfg, name: str, progress: Optional[Callable] = None) -> DatasetSettings:
    """The settings of `name` (see `setting_values`), with its root, when set, checked to be a
    folder, so a missing dataset fails before anything is decoded."""
    main = name == data_cfg.name
    if name not in data_cfg.sets and not main:
        raise ConfigError(f"data.sets.{name} is not configured: {name} has no settings in conf/datasets.yaml")
    values = setting_values(data_cfg, name)
    key = "data" if main else f"data.sets.{name}"
    if values["root"] is not None:
        root = Path(str(values["root"])).expanduser()
        if not root.is_dir():
            raise DataError(f"{key}.root={root} does not exist or is not a folder ({name})")
        values["root"] = root
    extra = {"progress": progress} if progress is not None else {}
    return DatasetSettings(name=name, key=key, cache_dir=data_cfg.cache_dir, **values, **extra)


def file_imageset(settings: DatasetSettings, recs: Records, data_cfg, progress: Callable) -> ImageSet:
    """Decode (or map from the cache) every record's image; bad images stop the run or are skipped."""
    name = settings.name
    image_dir = settings.path("images")
    if not image_dir.is_dir():
        raise DataError(f"{name} image folder {image_dir} does not exist")
    skip = data_cfg.on_bad_image == "skip"
    if not skip:
        missing = [f for f in recs.files if not (image_dir / f).is_file()]
        if missing:
            more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
            raise DataError(f"{name} image {image_dir / missing[0]} does not exist{more}: {SKIP_HINT}")
    cached = cached_images(name, image_dir, recs.files, settings.short_side, data_cfg.cache_dir, progress)
    bad = [f for f in recs.files if f not in cached.images]
    if bad and not skip:
        more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        raise DataError(f"{name} image {image_dir / bad[0]} {cached.bad[bad[0]]}{more}: {SKIP_HINT}")
    if bad:
        log.warning("%s: skipping %d bad images: %s", name, len(bad),
                    "; ".join(f"{f} {cached.bad[f]}" for f in bad[:5]) + (" ..." if len(bad) > 5 else ""))
    keep = [i for i, f in enumerate(recs.files) if f in cached.images]
    if not keep:
        raise DataError(f"{name}: none of its {len(recs.files)} images in {image_dir} can be decoded")
    return ImageSet(
        name=name,
        images=[cached.images[recs.files[i]] for i in keep],
        mos=recs.mos[keep],
        groups=recs.groups[keep],
        names=[recs.files[i] for i in keep],
        split=None if recs.split is None else recs.split[keep],
        skipped=bad,
    )
