"""GPU slots: parallel jobs on one machine spread over its GPUs, never two on a slot by accident.

Each GPU offers `jobs_per_gpu` slots. A job takes the first free slot, least-loaded GPU first, by
holding an exclusive `flock` on the slot's lock file for as long as it runs. The lock files live
in one folder per machine and are named by the GPU's UUID, so jobs from different launchers
(joblib workers, submitit jobs, separate sweep processes) and with different
`CUDA_VISIBLE_DEVICES` agree on which slot is whose. The kernel drops a lock when its process
dies, so a killed job never leaves a slot taken.
"""
from __future__ import annotations

import fcntl
import os
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, List, Optional, Sequence, Tuple

LOCK_DIR_ENV = "IQA_SWEEP_GPU_LOCKS"


def default_lock_dir() -> Path:
    """`$IQA_SWEEP_GPU_LOCKS`, else a folder in the machine's temporary directory."""
    return Path(os.environ.get(LOCK_DIR_ENV) or Path(tempfile.gettempdir()) / "iqa-sweep-gpu-slots")


def slot_order(n_gpus: int, jobs_per_gpu: int) -> List[Tuple[int, int]]:
    """(gpu, slot) pairs in the order jobs take them: one job on every GPU before a second on any."""
    return [(gpu, slot) for slot in range(jobs_per_gpu) for gpu in range(n_gpus)]


def _try_lock(path: Path) -> Optional[int]:
    fd = os.open(path, os.O_RDONLY | os.O_CREAT, 0o644)  # flock needs no write access: any user can lock
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def _shared_dir(path: Path) -> Path:
    """Create the lock folder writable by every user (sticky, like /tmp) if it does not exist."""
    if not path.is_dir():
        path.mkdir(parents=True, exist_ok=True)
        try:
            os.chmod(path, 0o1777)
        except PermissionError:  # another user created it first
            pass
    return path


@contextmanager
def gpu_slot(gpu_ids: Sequence[str], jobs_per_gpu: int, lock_dir: Optional[Path] = None,
             poll_s: float = 1.0, on_wait: Optional[Callable[[int], None]] = None) -> Iterator[int]:
    """Hold a free slot for the duration of the block and yield its GPU's index in `gpu_ids`.

    When every slot is taken, wait (calling `on_wait(n_slots)` once) until one frees up.
    """
    lock_dir = _shared_dir(Path(lock_dir) if lock_dir else default_lock_dir())
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
