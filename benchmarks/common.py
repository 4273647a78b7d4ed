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
from typing import Callable, Dict, List, Optional

ROOT = Path(__file__).resolve().parents[1]
for path in (ROOT, ROOT / "tests"):  # `python benchmarks/x.py` puts benchmarks/ first, not the checkout;
    if str(path) not in sys.path:   # tests/ holds the reference implementations some benchmarks compare with
        sys.path.insert(0, str(path))

# every option of the model/fusion config group
FUSIONS = sorted(p.stem for p in (ROOT / "conf" / "model" / "fusion").glob("*.yaml"))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from hydra import compose, initialize_config_dir  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402
from PIL import Image  # noqa: E402

from iqa.atomic import write_csv, write_json  # noqa: E402
from iqa.config import DataConfig, register_configs, validate  # noqa: E402
from iqa.data.synthetic import gratings  # noqa: E402
from iqa.runtime.device import resolve_device  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
KONIQ_SIZE = (1024, 768)


def write_jpegs(folder: Path, n: int) -> List[Path]:
    """n photo-like KonIQ-sized JPEGs (gratings over gradients plus sensor-like noise), quality 90,
    and a `csv` dataset's labels.csv listing them."""
    rng = np.random.default_rng(0)
    width, height = KONIQ_SIZE
    paths = []
    for i in range(n):
        img = gratings(rng, width)[:height].astype(np.float32) + rng.normal(0, 6, (height, width, 3))
        paths.append(folder / f"{i:05d}.jpg")
        Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(paths[-1], quality=90)
    write_csv(folder / "labels.csv", [{"path": p.name, "mos": float(i)} for i, p in enumerate(paths)])
    return paths


def jpeg_dataset_config(folder: Path, short_side: int = 384):
    """The `data=csv` config of `write_jpegs`' folder, its image cache inside the folder."""
    return OmegaConf.merge(OmegaConf.structured(DataConfig), {
        "name": "csv", "root": str(folder), "metadata": "labels.csv", "images": ".", "label": "mos",
        "short_side": short_side, "cache_dir": str(folder / "cache"), "cross": []})


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
    cpu: Dict[str, list] = {name: [] for name in variants}
    items: Dict[str, int] = {}
    for r in range(warmup + repeats):
        for name, fn in variants.items():
            with Stopwatch(device) as watch:
                items[name] = fn()
            if r >= warmup:
                samples[name].append(watch.wall_s)
                cpu[name].append(watch.cpu_s)
    return {name: summarize(samples[name], cpu[name], items[name]) for name in variants}


class Stopwatch:
    """Wall-clock and CPU time of a block (GPU work included: it synchronises on entry and exit).

    CPU time of the process is what a single-threaded CPU variant costs, whatever other jobs on the
    shared cores do to its wall-clock time; with more threads or on a GPU only wall time counts.
    """

    def __init__(self, device: torch.device):
        self.device = device

    def __enter__(self):
        sync(self.device)
        self.t0, self.c0 = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        sync(self.device)
        self.wall_s, self.cpu_s = time.perf_counter() - self.t0, time.process_time() - self.c0


def summarize(wall: list, cpu: list, items: int) -> dict:
    """Median, min, max and all samples of a variant's repeats, and items per second (median wall time)."""
    med = statistics.median(wall)
    return {"median_s": round(med, 5), "min_s": round(min(wall), 5), "max_s": round(max(wall), 5),
            "items": items, "items_per_s": round(items / med, 2), "samples_s": [round(x, 5) for x in wall],
            "cpu_samples_s": [round(x, 5) for x in cpu]}


def add_ratios(timings: Dict[str, dict], baseline: str) -> Dict[str, dict]:
    """Add speedups (baseline time per item / variant time per item, > 1 is faster) to every variant.

    `speedup` compares medians; `speedup_paired` is the median of the ratios within each repeat
    (neighbours in time, so a slow drift of the machine's load cancels); `speedup_best` compares
    the fastest repeats, which contention from other processes disturbs least;
    `speedup_cpu_time` is the paired median on process CPU time, the steadiest figure on a shared
    CPU when baseline and variant both run on one thread.
    """
    b = timings[baseline]
    paired = lambda key, t: statistics.median(x / y for x, y in zip(b[key], t[key]))  # noqa: E731
    for t in timings.values():
        per_item = (b["items"] / t["items"])
        t["speedup"] = round(b["median_s"] / t["median_s"] / per_item, 3)
        t["speedup_paired"] = round(paired("samples_s", t) / per_item, 3)
        t["speedup_best"] = round(b["min_s"] / t["min_s"] / per_item, 3)
        t["speedup_cpu_time"] = round(paired("cpu_samples_s", t) / per_item, 3)
    return timings


def save(name: str, result: dict, out: Optional[Path] = None) -> Path:
    """Write benchmarks/results/NAME.json (or `out`) atomically and say where."""
    path = Path(out) if out else RESULTS / f"{name}.json"
    write_json(path, result)
    print(f"wrote {path}", flush=True)
    return path
