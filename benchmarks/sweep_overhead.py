"""Per-job overhead of the sweep machinery: seconds a job costs beyond its own training and evaluation.

Usage: python benchmarks/sweep_overhead.py [--jobs 6] [--out benchmarks/results/sweep_overhead.json]

In one process run, the same tiny jobs (seeds 42.., one epoch) are run three ways:
  separate  one `python run.py` process per job (the baseline: what running jobs by hand costs)
  grid      one `python run.py -m ... seed=42,43,..` multirun (Hydra's basic sweeper + summary table)
  optuna    one `hydra/sweeper=iqa_study` multirun, jobs/2 trials x 2 seeds, SQLite storage
Overhead per job = (wall time of the processes - sum of the jobs' own `wall_s`) / jobs, where
`wall_s` (metrics.json) is a job's data, model, training and evaluation time. Machinery per job
also takes off the start-up of each process (Python, torch and Hydra imports, config composition:
`python run.py --cfg job`, best of 3), leaving what the sweep adds per job: composing the job's
config, its run folder, plots and checkpoints, the summary table, Optuna's ask/tell and storage.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List

ROOT = Path(__file__).resolve().parents[1]
# A job with next to no training, so that the overhead is most of what is measured.
JOB = ["experiment=quick", "data.n_refs=3", "data.image_size=64", "data.cross=[]", "loader.patch_size=32",
       "loader.batch_size=8", "loader.eval_batch_size=8", "loader.test_patch_num=1", "runtime.progress=false",
       "trainer.epochs=1", "loss=ranking"]


def _run(args: List[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, str(ROOT / "run.py"), *args], cwd=ROOT, check=True, capture_output=True, text=True)
    return time.perf_counter() - t0


def _job_seconds(folder: Path) -> List[float]:
    return [json.loads(p.read_text())["wall_s"] for p in sorted(folder.rglob("metrics.json"))]


def _result(wall: float, job_s: List[float], n: int, startups: float) -> Dict:
    assert len(job_s) == n, f"expected {n} finished jobs, found {len(job_s)}"
    return {"process_wall_s": round(wall, 2), "jobs_wall_s": round(sum(job_s), 2),
            "overhead_per_job_s": round((wall - sum(job_s)) / n, 2),
            "machinery_per_job_s": round((wall - startups - sum(job_s)) / n, 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=6, help="an even number of jobs per way")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/sweep_overhead.json")
    args = ap.parse_args()
    seeds = list(range(42, 42 + args.jobs))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        _run([*JOB, f"hydra.run.dir={tmp}/warmup"])  # dataset cache and file-system caches warm for all three
        startup = min(_run([*JOB, "--cfg", "job"]) for _ in range(3))
        t0 = time.perf_counter()
        for s in seeds:
            _run([*JOB, f"seed={s}", f"hydra.run.dir={tmp}/separate/{s}"])
        separate = _result(time.perf_counter() - t0, _job_seconds(tmp / "separate"), args.jobs, args.jobs * startup)
        wall = _run(["-m", *JOB, "seed=" + ",".join(map(str, seeds)), f"hydra.sweep.dir={tmp}/grid"])
        grid = _result(wall, _job_seconds(tmp / "grid"), args.jobs, startup)
        wall = _run(["-m", *JOB, "hydra/sweeper=iqa_study", "loss.alpha=interval(0, 1)",
                     f"hydra.sweeper.n_trials={args.jobs // 2}", "hydra.sweeper.seeds=[42,43]",
                     "hydra/sweeper/pruner=median", f"hydra.sweeper.storage=sqlite:///{tmp}/optuna.db",
                     f"hydra.sweep.dir={tmp}/optuna"])
        optuna = _result(wall, _job_seconds(tmp / "optuna"), args.jobs, startup)
    result = {
        "command": "python benchmarks/sweep_overhead.py",
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "note": "2 CPU cores shared with other work: compare the ratios"},
        "jobs": args.jobs, "job_overrides": JOB, "startup_s": round(startup, 2),
        "separate": separate, "grid": grid, "optuna": optuna,
        "ratio_vs_separate": {k: round(v["overhead_per_job_s"] / separate["overhead_per_job_s"], 2)
                              for k, v in (("grid", grid), ("optuna", optuna))},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("startup_s", "separate", "grid", "optuna", "ratio_vs_separate")},
                     indent=2))


if __name__ == "__main__":
    main()
