"""The embedded datasets: procedural reference images, distorted at known levels.

Two sets are generated on first use and cached as .npz files:
- `synthetic`: dead-leaves charts (the texture chart of camera image-quality testing), each
  distorted by Gaussian blur, Gaussian noise, JPEG compression and contrast loss at 5 levels.
- `synthetic_cross`: other content (oriented colour gratings over gradients) and another
  distortion mix (blur, noise and JPEG at 5 levels, pixelation at 4), the cross-dataset test set.

The MOS of every image is a documented monotone function of its distortion type and level:

    MOS = 100 * (1 - w_type * (level / n_levels) ** gamma_type)

with pristine references at MOS 100 (see `DISTORTIONS` for w and gamma). Bump
`GENERATOR_VERSION` whenever the images or the formula change; the cache key includes it.
"""
from __future__ import annotations

import hashlib
import io
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Dict, Tuple, Optional

import numpy as np
from PIL import Image, ImageFilter

from iqa.atomic import replace_with
from iqa.data.cache import cache_root
from iqa.data.imageset import ImageSet

GENERATOR_VERSION = 1


# Distortions: name -> (w, gamma, parameter per level 1..5, or per level 1..4 for the cross set).
DISTORTIONS: Dict[str, Tuple[float, float, Tuple[float, ...]]] = {
    "blur": (0.85, 1.0, (0.6, 1.1, 1.7, 2.6, 4.0)),
    "noise": (0.75, 0.9, (6.0, 12.0, 22.0, 36.0, 56.0)),
    "jpeg": (0.80, 1.3, (55, 30, 16, 8, 3)),
    "contrast": (0.60, 1.1, (0.8, 0.62, 0.46, 0.32, 0.2)),
    "pixelate": (0.70, 1.2, (1.5, 2.0, 3.0, 4.5)),
}


@dataclass(frozen=True)
class SyntheticSpec:
    """What fixes a generated set: change any field and the cache key changes."""

    name: str
    content: str
    distortions: Tuple[str, ...]
    n_refs: int
    image_size: int
    seed: int
    version: int = GENERATOR_VERSION

    def key(self) -> str:
        blob = json.dumps(asdict(self), sort_keys=True).encode()
        return f"{self.name}-v{self.version}-{hashlib.sha1(blob).hexdigest()[:10]}"


