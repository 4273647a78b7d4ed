"""GPU slots: parallel jobs on one machine spread over its GPUs, never two on a slot by accident.

Each GPU offers `jobs_per_gpu` slots. A job takes the first free slot, least-loaded GPU first, by
holding an exclusive `flock` on the slot's lock file for as long as it runs. The lock files live
in one folder per user and machine and are named by the GPU's UUID, so jobs from different
launchers (joblib workers, submitit jobs, separate sweep processes) and with different
`CUDA_VISIBLE_DEVICES` agree on which slot is whose. The kernel drops a lock when its process
dies, so a killed job never leaves a slot taken.

Locking needs only read access, so whoever can open a lock file can hold its slot: the default
folder is private to its user (0700), and a folder that every user may write is refused. A team
sharing GPUs points `$IQA_SWEEP_GPU_LOCKS` at a folder its group owns (lock files are created
group-readable, less the umask).
"""
from __future__ import annotations

import fcntl
import os
import stat
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, List, Optional, Sequence, Tuple

from iqa.errors import ConfigError

LOCK_DIR_ENV = "IQA_SWEEP_GPU_LOCKS"


def default_lock_dir() -> Path:
    """`$IQA_SWEEP_GPU_LOCKS`, else this user's folder in the machine's temporary directory."""
    return Path(os.environ.get(LOCK_DIR_ENV) or Path(tempfile.gettempdir()) / f"iqa-sweep-gpu-slots-{os.getuid()}")


def slot_order(n_gpus: int, jobs_per_gpu: int) -> List[Tuple[int, int]]:
    """(gpu, slot) pairs in the order jobs take them: one job on every GPU before a second on any."""
    return [(gpu, slot) for slot in range(jobs_per_gpu) for gpu in range(n_gpus)]


def _try_lock(path: Path) -> Optional[int]:
    fd = os.open(path, os.O_RDONLY | os.O_CREAT, 0o640)  # whoever can read it can lock it
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def lock_folder(path: Path, private: bool) -> Path:
    """The lock folder, created 0700 if missing; ConfigError when another user could hold its slots:
    it is writable by every user, or (`private`, the default folder) a link or not this user's."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    st = os.lstat(path)
    fix = f"remove it or set {LOCK_DIR_ENV} to a folder only you or your group can write"
    if private and (stat.S_ISLNK(st.st_mode) or st.st_uid != os.getuid()):
        raise ConfigError(f"GPU-slot lock folder {path} belongs to another user (uid {st.st_uid}), who could hold "
                          f"every slot: {fix}")
    if st.st_mode & stat.S_IWOTH:
        raise ConfigError(f"GPU-slot lock folder {path} is writable by every user, so any user could hold every "
                          f"slot: {fix} (chmod o-w {path})")
    return path


@contextmanager
def gpu_slot(gpu_ids: Sequence[str], jobs_per_gpu: int, lock_dir: Optional[Path] = None,
             poll_s: float = 1.0, on_wait: Optional[Callable[[int], None]] = None) -> Iterator[int]:
    """Hold a free slot for the duration of the block and yield its GPU's index in `gpu_ids`.

    When every slot is taken, wait (calling `on_wait(n_slots)` once) until one frees up.
    """
    private = lock_dir is None and not os.environ.get(LOCK_DIR_ENV)
    lock_dir = lock_folder(Path(lock_dir) if lock_dir else default_lock_dir(), private)
    order = slot_order(len(gpu_ids), jobs_per_gpu)
    warned = False
    while True:
        for gpu, slot in order:
            fd = _try_lock(lock_dir / f"{gpu_ids[gpu]}.slot{slot}.lock")
            if fd is None:
                continue
            try:
                yield gpu
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)
            return
        if on_wait is not None and not warned:
            on_wait(len(order))
            warned = True
        time.sleep(poll_s)
