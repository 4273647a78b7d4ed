"""Per-job process hygiene, for launchers that run many jobs in one process.

Hydra's basic launcher runs every job of a multirun in one process and joblib reuses its worker
processes, so whatever a job changes in torch's process-wide settings would leak into the next
job. `job_scope` puts those settings back to torch's defaults before each job (seeding and the
determinism flags are set by `seed_everything` at run start), gives the job a GPU slot when it
trains on CUDA with `runtime.device=auto`, and hands cached memory back when the job ends.
"""
from __future__ import annotations

import gc
import logging
from contextlib import ExitStack, contextmanager
from typing import Iterator, List

import matplotlib.pyplot as plt
import torch

from iqa.config import validate
from iqa.runtime.gpu_slots import gpu_slot

log = logging.getLogger("iqa")

# The thread count the process started with (a joblib worker starts with its share of the cores).
_START_THREADS = torch.get_num_threads()


def reset_torch_globals(cpu_threads: int = 0) -> None:
    """Torch's process-wide defaults, whatever an earlier job in this process set; `cpu_threads`
    0 restores the thread count the process started with."""
    torch.set_default_dtype(torch.float32)
    torch.set_grad_enabled(True)
    torch.autograd.set_detect_anomaly(False)
    torch.set_float32_matmul_precision("highest")
    torch.set_num_threads(cpu_threads or _START_THREADS)


def cuda_ids() -> List[str]:
    """A machine-wide name for each visible GPU (its UUID), whatever CUDA_VISIBLE_DEVICES says."""
    return [f"gpu-{torch.cuda.get_device_properties(i).uuid}" for i in range(torch.cuda.device_count())]


def _release_memory() -> None:
    plt.close("all")
    gc.collect()
    if torch.cuda.is_initialized():
        torch.cuda.empty_cache()


@contextmanager
def job_scope(cfg) -> Iterator[None]:
    """Run one job with fresh torch globals and, on CUDA with device=auto, its own GPU slot."""
    validate(cfg)
    reset_torch_globals(cfg.runtime.cpu_threads)
    with ExitStack() as stack:
        stack.callback(_release_memory)
        if cfg.runtime.device == "auto" and torch.cuda.is_available():
            per_gpu = cfg.runtime.jobs_per_gpu
            gpu = stack.enter_context(gpu_slot(cuda_ids(), per_gpu, on_wait=lambda n: log.warning(
                "all %d GPU slots are taken (runtime.jobs_per_gpu=%d): waiting for one to free up", n, per_gpu)))
            torch.cuda.set_device(gpu)
            log.info("GPU slot: cuda:%d (runtime.jobs_per_gpu=%d)", gpu, per_gpu)
        yield