def spec_for(name: str, n_refs: int, image_size: int) -> SyntheticSpec:
    """The spec of one of the two embedded sets."""
    if name == "synthetic":
        return SyntheticSpec(name, "dead_leaves", ("blur", "noise", "jpeg", "contrast"), n_refs, image_size, 1)
    if name == "synthetic_cross":
        n_cross = max(4, n_refs * 3 // 8)
        return SyntheticSpec(name, "gratings", ("blur", "noise", "jpeg", "pixelate"), n_cross, image_size, 2)
    raise KeyError(name)


def mos_for(distortion: str, level: int) -> float:
    """The documented quality formula; level 0 is the pristine reference."""
    if level == 0:
        return 100.0
    w, gamma, params = DISTORTIONS[distortion]
    return 100.0 * (1.0 - w * (level / len(params)) ** gamma)


def dead_leaves(rng: np.random.Generator, size: int) -> np.ndarray:
    """Occluding disks with power-law radii and random colours."""
    img = np.empty((size, size, 3), dtype=np.float32)
    img[:] = rng.uniform(0, 255, size=3)
    yy, xx = np.mgrid[0:size, 0:size]
    rmin, rmax = 1.5, size / 4
    n = int(6 * size)
    # Inverse-CDF sample of p(r) ~ r^-3 on [rmin, rmax].
    u = rng.uniform(size=n)
    radii = 1.0 / np.sqrt(u / rmax**2 + (1 - u) / rmin**2)
    centers = rng.uniform(-rmax, size + rmax, size=(n, 2))
    colors = rng.uniform(0, 255, size=(n, 3))
    for r, (cy, cx), c in zip(radii, centers, colors):
        mask = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
        img[mask] = c
    return img.astype(np.uint8)


def gratings(rng: np.random.Generator, size: int) -> np.ndarray:
    """A colour gradient with a few oriented sinusoidal gratings on top."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    base = rng.uniform(40, 215, size=3) + rng.uniform(-60, 60, size=3) * (xx[..., None] * rng.uniform(-1, 1) + yy[..., None] * rng.uniform(-1, 1))
    for _ in range(3):
        theta, freq, phase = rng.uniform(0, np.pi), rng.uniform(2, size / 6), rng.uniform(0, 2 * np.pi)
        wave = np.sin(2 * np.pi * freq * (xx * np.cos(theta) + yy * np.sin(theta)) + phase)
        base = base + rng.uniform(15, 45) * wave[..., None] * rng.uniform(0.2, 1.0, size=3)
    return np.clip(base, 0, 255).astype(np.uint8)


def distort(img: np.ndarray, distortion: str, level: int, rng: np.random.Generator) -> np.ndarray:
    """Apply one distortion at level 1..n (PIL for blur, JPEG and resampling)."""
    p = DISTORTIONS[distortion][2][level - 1]
    pil = Image.fromarray(img)
    if distortion == "blur":
        return np.asarray(pil.filter(ImageFilter.GaussianBlur(radius=p)))
    if distortion == "noise":
        noisy = img.astype(np.float32) + rng.normal(0, p, size=img.shape)
        return np.clip(noisy, 0, 255).astype(np.uint8)
    if distortion == "jpeg":
        buf = io.BytesIO()
        pil.save(buf, format="JPEG", quality=int(p))
        return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
    if distortion == "contrast":
        mean = img.reshape(-1, 3).mean(axis=0)
        return np.clip(mean + (img.astype(np.float32) - mean) * p, 0, 255).astype(np.uint8)
    if distortion == "pixelate":
        h, w = img.shape[:2]
        small = pil.resize((max(1, int(w / p)), max(1, int(h / p))), Image.BILINEAR)
        return np.asarray(small.resize((w, h), Image.NEAREST))
    raise KeyError(distortion)


CONTENT: Dict[str, Callable[[np.random.Generator, int], np.ndarray]] = {
    "dead_leaves": dead_leaves,
    "gratings": gratings,
}


def generate(spec: SyntheticSpec, progress: Callable = lambda it, **kw: it) -> dict:
    """Arrays of one whole set: images, mos, groups (reference id), distortion, level."""
    rng = np.random.default_rng([spec.version, spec.seed, spec.n_refs, spec.image_size])
    images, mos, groups, kinds, levels = [], [], [], [], []
    for ref in progress(range(spec.n_refs), desc=f"generating {spec.name}", unit="ref"):
        pristine = CONTENT[spec.content](rng, spec.image_size)
        versions = [("pristine", 0, pristine)]
        for d in spec.distortions:
            for level in range(1, len(DISTORTIONS[d][2]) + 1):
                versions.append((d, level, distort(pristine, d, level, rng)))
        for d, level, img in versions:
            images.append(img)
            mos.append(mos_for(d, level))
            groups.append(ref)
            kinds.append(d)
            levels.append(level)
    return {
        "images": np.stack(images),
        "mos": np.asarray(mos, dtype=np.float32),
        "groups": np.asarray(groups, dtype=np.int64),
        "distortion": np.asarray(kinds),
        "level": np.asarray(levels, dtype=np.int64),
    }


def _load_complete(path: Path, spec: SyntheticSpec):
    """The cached arrays, or None when the file is missing, truncated or of another spec."""
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError):
        return None
    n_versions = 1 + sum(len(DISTORTIONS[d][2]) for d in spec.distortions)
    expected = {"images", "mos", "groups", "distortion", "level", "key"}
    if set(arrays) != expected or str(arrays["key"]) != spec.key():
        return None
    if arrays["images"].shape != (spec.n_refs * n_versions, spec.image_size, spec.image_size, 3):
        return None
    return arrays


def _savez(tmp: Path, **arrays) -> None:
    with open(tmp, "wb") as f:  # a file object: np.savez would append ".npz" to a path
        np.savez(f, **arrays)


def load_synthetic(name: str, n_refs: int, image_size: int, cache_dir=None, progress=None) -> ImageSet:
    """The named embedded set, generated into the cache on first use (or when incomplete)."""
    spec = spec_for(name, n_refs, image_size)
    path = cache_root(cache_dir) / "synthetic" / f"{spec.key()}.npz"
    arrays = _load_complete(path, spec)
    if arrays is None:
        arrays = generate(spec, **({"progress": progress} if progress else {}))
        replace_with(path, lambda tmp: _savez(tmp, key=np.asarray(spec.key()), **arrays))
    names = [f"ref{g:03d}_{d}_{lv}" for g, d, lv in zip(arrays["groups"], arrays["distortion"], arrays["level"])]
    return ImageSet(name=name, images=arrays["images"], mos=arrays["mos"], groups=arrays["groups"], names=names)


def read(settings, official: Optional[str], n_refs: int, image_size: int) -> ImageSet:
    """The reader of the synthetic sets in conf/datasets.yaml: the set `settings.name`, generated on
    first use (it has no official split)."""
    return load_synthetic(settings.name, n_refs, image_size, settings.cache_dir, settings.progress)
