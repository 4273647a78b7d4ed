"""`experiment=quick` before and after it was made to learn: test SRCC and wall time per seed.

The preset as it was is reproduced with overrides (`OLD`), so both run from this checkout, one
after the other for each seed (alternating, so a shared machine slows both alike); the figure
is the ratio of the new preset's wall time to the old one's, and each one's test SRCC.

Usage: python benchmarks/quick_preset.py [--seeds 42 43 44] [--out benchmarks/results/quick_preset.json]
Each run is a real `python run.py experiment=quick seed=S` subprocess; run folders go under outputs/.
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
# experiment=quick as it was: batch 16, two epochs, two evaluation crops, heads at 10x the backbone's rate.
OLD = ["loader.batch_size=16", "trainer.epochs=2", "trainer.lr_ratio=10", "loader.test_patch_num=2"]
VARIANTS = {"old": OLD, "new": []}


def run(seed: int, variant: str, out_root: Path) -> dict:
    folder = out_root / f"{variant}_seed{seed}"
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "run.py", "experiment=quick", f"seed={seed}", "runtime.progress=false",
                    f"hydra.run.dir={folder}", *VARIANTS[variant]], cwd=ROOT, check=True, capture_output=True, text=True)
    metrics = json.loads((folder / "metrics.json").read_text())
    return {"seed": seed, "variant": variant, "process_wall_s": round(time.perf_counter() - t0, 2),
            "run_wall_s": metrics["wall_s"], "test_srcc": metrics["test_srcc"], "val_srcc": metrics["val_srcc"],
            "epochs_run": metrics["epochs_run"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[42, 43, 44])
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "quick_preset.json")
    args = ap.parse_args()
    out_root = ROOT / "outputs" / "benchmarks" / "quick_preset" / time.strftime("%Y%m%d-%H%M%S")
    runs = []
    for seed in args.seeds:
        for variant in (("old", "new") if seed % 2 == 0 else ("new", "old")):
            runs.append(run(seed, variant, out_root))
            print(json.dumps(runs[-1]), flush=True)
    summary = {}
    for variant in VARIANTS:
        mine = [r for r in runs if r["variant"] == variant]
        summary[variant] = {"test_srcc": [round(r["test_srcc"], 4) for r in mine],
                            "test_srcc_min": min(r["test_srcc"] for r in mine),
                            "run_wall_s_median": statistics.median(r["run_wall_s"] for r in mine),
                            "process_wall_s_median": statistics.median(r["process_wall_s"] for r in mine)}
    ratios = [n["run_wall_s"] / o["run_wall_s"] for n, o in zip(
        [r for r in runs if r["variant"] == "new"], [r for r in runs if r["variant"] == "old"])]
    summary["run_wall_ratio_new_over_old_median"] = round(statistics.median(ratios), 2)
    result = {"command": "python run.py experiment=quick seed=S (old: + " + " ".join(OLD) + ")",
              "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                          "python": platform.python_version(),
                          "omp_num_threads": os.environ.get("OMP_NUM_THREADS")},
              "runs": runs, "summary": summary}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
