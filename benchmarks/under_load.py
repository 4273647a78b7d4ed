"""The default run on a busy machine: epoch time with 0, 2, 4 busy background processes, against its fair share.

Usage: python benchmarks/under_load.py [--loads 0 2 4] [--out benchmarks/results/under_load.json]

Each variant is a real `python run.py` subprocess (the default model, `experiment=quick`'s
smaller data, three epochs) while N processes spin on the CPU. A process that shares the machine with N
others is entitled to 1/(N+1) of it, so its fair-share epoch time is the quiet epoch time (the
fastest variant without added load) times max(1, (N+1)/cores); the figure reported is the measured
time over that; a run that does not finish within --timeout has none. Variants are interleaved at each load, so every ratio compares
runs taken minutes apart on the same machine. Other users' jobs add load the benchmark does not
control: the mean number of runnable threads on the machine during each run is recorded with it.
"""
from __future__ import annotations

import argparse
import csv
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `python benchmarks/x.py` puts benchmarks/ first, not the checkout
    sys.path.insert(0, str(ROOT))

from iqa.atomic import write_json  # noqa: E402

CORES = os.cpu_count() or 1
OVERRIDES = ["experiment=quick", "trainer.epochs=3", "runtime.progress=false", "trainer.save_checkpoints=false",
             "trainer.fingerprint_batches=0"]
# GOMP_SPINCOUNT=300000 is what libgomp spins when OMP_WAIT_POLICY is unset (the old default).
VARIANTS = {
    "spin 300000, all cores (old default)": {"GOMP_SPINCOUNT": "300000"},
    "passive, all cores": {"OMP_WAIT_POLICY": "PASSIVE"},
    "passive, 1 thread": {"OMP_WAIT_POLICY": "PASSIVE", "OMP_NUM_THREADS": "1"},
}


def busy(n: int) -> list:
    """n processes that spin on the CPU until killed."""
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]


def runnable() -> int:
    """Threads running or ready to run on the whole machine right now (/proc/stat procs_running)."""
    with open("/proc/stat") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("procs_running"))


def epoch_time(env_extra: dict, folder: Path, timeout: float):
    """(median seconds of the epochs after the first, which includes one-off warm-up, or None on
    timeout; mean runnable threads on the machine meanwhile)."""
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "OMP_NUM_THREADS")}
    proc = subprocess.Popen([sys.executable, "run.py", *OVERRIDES, f"hydra.run.dir={folder}"], cwd=ROOT,
                            env={**env, **env_extra}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    samples, start = [], time.monotonic()
    while proc.poll() is None and time.monotonic() - start < timeout:
        samples.append(runnable())
        time.sleep(0.5)
    if proc.poll() is None:
        proc.kill()
        proc.wait()
        return None, round(statistics.fmean(samples), 1)
    if proc.returncode != 0:
        raise RuntimeError(f"run.py failed in {folder} (see its run.log)")
    with open(folder / "history.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    epoch_s = statistics.median(float(r["epoch_s"]) for r in rows[1:])
    return epoch_s, round(statistics.fmean(samples), 1) if samples else None


def with_fair_share(rows: list) -> list:
    """Add each row's fair-share epoch time and its ratio to it (None where the run did not finish).

    The reference is the fastest epoch time without added load (any variant): the best this
    machine gave the run in this invocation."""
    quiet = min((r["epoch_s"] for r in rows if r["busy_processes"] == 0 and r["epoch_s"]), default=None)
    for r in rows:
        fair = quiet * max(1.0, (r["busy_processes"] + 1) / CORES) if quiet else None
        r["fair_share_epoch_s"] = None if fair is None else round(fair, 3)
        r["vs_fair_share"] = None if (r["epoch_s"] is None or fair is None) else round(r["epoch_s"] / fair, 2)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--loads", type=int, nargs="+", default=[0, 2, 4], help="busy background processes")
    ap.add_argument("--timeout", type=float, default=120, help="seconds before a run counts as too slow")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/under_load.json")
    args = ap.parse_args()
    out_root = ROOT / "outputs/benchmarks/under_load" / time.strftime("%Y%m%d-%H%M%S")
    times, busy_threads = {}, {}
    load_avg = {"start": os.getloadavg()}
    for n in args.loads:
        procs = busy(n)
        try:
            for name, env in VARIANTS.items():
                folder = out_root / f"load{n}-variant{list(VARIANTS).index(name)}"
                times[(name, n)], busy_threads[(name, n)] = epoch_time(env, folder, args.timeout)
                print(f"load {n}: {name}: {times[(name, n)]} s/epoch, {busy_threads[(name, n)]} runnable threads",
                      flush=True)
        finally:
            for p in procs:
                p.kill()
                p.wait()
    load_avg["end"] = os.getloadavg()
    rows = with_fair_share([{"variant": name, "env": VARIANTS[name], "busy_processes": n, "epoch_s": t,
                             "mean_runnable_threads": busy_threads[(name, n)]} for (name, n), t in times.items()])
    write_json(args.out, {
        "command": " ".join(["python", *sys.argv]),
        "config": "python run.py " + " ".join(OVERRIDES),
        "machine": {"cpus": CORES, "platform": platform.platform(), "python": platform.python_version(),
                    "load_average_1_5_15min": load_avg,
                    "note": "other users' jobs ran on the machine too; ratios compare runs of this one invocation"},
        "timeout_s": args.timeout,
        "rows": rows,
    })
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
