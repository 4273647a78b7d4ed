"""GPU slots and per-job torch state, tested through their real mechanisms (file locks, torch)."""
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from iqa.errors import ConfigError
from iqa.runtime.gpu_slots import gpu_slot, slot_order
from iqa.runtime.jobs import job_scope
from helpers import compose

ROOT = Path(__file__).resolve().parents[1]
GPUS = ["gpu-aaaa", "gpu-bbbb"]


class Waited(Exception):
    pass


def _refuse_to_wait(n_slots):
    raise Waited(n_slots)


def test_slots_fill_every_gpu_before_doubling_up():
    assert slot_order(2, 2) == [(0, 0), (1, 0), (0, 1), (1, 1)]
    assert slot_order(3, 1) == [(0, 0), (1, 0), (2, 0)]


def test_a_taken_slot_is_not_handed_out_twice(tmp_path):
    with gpu_slot(GPUS, 1, tmp_path) as a, gpu_slot(GPUS, 1, tmp_path) as b:
        assert (a, b) == (0, 1)
        with pytest.raises(Waited, match="2"):
            with gpu_slot(GPUS, 1, tmp_path, on_wait=_refuse_to_wait):
                pass
    with gpu_slot(GPUS, 2, tmp_path) as a, gpu_slot(GPUS, 2, tmp_path) as b, gpu_slot(GPUS, 2, tmp_path) as c:
        assert sorted([a, b, c]) == [0, 0, 1]
    with gpu_slot(GPUS, 1, tmp_path) as again:
        assert again == 0  # every slot was given back when its block ended


HOLDER = """
import sys, time
from iqa.runtime.gpu_slots import gpu_slot
with gpu_slot({gpus!r}, 1, {lock_dir!r}, poll_s=0.05, on_wait=lambda n: print("waiting", flush=True)) as g:
    print("gpu", g, flush=True)
    time.sleep(600)
"""


def _holder(tmp_path):
    code = HOLDER.format(gpus=GPUS, lock_dir=str(tmp_path))
    return subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True)


def test_a_killed_job_frees_its_slot_for_a_waiting_one(tmp_path):
    first, second = _holder(tmp_path), _holder(tmp_path)
    try:
        got = sorted([first.stdout.readline().strip(), second.stdout.readline().strip()])
        assert got == ["gpu 0", "gpu 1"]
        third = _holder(tmp_path)
        try:
            assert third.stdout.readline().strip() == "waiting"
            first.send_signal(signal.SIGKILL)
            first.wait(10)
            assert third.stdout.readline().strip() in ("gpu 0", "gpu 1")
        finally:
            third.kill()
            third.wait(10)
    finally:
        for p in (first, second):
            p.kill()
            p.wait(10)


def test_job_scope_restores_torch_defaults_left_changed_by_an_earlier_job():
    threads = torch.get_num_threads()
    torch.set_default_dtype(torch.float64)
    torch.set_grad_enabled(False)
    torch.autograd.set_detect_anomaly(True)
    torch.set_float32_matmul_precision("medium")
    torch.set_num_threads(max(1, threads + 1))
    try:
        with job_scope(compose("runtime.device=cpu")):
            assert torch.get_default_dtype() == torch.float32
            assert torch.is_grad_enabled() and not torch.is_anomaly_enabled()
            assert torch.get_float32_matmul_precision() == "highest"
            assert torch.get_num_threads() == threads
        with job_scope(compose("runtime.device=cpu", "runtime.cpu_threads=1")):
            assert torch.get_num_threads() == 1
    finally:
        torch.set_default_dtype(torch.float32)
        torch.set_grad_enabled(True)
        torch.autograd.set_detect_anomaly(False)
        torch.set_float32_matmul_precision("highest")
        torch.set_num_threads(threads)


def test_job_scope_validates_before_taking_a_slot():
    with pytest.raises(ConfigError, match="runtime.jobs_per_gpu=0"):
        with job_scope(compose("runtime.jobs_per_gpu=0")):
            pass
