"""Reading label files (CSV, XLSX) into records, with one-line errors naming the file and column."""
from __future__ import annotations

import csv
import os
import posixpath
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np

from iqa.errors import DataError

# Split names as datasets spell them -> the three parts a run uses.
SPLIT_NAMES = {"train": "train", "training": "train", "val": "val", "validation": "val", "valid": "val",
               "test": "test", "testing": "test"}


@dataclass
class Records:
    """One row per image: its file (relative to the image folder), score, content group and split."""

    files: List[str]
    mos: np.ndarray
    groups: np.ndarray
    split: Optional[np.ndarray] = None


def records(files: Sequence[str], mos: Sequence[float], groups: Optional[Sequence] = None,
            split: Optional[Sequence[str]] = None) -> Records:
    """Records with every image its own content unless `groups` says otherwise."""
    n = len(files)
    if groups is None:
        group_ids = np.arange(n, dtype=np.int64)
    else:
        group_ids = np.unique(np.asarray(groups, dtype=str), return_inverse=True)[1].astype(np.int64)
    return Records(list(files), np.asarray(mos, dtype=np.float32), group_ids,
                   None if split is None else np.asarray(split, dtype=str))


def need_file(path: Path, what: str) -> Path:
    """`path`, or DataError saying which metadata file is missing."""
    if not path.is_file():
        raise DataError(f"{what} {path} does not exist")
    return path


def _columns(header: Sequence, path: Path, required: Sequence[str]) -> Dict[str, int]:
    """Column name -> position, or DataError naming the first required column that is absent."""
    names = [str(h).strip() if h is not None else "" for h in header]
    for i, name in enumerate(names):
        if name and name in names[:i]:
            raise DataError(f"{path} has two columns named {name!r} (columns {names.index(name) + 1} and {i + 1}): "
                            f"rename or remove one")
    for col in required:
        if col not in names:
            raise DataError(f"{path} has no column {col!r} (columns: {', '.join(n for n in names if n)})")
    return {n: i for i, n in enumerate(names)}


def read_table(path: Path, required: Sequence[str]) -> Dict[str, List]:
    """The named columns of a CSV or XLSX file (first sheet, header in the first row)."""
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        from openpyxl import load_workbook
        try:
            book = load_workbook(path, read_only=True, data_only=True)
        except Exception as e:  # openpyxl raises several types for a file that is not a workbook
            raise DataError(f"{path} cannot be read as a workbook ({type(e).__name__})") from None
        rows = [list(r) for r in book.worksheets[0].iter_rows(values_only=True)]
        book.close()
    else:
        try:
            with open(path, newline="", encoding="utf-8-sig") as f:
                rows = list(csv.reader(f))
        except (OSError, UnicodeDecodeError, csv.Error) as e:
            raise DataError(f"{path} cannot be read as CSV ({type(e).__name__}: {e})") from None
    while rows and all(v in (None, "") for v in rows[-1]):
        rows.pop()
    if len(rows) < 2:
        raise DataError(f"{path} has no data rows")
    index = _columns(rows[0], path, required)
    return {col: [r[index[col]] if index[col] < len(r) else None for r in rows[1:]]
            for col in index if col}


def numbers(values: Sequence, path: Path, column: str) -> np.ndarray:
    """A column as float32, or DataError naming the row (1-based, header is row 1) that is not a number."""
    out = np.empty(len(values), dtype=np.float32)
    for i, v in enumerate(values):
        try:
            out[i] = float(v)
        except (TypeError, ValueError):
            raise DataError(f"{path} row {i + 2} column {column!r}: {v!r} is not a number") from None
        if not np.isfinite(out[i]):
            raise DataError(f"{path} row {i + 2} column {column!r}: {v!r} is not a finite number")
    return out


def split_parts(values: Sequence, path: Path, column: str) -> List[str]:
    """A split column as train/val/test, or DataError naming the first unknown value."""
    out = []
    for i, v in enumerate(values):
        part = SPLIT_NAMES.get(str(v).strip().lower())
        if part is None:
            raise DataError(f"{path} row {i + 2} column {column!r}: {v!r} is not a split "
                            f"(use train, val or test)")
        out.append(part)
    return out


def same_files(names: Sequence[str], image_dir: Path, path: Path, column: str) -> None:
    """DataError when two rows name one file under spellings `file_names` cannot tell apart (an
    absolute path and a relative one, a symlink, a hard link): compared by device and inode."""
    seen: Dict[tuple, int] = {}
    for i, name in enumerate(names):
        try:
            st = os.stat(image_dir / name)
        except OSError:
            continue  # a missing file is reported with the images
        first = seen.setdefault((st.st_dev, st.st_ino), i)
        if first != i:
            raise DataError(f"{path} row {i + 2} column {column!r}: {name!r} is listed twice: row {first + 2} names "
                            f"the same file (as {names[first]!r})")


def file_names(values: Sequence, path: Path, column: str) -> List[str]:
    """A file-name column as strings, or DataError naming the first empty cell or file listed twice,
    also under two spellings (`./a.png` and `a.png`, `x/../a.png`)."""
    out: List[str] = []
    seen: Dict[str, int] = {}
    for i, v in enumerate(values):
        name = "" if v is None else str(v).strip()
        if not name:
            raise DataError(f"{path} row {i + 2} column {column!r} is empty")
        same = posixpath.normpath(name)
        if same in seen:
            first = out[seen[same]]
            spelled = "" if first == name else f" (as {first!r})"
            raise DataError(f"{path} row {i + 2} column {column!r}: {name!r} is listed twice: "
                            f"row {seen[same] + 2} names the same file{spelled}")
        seen[same] = i
        out.append(name)
    return out
