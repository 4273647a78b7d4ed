"""The default `python run.py` over seeds 42, 43, 44: wall time, test SRCC and peak memory, median and spread.

Test SRCC is that of the epoch chosen on validation (the default `trainer.monitor=val_srcc`).

Usage: python benchmarks/default_run.py [--seeds 42 43 44] [--out benchmarks/results/default_run.json]
Each seed is a real subprocess run of the README's command; its run folder goes under outputs/.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_seed(seed: int, out_root: Path) -> dict:
    folder = out_root / f"seed{seed}"
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "run.py", f"seed={seed}", "runtime.progress=false", f"hydra.run.dir={folder}"],
                   cwd=ROOT, check=True, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    metrics = json.loads((folder / "metrics.json").read_text())
    return {"seed": seed, "process_wall_s": round(wall, 1), "run_wall_s": metrics["wall_s"],
            "monitor": metrics["monitor"], "val_srcc": metrics["val_srcc"],
            "test_srcc": metrics["test_srcc"], "test_plcc": metrics["test_plcc"],
            "test_plcc_logistic": metrics["test_plcc_logistic"], "test_rmse_logistic": metrics["test_rmse_logistic"],
            "best_epoch": metrics["best_epoch"], "epochs_run": metrics["epochs_run"],
            "peak_memory_mb": metrics["peak_memory_mb"], "folder": str(folder.relative_to(ROOT))}


def spread(values) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "std": statistics.stdev(values) if len(values) > 1 else 0.0}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[42, 43, 44])
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/default_run.json")
    args = ap.parse_args()
    out_root = ROOT / "outputs/benchmarks/default_run" / time.strftime("%Y%m%d-%H%M%S")
    runs = [run_seed(s, out_root) for s in args.seeds]
    result = {
        "command": "python run.py seed=S",
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "runs": runs,
        "process_wall_s": spread([r["process_wall_s"] for r in runs]),
        "test_srcc": spread([r["test_srcc"] for r in runs]),
        "peak_rss_mb": spread([r["peak_memory_mb"]["rss"] for r in runs]),
        "targets": {"process_wall_s_max": 300, "test_srcc_min": 0.85},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("process_wall_s", "test_srcc", "peak_rss_mb")}, indent=2))


if __name__ == "__main__":
    main()
