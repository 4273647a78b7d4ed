"""Decode once: every image of a dataset decoded, resized and stored as uint8 in one memory-mapped file.

Layout of one cache entry, `<cache root>/images/<dataset>-<size>-<key>/`:
- `pixels.u8`: the images' HxWx3 uint8 bytes back to back (images may differ in size);
- `index.json`: per image its file name, byte offset and shape, plus the files that could not
  be decoded and why.

The key hashes the dataset name, the resize setting, the image folder's absolute path and every
file's name and identity on disk (inode, size, modification and change times), so a
changed, added, removed or replaced file, or another folder with files of the same names, sizes
and times, gives a new entry. The change time stands for the content: every write sets it and no
tool can set it back (copying with preserved times, `touch -r`, rewriting in place do not fool it). Entries are written to a temporary file and
renamed into place (iqa.atomic), under a file lock, so parallel sweep jobs decode a dataset once
and a killed job never leaves a half entry. Mapped read-only, the file is shared through the page
cache by every process and worker reading it; crops are copies of slices of these arrays.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
from filelock import FileLock

from iqa.atomic import remove_leftovers, replace_with, write_json
from iqa.data.decode import DECODE_ERRORS, decode_image

CACHE_VERSION = 2
log = logging.getLogger("iqa")


def default_cache_dir() -> Path:
    """$IQA_SWEEP_CACHE, else $XDG_CACHE_HOME/iqa-sweep, else ~/.cache/iqa-sweep."""
    if os.environ.get("IQA_SWEEP_CACHE"):
        return Path(os.environ["IQA_SWEEP_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "iqa-sweep"


def cache_root(cache_dir: Optional[str]) -> Path:
    """`data.cache_dir` when set, else the default cache folder."""
    return Path(cache_dir).expanduser() if cache_dir else default_cache_dir()


@dataclass
class CachedImages:
    """The decoded images of one file list, by file name, and the files that failed."""

    images: Dict[str, np.ndarray]
    bad: Dict[str, str]
    folder: Path
    hit: bool


def fingerprint(image_dir: Path, files: Sequence[str]) -> List[Tuple]:
    """(name, inode, size, mtime_ns, ctime_ns) of every file (after symlinks); only the name for a
    missing file. No device number: it differs between machines mounting one shared file system."""
    out: List[Tuple] = []
    for name in files:
        try:
            st = (image_dir / name).stat()
            out.append((name, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns))
        except OSError:
            out.append((name,))
    return out


def cache_key(dataset: str, short_side: Optional[int], image_dir: Path, prints) -> str:
    blob = json.dumps([CACHE_VERSION, dataset, short_side, str(Path(image_dir).resolve()), prints]).encode()
    return hashlib.sha1(blob).hexdigest()


def _try_decode(path: Path, short_side: Optional[int]) -> Union[np.ndarray, str]:
    """The pixels, or the reason the file cannot be used."""
    if not path.is_file():
        return "file does not exist"
    try:
        return decode_image(path, short_side)
    except DECODE_ERRORS as e:
        return f"cannot be decoded ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else 'no detail'})"


def _build(folder: Path, key: str, image_dir: Path, files: Sequence[str], short_side: Optional[int],
           progress: Callable, desc: str) -> None:
    """Decode every file (threads: PIL releases the GIL) and write pixels, then the index."""
    entries: List[list] = []
    bad: Dict[str, str] = {}

    def write_pixels(tmp: Path) -> None:
        offset = 0
        workers = min(8, os.cpu_count() or 1)
        with open(tmp, "wb") as out, ThreadPoolExecutor(workers) as pool:
            # In chunks, so decoded images waiting to be written stay few.
            chunks = (files[i:i + 8 * workers] for i in range(0, len(files), 8 * workers))
            decoded = (r for chunk in chunks for r in pool.map(lambda n: _try_decode(image_dir / n, short_side), chunk))
            for name, result in progress(zip(files, decoded), total=len(files), desc=desc, unit="img"):
                if isinstance(result, str):
                    bad[name] = result
                    continue
                out.write(result.tobytes())
                entries.append([name, offset, result.shape[0], result.shape[1]])
                offset += result.nbytes

    replace_with(folder / "pixels.u8", write_pixels)
    total = sum(h * w * 3 for _, _, h, w in entries)
    write_json(folder / "index.json", {"version": CACHE_VERSION, "key": key, "bytes": total,
                                       "short_side": short_side, "images": entries, "bad": bad})


def _open(folder: Path, key: str) -> Optional[CachedImages]:
    """The entry's images as views of one memory map, or None when it is absent or incomplete."""
    try:
        index = json.loads((folder / "index.json").read_text())
        size = (folder / "pixels.u8").stat().st_size
    except (OSError, ValueError):
        return None
    if index.get("key") != key or index.get("bytes") != size:
        return None
    images: Dict[str, np.ndarray] = {}
    if size:
        # Read-only and shared: no memory is committed for it, whatever the dataset's size.
        flat = np.memmap(folder / "pixels.u8", dtype=np.uint8, mode="r", shape=(size,))
        for name, offset, h, w in index["images"]:
            images[name] = flat[offset:offset + h * w * 3].reshape(h, w, 3)
    return CachedImages(images, dict(index["bad"]), folder, hit=True)


def cached_images(dataset: str, image_dir: Path, files: Sequence[str], short_side: Optional[int],
                  cache_dir: Optional[str], progress: Callable) -> CachedImages:
    """The decoded `files` (names relative to `image_dir`), decoding only on a cache miss."""
    short_side = short_side or None  # 0 and None both keep the files' sizes
    key = cache_key(dataset, short_side, image_dir, fingerprint(image_dir, files))
    folder = cache_root(cache_dir) / "images" / f"{dataset}-{short_side or 'orig'}-{key[:16]}"
    found = _open(folder, key)
    if found is None:
        folder.mkdir(parents=True, exist_ok=True)
        with FileLock(str(folder) + ".lock"):
            found = _open(folder, key)  # another job may have built it while this one waited
            if found is None:
                remove_leftovers(folder)  # of a job killed while building it; the lock keeps others out
                log.info("%s: decoding %d images into cache %s", dataset, len(files), folder)
                _build(folder, key, image_dir, files, short_side, progress, f"caching {dataset}")
                found = _open(folder, key)
                found.hit = False
                return found
    log.info("%s: %d images from cache %s", dataset, len(found.images), folder)
    return found
