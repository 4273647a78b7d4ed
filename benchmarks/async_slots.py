"""Busy launcher slots: the sweeper's asynchronous slots against batch-synchronous launching.

Both sweeps run the same uneven jobs (short ones and ones several times longer) on 2 joblib
slots. `iqa_optuna` keeps 2 trials in flight and launches the next one as soon as one ends; the
baseline is Hydra's basic sweeper with batches of 2 (each batch waits for its slowest job, as
hydra-optuna-sweeper's batches do), given the jobs in the order the first sweep ran them. Each
job records its start and end; efficiency = sum of job wall times / (slots x makespan), with
the makespan from the first job's start to the last job's end.

    python benchmarks/async_slots.py        # -> benchmarks/results/async_slots.json
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Dict, List

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "tests" / "sweeper_app" / "app.py"
RESULTS = ROOT / "benchmarks" / "results"


def sweep(folder: Path, name: str, slots: int, *overrides: str) -> List[Dict[str, float]]:
    """Run the test app's multirun; the jobs' timings, in start order."""
    timings = folder / f"{name}.jsonl"
    subprocess.run([sys.executable, str(APP), "-m", f"hydra.sweep.dir={folder / name}", f"timings={timings}",
                    "hydra/launcher=joblib", f"hydra.launcher.n_jobs={slots}", *overrides],
                   check=True, capture_output=True, text=True, cwd=folder, env={**os.environ, "HYDRA_FULL_ERROR": "1"})
    return sorted((json.loads(line) for line in timings.read_text().splitlines()), key=lambda j: j["start"])


def efficiency(jobs: List[Dict[str, float]], slots: int) -> Dict[str, float]:
    busy = sum(j["end"] - j["start"] for j in jobs)
    makespan = max(j["end"] for j in jobs) - min(j["start"] for j in jobs)
    return {"jobs": len(jobs), "busy_s": round(busy, 3), "makespan_s": round(makespan, 3),
            "efficiency": round(busy / (slots * makespan), 4)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=16)
    ap.add_argument("--in-flight", type=int, default=2, help="hydra.sweeper.n_jobs: trials in flight")
    ap.add_argument("--short", type=float, default=1.0, help="seconds of a short job")
    ap.add_argument("--long", type=float, default=4.0, help="seconds of a long job")
    args = ap.parse_args()
    slots = 2
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        ours = sweep(folder, "async", slots, f"hydra.sweeper.n_jobs={args.in_flight}", f"hydra.sweeper.n_trials={args.trials}",
                     f"sleep=choice({args.short}, {args.long})", "hydra/sweeper/sampler=random",
                     "hydra.sweeper.sampler.seed=0")
        order = ",".join(str(j["sleep"]) for j in ours)
        batched = sweep(folder, "batched", slots, "hydra/sweeper=basic", f"hydra.sweeper.max_batch_size={slots}", "hydra.sweeper.params=null",
                        f"sleep={order}")
    result = {"benchmark": "async_slots", "slots": slots, "launcher": "joblib", "short_s": args.short,
              "long_s": args.long, "sleeps": [j["sleep"] for j in ours],
              "iqa_optuna_async": efficiency(ours, slots), "batch_synchronous": efficiency(batched, slots),
              "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                          "load_avg_1m": round(os.getloadavg()[0], 2)}}
    result["speedup_makespan"] = round(result["batch_synchronous"]["makespan_s"]
                                       / result["iqa_optuna_async"]["makespan_s"], 3)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "async_slots.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
