"""Shared pieces of the speed benchmarks: config composition, interleaved timing, JSON output.

Every benchmark times its variants in one process, alternating them repeat by repeat, and
reports ratios against a baseline from the same run, so a shared, noisy machine slows all
variants alike.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Callable, Dict, Optional

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `python benchmarks/x.py` puts benchmarks/ first, not the checkout
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from hydra import compose, initialize_config_dir  # noqa: E402

from iqa.atomic import write_json  # noqa: E402
from iqa.config import register_configs, validate  # noqa: E402
from iqa.runtime import resolve_device  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"


def add_common_args(ap: argparse.ArgumentParser, repeats: int) -> None:
    """--device, --repeats and --threads, shared by every benchmark."""
    ap.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, cuda:N")
    ap.add_argument("--repeats", type=int, default=repeats, help="timed repeats per variant (after one warm-up)")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch intra-op threads (default 1: on shared cores a second thread waiting for a "
                         "preempted one makes timings erratic)")


def setup(args) -> torch.device:
    """Apply --threads and resolve --device."""
    torch.set_num_threads(args.threads)
    return resolve_device(args.device)


def compose_config(*overrides: str):
    """The validated run config `python run.py OVERRIDES` would use."""
    register_configs()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("config", overrides=list(overrides))
    validate(cfg)
    return cfg


def command() -> str:
    """The command line that produced a result, as a user would type it."""
    return " ".join(["python", *sys.argv])


def machine(device: torch.device) -> dict:
    """Where the figures were taken: CPU count, threads, platform, versions, accelerator name."""
    info = {"cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(), "platform": platform.platform(),
            "python": platform.python_version(), "torch": torch.__version__, "device": str(device)}
    if device.type == "cuda":
        info["device_name"] = torch.cuda.get_device_name(device)
    return info


def sync(device: torch.device) -> None:
    """Wait for queued GPU work so wall-clock times cover it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_interleaved(variants: Dict[str, Callable[[], int]], repeats: int, device: torch.device,
                     warmup: int = 1) -> Dict[str, dict]:
    """Run each variant `warmup + repeats` times, alternating; per variant: median seconds and items/s.

    Each callable does one unit of work and returns how many items (patches, images) it processed.
    """
    samples: Dict[str, list] = {name: [] for name in variants}
    items: Dict[str, int] = {}
    for r in range(warmup + repeats):
        for name, fn in variants.items():
            sync(device)
            t0 = time.perf_counter()
            items[name] = fn()
            sync(device)
            if r >= warmup:
                samples[name].append(time.perf_counter() - t0)
    out = {}
    for name, s in samples.items():
        med = statistics.median(s)
        out[name] = {"median_s": round(med, 5), "min_s": round(min(s), 5), "max_s": round(max(s), 5),
                     "items": items[name], "items_per_s": round(items[name] / med, 2),
                     "samples_s": [round(x, 5) for x in s]}
    return out


def add_ratios(timings: Dict[str, dict], baseline: str) -> Dict[str, dict]:
    """Add speedups (baseline time per item / variant time per item, > 1 is faster) to every variant.

    `speedup` compares medians; `speedup_paired` is the median of the ratios within each repeat
    (neighbours in time, so a slow drift of the machine's load cancels); `speedup_best` compares
    the fastest repeats, which contention from other processes disturbs least.
    """
    b = timings[baseline]
    for t in timings.values():
        per_item = (b["items"] / t["items"])
        t["speedup"] = round(b["median_s"] / t["median_s"] / per_item, 3)
        t["speedup_paired"] = round(statistics.median(x / y for x, y in zip(b["samples_s"], t["samples_s"])) / per_item, 3)
        t["speedup_best"] = round(b["min_s"] / t["min_s"] / per_item, 3)
    return timings


def save(name: str, result: dict, out: Optional[Path] = None) -> Path:
    """Write benchmarks/results/NAME.json (or `out`) atomically and say where."""
    path = Path(out) if out else RESULTS / f"{name}.json"
    write_json(path, result)
    print(f"wrote {path}", flush=True)
    return path
