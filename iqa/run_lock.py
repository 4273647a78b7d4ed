"""One live process per run folder: a second `run.py` into a folder a running job uses stops with
one line instead of mixing its files and log into the first one's.

The lock is a `flock` on the folder's `.lock` file, which names the holder (pid and host). The
kernel drops it when the holder ends, however it ends (Ctrl-C, SIGKILL, a crash), so a killed
run leaves nothing that blocks its resume. A single run takes it before Hydra writes anything
into `hydra.run.dir`, and a multirun on its `hydra.sweep.dir` before the sweep starts (the
`RunFolderCallback` of conf/config.yaml); every job, of any launcher, takes it on its own folder
in its own process while it runs (a joblib worker or a cluster job too).
On NFS, Linux maps `flock` onto NFS byte-range locks, which hold across machines (NFSv4, or v3
with lockd); a file system without locks gets a warning and the run goes on unlocked.
"""
from __future__ import annotations

import errno
import fcntl
import logging
import os
import socket
import sys
from pathlib import Path
from typing import Any, Dict, List

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from iqa.cli import file_error_line
from iqa.errors import ConfigError
from iqa.run_folder import RunFolder

log = logging.getLogger("iqa")

_held: Dict[Path, List[int]] = {}  # resolved folder -> [fd, holds]: a process may take its own lock again


def acquire(folder) -> None:
    """Lock `folder` (made if missing) for this process, or ConfigError naming the live holder."""
    key = Path(folder).resolve()
    if key in _held:
        _held[key][1] += 1
        return
    key.mkdir(parents=True, exist_ok=True)
    fd = os.open(RunFolder(key).lock, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):  # ENOLCK, EOPNOTSUPP: no locks on this file system
            os.close(fd)
            log.warning("cannot lock run folder %s (%s): a second run into it would not be stopped", key, e.strerror)
            return
        holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
        os.close(fd)
        raise ConfigError(f"run folder {key} is in use by {holder}: wait for that run to end, or give another "
                          f"hydra.run.dir (a sweep: hydra.sweep.dir)") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"process {os.getpid()} on {socket.gethostname()}\n".encode(), 0)
    _held[key] = [fd, 1]


def release(folder) -> None:
    """Undo one `acquire` of `folder`; the last one unlocks it (the .lock file stays, unlocked)."""
    key = Path(folder).resolve()
    entry = _held.get(key)
    if entry is None:
        return
    entry[1] -= 1
    if entry[1] == 0:
        del _held[key]
        os.close(entry[0])


def _folder_key(config: DictConfig, key: str) -> str:
    """hydra.run.dir / hydra.sweep.dir, resolved; ConfigError when empty (it would be the current folder)."""
    value = str(config.hydra[key].dir)
    if not value.strip():
        raise ConfigError(f"hydra.{key}.dir='' is empty: name the folder to write into "
                          f"(an empty name means the current folder)")
    return value


def _stop(error: Exception) -> None:
    """End the command with the error's one line (Hydra turns an exception of a callback into a warning)."""
    line = file_error_line(error) if isinstance(error, OSError) else None
    print(f"error: {line or error}", file=sys.stderr, flush=True)
    sys.exit(1)


class RunFolderCallback(Callback):
    """Hydra callback: refuse an empty run or sweep folder, and lock a single run's folder (a
    multirun's sweep folder) before Hydra writes its records and run.log into it."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        try:
            acquire(_folder_key(config, "run"))
        except (ConfigError, OSError) as e:  # in use, or a folder that cannot be made
            _stop(e)

    def on_run_end(self, config: DictConfig, **kwargs: Any) -> None:
        release(config.hydra.run.dir)

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        try:
            acquire(_folder_key(config, "sweep"))
        except (ConfigError, OSError) as e:
            _stop(e)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        release(config.hydra.sweep.dir)
