"""Busy launcher slots: the sweeper's asynchronous slots against batch-synchronous launching.

Both sweeps run the same uneven jobs (short ones and ones several times longer) on 2 joblib
slots. `iqa_optuna` keeps 2 trials in flight and launches the next one as soon as one ends; the
baseline is Hydra's basic sweeper with batches of 2 (each batch waits for its slowest job, as
hydra-optuna-sweeper's batches do), given the jobs in the order the first sweep ran them.

A job's wall time is from its launch to its finish as the sweeper sees them, read from the
sweep's log: from the launcher's line for the job (`#i : <overrides>`, logged as the launch
call starts) to the sweeper's `trial N COMPLETE` line for `iqa_optuna`, to the job's own end for
the baseline (the sweeper sees it only when the whole batch has ended). Efficiency
= sum of job wall times / (slots x makespan), the makespan from the first launch to the last
finish. The jobs' own start and end (after Hydra has composed their config) give a second,
stricter figure.

    python benchmarks/async_slots.py        # -> benchmarks/results/async_slots.json
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path
import re
from typing import Dict, List

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "tests" / "sweeper_app" / "app.py"
RESULTS = ROOT / "benchmarks" / "results"


def sweep(folder: Path, name: str, slots: int, *overrides: str):
    """Run the test app's multirun; the jobs' own timings in start order, and the sweep's log."""
    timings = folder / f"{name}.jsonl"
    proc = subprocess.run([sys.executable, str(APP), "-m", f"hydra.sweep.dir={folder / name}", f"timings={timings}",
                           "hydra/launcher=joblib", f"hydra.launcher.n_jobs={slots}", *overrides], check=True,
                          capture_output=True, text=True, cwd=folder, env={**os.environ, "HYDRA_FULL_ERROR": "1"})
    jobs = sorted((json.loads(line) for line in timings.read_text().splitlines()), key=lambda j: j["start"])
    return jobs, proc.stdout + proc.stderr


def _time(stamp: str) -> float:
    return datetime.datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f").timestamp()


def launches(log: str) -> List[tuple]:
    """(time, overrides) of each job the launcher logs as it launches it, in log order."""
    return [(_time(m[1]), m[2]) for m in re.finditer(r"^\[([^\]]+)\]\[HYDRA\] \t#\d+ : (.*)$", log, re.M)]


def told(log: str) -> Dict[int, float]:
    """When the sweeper told each trial's result."""
    return {int(m[2]): _time(m[1]) for m in re.finditer(r"^\[([^\]]+)\]\[HYDRA\] trial (\d+) COMPLETE", log, re.M)}


def efficiency(jobs: List[Dict[str, float]], slots: int) -> Dict[str, float]:
    busy = sum(j["end"] - j["start"] for j in jobs)
    makespan = max(j["end"] for j in jobs) - min(j["start"] for j in jobs)
    return {"jobs": len(jobs), "busy_s": round(busy, 3), "makespan_s": round(makespan, 3),
            "efficiency": round(busy / (slots * makespan), 4)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=16)
    ap.add_argument("--in-flight", type=int, default=2, help="hydra.sweeper.n_jobs: trials in flight")
    ap.add_argument("--short", type=float, default=2.0, help="seconds of a short job")
    ap.add_argument("--long", type=float, default=8.0, help="seconds of a long job")
    args = ap.parse_args()
    slots = 2
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        ours, log = sweep(folder, "async", slots, f"hydra.sweeper.n_jobs={args.in_flight}",
                          f"hydra.sweeper.n_trials={args.trials}", f"sleep=choice({args.short}, {args.long})",
                          "hydra/sweeper/sampler=random", "hydra.sweeper.sampler.seed=0")
        ends = told(log)
        ours_seen = [{"start": t, "end": ends[int(re.search(r"IQA_OPTUNA_TRIAL=(\d+):", o)[1])]}
                     for t, o in launches(log)]
        order = ",".join(str(j["sleep"]) for j in ours)
        batched, log = sweep(folder, "batched", slots, "hydra/sweeper=basic", f"hydra.sweeper.max_batch_size={slots}",
                             "hydra.sweeper.params=null", f"sleep={order}")
        batched_seen = [{"start": t, "end": j["end"]} for (t, _), j in zip(launches(log), batched)]
    result = {"benchmark": "async_slots", "slots": slots, "launcher": "joblib", "short_s": args.short,
              "long_s": args.long, "sleeps": [j["sleep"] for j in ours],
              "iqa_optuna_async": efficiency(ours_seen, slots), "batch_synchronous": efficiency(batched_seen, slots),
              "job_side": {"iqa_optuna_async": efficiency(ours, slots), "batch_synchronous": efficiency(batched, slots)},
              "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                          "load_avg_1m": round(os.getloadavg()[0], 2)}}
    result["speedup_makespan"] = round(result["batch_synchronous"]["makespan_s"]
                                       / result["iqa_optuna_async"]["makespan_s"], 3)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "async_slots.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
