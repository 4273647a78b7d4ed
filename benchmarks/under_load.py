"""The default run, before and after, and its epoch time beside 0, 2, 4 busy processes against its fair share.

Usage: python benchmarks/under_load.py [--before REV] [--loads 0 2 4] [--out benchmarks/results/under_load.json]

Default run: with --before, `python run.py` (the default run, 10 epochs) of that revision and of
the working tree, alternating (--default-repeats each), timed from process start to exit, and
their metrics.json compared value for value (wall time and memory aside): the same seed must give
bit-identical numbers.

Under load: each variant is a real `python run.py` subprocess (the default model, `experiment=quick`'s
smaller data, three epochs) while N processes spin on the CPU. A process that shares the machine with N
others is entitled to 1/(N+1) of it, so its fair-share epoch time is the quiet epoch time (the
fastest variant without added load) times max(1, (N+1)/cores); the figure reported is the measured
time over that; a run that does not finish within --timeout has none. Variants are interleaved at
each load, so every ratio compares runs taken minutes apart on the same machine. Other users' jobs add load the benchmark does not
control: the mean number of runnable threads on the machine during each run is recorded with it.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `python benchmarks/x.py` puts benchmarks/ first, not the checkout
    sys.path.insert(0, str(ROOT))

from revisions import checkout_of, env_for  # noqa: E402
from iqa.atomic import write_json  # noqa: E402

CORES = os.cpu_count() or 1
OVERRIDES = ["experiment=quick", "trainer.epochs=3", "runtime.progress=false", "trainer.save_checkpoints=false",
             "trainer.fingerprint_batches=0"]
# GOMP_SPINCOUNT=300000 is what libgomp spins when OMP_WAIT_POLICY is unset (the first default);
# passive was the second; the package now chooses at start from the machine's load (nothing set).
VARIANTS = {
    "spin 300000, all cores (first default)": {"GOMP_SPINCOUNT": "300000"},
    "passive, all cores (previous default)": {"OMP_WAIT_POLICY": "PASSIVE"},
    "chosen at start from the load (new default)": {},
}
# metrics.json values that are clock or memory readings, not results
NOT_RESULTS = ("wall_s", "peak_memory_mb")


def busy(n: int) -> list:
    """n processes that spin on the CPU until killed."""
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]


def runnable() -> int:
    """Threads running or ready to run on the whole machine right now (/proc/stat procs_running)."""
    with open("/proc/stat") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("procs_running"))


def clean_env(checkout: Path = ROOT) -> dict:
    """This process's environment without OpenMP settings, running `checkout`'s code."""
    omp = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "OMP_NUM_THREADS")
    return {k: v for k, v in env_for(checkout).items() if k not in omp}


def chosen_policy(folder: Path) -> str:
    """The OpenMP wait policy the run logged (older revisions do not log it)."""
    log = (folder / "run.log").read_text()
    return log.split("OpenMP wait policy ", 1)[1].split(")", 1)[0] if "OpenMP wait policy " in log else "not logged"


def default_run(checkout: Path, folder: Path) -> dict:
    """`python run.py` as a newcomer runs it: wall seconds from process start to exit, and its metrics."""
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "run.py", "runtime.progress=false", f"hydra.run.dir={folder}"], cwd=checkout,
                   env=clean_env(checkout), check=True, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    metrics = json.loads((folder / "metrics.json").read_text())
    return {"process_wall_s": round(wall, 1), "wall_s": metrics["wall_s"], "epochs_run": metrics["epochs_run"],
            "test_srcc": metrics["test_srcc"], "wait_policy": chosen_policy(folder), "metrics": metrics}


def results_of(metrics: dict) -> dict:
    return {k: v for k, v in metrics.items() if k not in NOT_RESULTS}


def compare_default_runs(before: Path, repeats: int, out_root: Path) -> dict:
    """The default run of `before` and of the working tree, alternating; identical results?"""
    runs = {"before": [], "now": []}
    for r in range(repeats):
        for name, checkout in (("before", before), ("now", ROOT)):
            runs[name].append(default_run(checkout, out_root / f"default-{name}-{r}"))
            print(f"default run {name}: {runs[name][-1]['process_wall_s']} s "
                  f"(wait policy {runs[name][-1]['wait_policy']})", flush=True)
    reference = results_of(runs["before"][0]["metrics"])
    identical = all(results_of(run["metrics"]) == reference for rs in runs.values() for run in rs)
    medians = {name: statistics.median(run["process_wall_s"] for run in rs) for name, rs in runs.items()}
    for rs in runs.values():
        for run in rs:
            del run["metrics"]
    return {"command": "python run.py", "runs": runs, "median_process_wall_s": medians,
            "now_vs_before": round(medians["now"] / medians["before"], 3),
            "metrics_bit_identical": identical, "compared": f"every metrics.json value except {', '.join(NOT_RESULTS)}"}


def epoch_time(env_extra: dict, folder: Path, timeout: float):
    """(median seconds of the epochs after the first, which includes one-off warm-up, or None on
    timeout; mean runnable threads on the machine meanwhile)."""
    proc = subprocess.Popen([sys.executable, "run.py", *OVERRIDES, f"hydra.run.dir={folder}"], cwd=ROOT,
                            env={**clean_env(), **env_extra}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
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
    ap.add_argument("--before", help="a git revision whose default run to time beside the working tree's")
    ap.add_argument("--default-repeats", type=int, default=1, help="default runs of each revision")
    ap.add_argument("--loads", type=int, nargs="+", default=[0, 2, 4], help="busy background processes")
    ap.add_argument("--timeout", type=float, default=120, help="seconds before a run counts as too slow")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/under_load.json")
    args = ap.parse_args()
    out_root = ROOT / "outputs/benchmarks/under_load" / time.strftime("%Y%m%d-%H%M%S")
    times, busy_threads, policies = {}, {}, {}
    load_avg = {"start": os.getloadavg()}
    default = None
    if args.before:
        with tempfile.TemporaryDirectory() as tmp:
            default = compare_default_runs(checkout_of(args.before, Path(tmp)), args.default_repeats, out_root)
    for n in args.loads:
        procs = busy(n)
        try:
            for name, env in VARIANTS.items():
                folder = out_root / f"load{n}-variant{list(VARIANTS).index(name)}"
                times[(name, n)], busy_threads[(name, n)] = epoch_time(env, folder, args.timeout)
                policies[(name, n)] = chosen_policy(folder) if (folder / "run.log").is_file() else None
                print(f"load {n}: {name}: {times[(name, n)]} s/epoch, {busy_threads[(name, n)]} runnable threads",
                      flush=True)
        finally:
            for p in procs:
                p.kill()
                p.wait()
    load_avg["end"] = os.getloadavg()
    rows = with_fair_share([{"variant": name, "env": VARIANTS[name], "busy_processes": n, "epoch_s": t,
                             "wait_policy": policies[(name, n)], "mean_runnable_threads": busy_threads[(name, n)]}
                            for (name, n), t in times.items()])
    write_json(args.out, {
        "command": " ".join(["python", *sys.argv]),
        "config": "python run.py " + " ".join(OVERRIDES),
        "machine": {"cpus": CORES, "platform": platform.platform(), "python": platform.python_version(),
                    "load_average_1_5_15min": load_avg,
                    "note": "other users' jobs ran on the machine too; ratios compare runs of this one invocation"},
        "before": args.before,
        "default_run": default,
        "timeout_s": args.timeout,
        "rows": rows,
    })
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
