"""Atomic file writes: a reader (or a crash) never sees half a file.

Each writer writes a temporary file in the target's folder, flushes it to disk, then renames
it over the target, which POSIX and Windows both do atomically within one file system.
"""
from __future__ import annotations

import csv
import io
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterable, List, Mapping


def replace_with(path, write: Callable[[Path], None]) -> Path:
    """Call `write(tmp_path)` then move the result onto `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_text(path, text: str) -> Path:
    return replace_with(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def _json_safe(value: Any) -> Any:
    """NaN/inf become null, so the file is strict JSON that every reader accepts."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def write_json(path, data: Any) -> Path:
    return write_text(path, json.dumps(_json_safe(data), indent=2, sort_keys=False) + "\n")


def write_csv(path, rows: Iterable[Mapping[str, Any]], columns: List[str] | None = None) -> Path:
    """Rows of dicts as CSV; columns default to the union of keys in first-seen order."""
    rows = list(rows)
    if columns is None:
        columns = list(dict.fromkeys(k for r in rows for k in r))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return write_text(path, buf.getvalue())
