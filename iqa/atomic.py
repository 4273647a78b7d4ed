"""Atomic file writes: a reader (or a crash) never sees half a file.

Each writer writes a temporary file in the target's folder, flushes it to disk, then renames
it over the target, which POSIX and Windows both do atomically within one file system. The file
gets the mode of any newly created file (0666 less the umask), not mkstemp's private 0600, so
colleagues sharing a file system can read results, checkpoints and the image cache. A writer
killed midway leaves its `.<name>.<random>.tmp`; `remove_leftovers` deletes them when a run resumes.
"""
from __future__ import annotations

import csv
import io
import json
import math
import os
import signal
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterable, List, Mapping, Optional


TMP_SUFFIX = ".tmp"
_umask_lock = threading.Lock()


def _umask() -> int:
    """The process's umask: from /proc on Linux, elsewhere by setting it and back (under a lock)."""
    try:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1], 8) for line in f if line.startswith("Umask:"))
    except (OSError, StopIteration):
        with _umask_lock:
            mask = os.umask(0o022)
            os.umask(mask)
        return mask


def _naming(error: OSError, path: Path) -> OSError:
    """`error` naming `path` where it named no file or only the temporary one, so the one-line
    message names the file the user asked for (a full disk raises without a name)."""
    if error.filename is not None and not str(error.filename).endswith(TMP_SUFFIX):
        return error
    return OSError(error.errno, error.strerror or str(error), str(path))


def replace_with(path, write: Callable[[Path], None]) -> Path:
    """Call `write(tmp_path)` then move the result onto `path`.

    An OSError (full disk, no permission) comes out naming `path`.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TMP_SUFFIX, dir=path.parent)
    except OSError as e:
        raise _naming(e, path) from None
    try:
        os.fchmod(fd, 0o666 & ~_umask())
    finally:
        os.close(fd)
    try:
        with _ctrl_c_after_the_write():
            write(Path(tmp))
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
            os.replace(tmp, path)
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        cause = _os_error(e)
        if cause is not None:
            raise _naming(cause, path) from None
        raise
    return path


@contextmanager
def _ctrl_c_after_the_write():
    """Ctrl-C (SIGINT) during a write takes effect once the file is in place. Raised inside the
    writer, it would leave a half-written file, and torch's writer turns it into a RuntimeError
    ("unexpected pos") that says nothing of Ctrl-C. Only where Python's own handler is in charge."""
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler):
        yield
        return
    caught = []
    signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if caught:
        raise KeyboardInterrupt


def _os_error(error: BaseException) -> Optional[OSError]:
    """The operating-system error behind `error`, if any (torch.save, for one, re-raises a full
    disk as a RuntimeError whose context is the OSError)."""
    while error is not None:
        if isinstance(error, OSError) and error.errno is not None:
            return error
        error = error.__cause__ or error.__context__
    return None


def remove_leftovers(folder) -> List[Path]:
    """Delete the temporary files that writers killed midway left in `folder` (not below it); call it
    only while no writer can be at work there. Returns what was deleted."""
    gone = []
    for tmp in Path(folder).glob(f".*{TMP_SUFFIX}"):
        if tmp.is_file():
            tmp.unlink(missing_ok=True)
            gone.append(tmp)
    return gone


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
