"""Adaptive seeds against 1 seed and K fixed seeds per trial, at equal budgets of jobs.

Part 1, the racing rule alone (`_racing.Race`, no Hydra): an incumbent measured on K seeds, a
pooled seed spread from ten other K-seed trials, and a challenger whose true value is `delta`
seed standard deviations above (better) or below the incumbent's. Over many draws: how often the
challenger is stopped before its K-th seed (for delta >= 0 an error: it was at least as good),
and how many seeds it ran.

Part 2, whole searches: the Hydra app `benchmarks/noisy_objective` (a known bowl plus Gaussian
seed noise) swept with `hydra/sweeper=iqa_optuna` (TPE, in-process basic launcher, one trial at
a time) three ways: 1 seed per trial, K fixed seeds per trial, adaptive seeds over the same K.
Each sweep runs until it has used the budget; since trials run one after another, the study's
first trials are exactly the sweep a smaller budget would have run, so every budget up to the
largest is read from one sweep. Per policy and budget: jobs used, regret (true value of the
reported winner below the best true value among the trials it tried, and below the optimum) and
P(winner within `--tolerance` of the best tried), over `--repeats` repeats with fresh noise and
sampler seeds, for each noise level.

    python benchmarks/adaptive_seeds.py                    # -> benchmarks/results/adaptive_seeds.json
    python benchmarks/adaptive_seeds.py --repeats 3 --noise 0.003     # a quick look
    python benchmarks/adaptive_seeds.py --table benchmarks/results/adaptive_seeds.json   # the docs' tables
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List

import numpy as np
import optuna
from hydra import compose, initialize_config_dir
from hydra.core.utils import JobReturn, JobStatus
from hydra.utils import instantiate
from optuna.trial import TrialState, create_trial

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "benchmarks" / "noisy_objective"), str(ROOT / "plugins" / "hydra-iqa-optuna-sweeper")]
import app as noisy  # noqa: E402
from hydra_plugins.iqa_optuna_sweeper._racing import Race  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
POLICIES = ("one_seed", "fixed", "adaptive")


# -- part 1: the rule's error rates ------------------------------------------------------------
def _trial(values: List[float], seeds: List[int], state: TrialState) -> optuna.trial.FrozenTrial:
    return create_trial(state=state, value=statistics.fmean(values) if state == TrialState.COMPLETE else None,
                        user_attrs={"seed_values": {str(s): v for s, v in zip(seeds, values)}})


def error_rates(k: int, alpha: float, deltas: List[float], draws: int, rng: np.random.Generator) -> List[Dict]:
    """P(stopped before K seeds) and mean seeds of a challenger `delta` sigma from the incumbent."""
    seeds = list(range(k))
    race = Race(seeds, 1, alpha, 1.0, 0.0)
    rows = []
    for delta in deltas:
        stopped, used = 0, []
        for _ in range(draws):
            # Ten trials still running lend their seed spread; the incumbent is the one COMPLETE trial.
            trials = [*(_trial(list(rng.normal(0, 1, k)), seeds, TrialState.RUNNING) for _ in range(10)),
                      _trial(list(rng.normal(0, 1, k)), seeds, TrialState.COMPLETE)]
            values = list(rng.normal(delta, 1, k))
            n = 1
            while n < k and race.verdict(values[:n], trials) is None:
                n += 1
            stopped += n < k
            used.append(n)
        rows.append({"delta_sigma": delta, "p_stopped": stopped / draws, "mean_seeds": statistics.fmean(used)})
    return rows


# -- part 2: whole searches --------------------------------------------------------------------
class DirectLauncher:
    """Runs each job's task in this process from the overrides the sweeper gives it (x, y, seed),
    without Hydra composing a config per job: the sweeper's asking, racing and telling are the
    same, only the per-job start-up (about 0.1 s of CPU, most of a job of this app) is skipped."""

    def __init__(self, noise: float, repeat: int) -> None:
        self.noise, self.repeat = noise, repeat

    def launch(self, jobs: List[List[str]], initial_job_idx: int) -> List[JobReturn]:
        returns = []
        for overrides in jobs:
            given = dict(o.split("=", 1) for o in overrides if not o.lstrip("+").startswith("hydra."))
            value = noisy.noisy_value(float(given["x"]), float(given["y"]), int(given["seed"]), self.noise, self.repeat)
            returns.append(JobReturn(overrides=overrides, status=JobStatus.COMPLETED, _return_value=value))
        return returns


class Searches:
    """The sweeps of one (noise, repeat): through Hydra (`python app.py -m`, run in this process with
    the basic launcher) or with the sweeper driven directly by `DirectLauncher`."""

    def __init__(self, folder: Path, launcher: str, noise: float, repeat: int) -> None:
        self.folder, self.launcher, self.noise, self.repeat = folder, launcher, noise, repeat
        self.storage = (f"sqlite:///{folder}/o.db" if launcher == "hydra"
                        else optuna.storages.InMemoryStorage())

    def sweep(self, name: str, n_trials: int, overrides: List[str]) -> None:
        """Run (or extend, the same study resumed) the study `name` to `n_trials` trials."""
        common = [f"hydra.sweep.dir={self.folder / name}", f"hydra.sweeper.study_name={name}",
                  f"hydra.sweeper.n_trials={n_trials}", f"hydra.sweeper.total_trials={n_trials}",
                  "hydra.sweeper.heartbeat_interval=0", f"noise={self.noise}", f"repeat={self.repeat}",
                  f"hydra.sweeper.sampler.seed={self.repeat}", "hydra.sweeper.sampler.n_startup_trials=5", *overrides]
        if self.launcher == "hydra":
            self._hydra([f"hydra.sweeper.storage={self.storage}", *common])
        else:
            self._direct(common)

    def _hydra(self, overrides: List[str]) -> None:
        argv = sys.argv
        sys.argv = ["app.py", "-m", *overrides]
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                noisy.main()
        except SystemExit as e:
            if e.code:
                raise RuntimeError(f"sweep {overrides} failed ({e.code})") from None
        finally:
            sys.argv = argv

    def _direct(self, overrides: List[str]) -> None:
        with initialize_config_dir(config_dir=str(Path(noisy.__file__).parent), version_base=None):
            config = compose("app", overrides=overrides, return_hydra_config=True)
        sweeper = instantiate(config.hydra.sweeper)
        impl = sweeper.impl
        impl.conf["storage"] = self.storage
        impl.config, impl.sampler_conf = config, config.hydra.sweeper.sampler
        impl.sweep_dir = Path(str(config.hydra.sweep.dir))
        impl.launcher = DirectLauncher(self.noise, self.repeat)
        with contextlib.redirect_stdout(io.StringIO()):
            impl.sweep([])

    def trials(self, name: str) -> List[Dict]:
        study = optuna.load_study(study_name=name, storage=self.storage)
        return [{"x": t.params["x"], "y": t.params["y"], "value": t.value,
                 "seeds": len(t.user_attrs.get("seed_values") or {}) or 1} for t in study.trials
                if t.state == TrialState.COMPLETE]


def run_policy(searches: Searches, policy: str, budget: int, k: int, alpha: float) -> List[Dict]:
    """The trials of one sweep, in order, until they have used `budget` jobs."""
    seeds = f"hydra.sweeper.seeds=[{','.join(str(s) for s in range(1, k + 1))}]"
    race = [seeds, "hydra.sweeper.adaptive_seeds=true", f"hydra.sweeper.race_alpha={alpha}"]
    if policy == "one_seed":
        searches.sweep(policy, budget, ["hydra.sweeper.seeds=[1]"])
    elif policy == "fixed":
        searches.sweep(policy, budget // k, [seeds])
    else:  # adaptive: budget/2 trials, then a few more at a time (the same study resumed) until it is spent
        n = budget // 2
        searches.sweep(policy, n, race)
        while sum(t["seeds"] for t in searches.trials(policy)) < budget:
            n += max(2, budget // (2 * k))
            searches.sweep(policy, n, race)
    return searches.trials(policy)


def outcome(trials: List[Dict], budget: int, tolerance: float) -> Dict:
    """What a sweep that stopped at `budget` jobs reports: its winner, judged on true values."""
    used, tried = 0, []
    for t in trials:
        if used + t["seeds"] > budget:
            break
        used += t["seeds"]
        tried.append(t)
    winner = max(tried, key=lambda t: t["value"])
    truth = [noisy.true_value(t["x"], t["y"]) for t in tried]
    best_tried, chosen = max(truth), noisy.true_value(winner["x"], winner["y"])
    return {"jobs": used, "trials": len(tried), "regret_tried": best_tried - chosen,
            "regret_optimum": noisy.true_value(*noisy.BEST) - chosen,
            "within_tolerance": float(best_tried - chosen <= tolerance), "winner_seeds": winner["seeds"]}


def summarize(rows: List[Dict]) -> Dict:
    out = {}
    for key in rows[0]:
        xs = [r[key] for r in rows]
        out[key] = statistics.fmean(xs)
        out[f"{key}_se"] = statistics.stdev(xs) / math.sqrt(len(xs)) if len(xs) > 1 else 0.0
    return out


def tables(result: Dict) -> str:
    """The markdown tables of docs/benchmarks.md and docs/sweeps.md, from a result file."""
    k, tol = result["settings"]["seeds"], result["settings"]["tolerance"]
    lines = ["| challenger's true value − incumbent's | P(stopped before its K-th seed) | mean seeds run |",
             "|---|---:|---:|"]
    lines += [f"| {r['delta_sigma']:+.1f} σ{' (as good or better: an error)' if r['delta_sigma'] >= 0 else ''} | "
              f"{r['p_stopped']:.3f} | {r['mean_seeds']:.2f} of {k} |" for r in result["rule"]]
    lines += ["", f"| seed noise σ | policy | budget (jobs) | jobs used | trials | regret vs best tried | "
              f"regret vs optimum | P(within {tol} of best tried) |", "|---:|---|---:|---:|---:|---:|---:|---:|"]
    names = {"one_seed": "1 seed per trial", "fixed": f"{k} fixed seeds", "adaptive": f"adaptive, up to {k} seeds"}
    for r in result["searches"]:
        lines.append(f"| {r['noise']} | {names[r['policy']]} | {r['budget']} | {r['jobs']:.1f} | {r['trials']:.1f} | "
                     f"{r['regret_tried']:.4f} ± {r['regret_tried_se']:.4f} | {r['regret_optimum']:.4f} ± "
                     f"{r['regret_optimum_se']:.4f} | {r['within_tolerance']:.2f} ± {r['within_tolerance_se']:.2f} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--table", type=Path, metavar="JSON", help="only print the markdown tables of a result file")
    ap.add_argument("--repeats", type=int, default=20, help="searches per policy and noise level")
    ap.add_argument("--noise", type=float, nargs="+", default=[0.001, 0.003, 0.01],
                    help="seed standard deviations (the objective spans 0.82 to 0.90)")
    ap.add_argument("--seeds", type=int, default=5, help="K: the most seeds a trial gets")
    ap.add_argument("--budget", type=int, default=50, help="jobs of the largest budget (K fixed seeds: budget/K trials)")
    ap.add_argument("--fraction", type=float, default=0.6, help="the smaller budget, as a fraction of --budget")
    ap.add_argument("--tolerance", type=float, default=0.001, help="a winner this close to the best tried counts")
    ap.add_argument("--launcher", choices=("hydra", "direct"), default="direct",
                    help="hydra: every job a Hydra job (basic launcher, in this process); direct: the sweeper "
                         "driven with DirectLauncher, no per-job Hydra start-up (same decisions, much cheaper)")
    ap.add_argument("--draws", type=int, default=2000, help="draws per delta of the rule's simulation")
    ap.add_argument("--alpha", type=float, default=0.05, help="race_alpha, in the rule's simulation and the searches")
    ap.add_argument("--out", type=Path, default=RESULTS / "adaptive_seeds.json")
    args = ap.parse_args()
    if args.table:
        print(tables(json.loads(args.table.read_text())))
        return
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    started = time.time()
    rng = np.random.default_rng(0)
    rule = error_rates(args.seeds, args.alpha, [1.0, 0.5, 0.0, -0.5, -1.0, -2.0, -3.0], args.draws, rng)
    for r in rule:
        print(f"rule: delta {r['delta_sigma']:+.1f} sigma: P(stopped) {r['p_stopped']:.3f}, "
              f"mean seeds {r['mean_seeds']:.2f}", flush=True)
    budgets = sorted({round(args.fraction * args.budget), args.budget})
    searches: List[Dict] = []

    def write() -> None:  # after each noise level, so a long run interrupted keeps what it measured
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({
            "command": "python benchmarks/adaptive_seeds.py " + " ".join(sys.argv[1:]),
            "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
            "budgets": budgets, "rule": rule, "searches": searches,
            "machine": {"python": platform.python_version(), "optuna": optuna.__version__, "cpus": os.cpu_count(),
                        "load_average": os.getloadavg()}, "wall_s": round(time.time() - started, 1)}, indent=2) + "\n")

    for noise in args.noise:
        per: Dict[str, Dict[int, List[Dict]]] = {p: {b: [] for b in budgets} for p in POLICIES}
        for repeat in range(args.repeats):
            for policy in POLICIES:
                with tempfile.TemporaryDirectory() as tmp:
                    trials = run_policy(Searches(Path(tmp), args.launcher, noise, repeat), policy, args.budget,
                                        args.seeds, args.alpha)
                for b in budgets:
                    per[policy][b].append(outcome(trials, b, args.tolerance))
            print(f"noise {noise}: repeat {repeat + 1}/{args.repeats} ({time.time() - started:.0f} s)", flush=True)
        for policy in POLICIES:
            for b in budgets:
                s = summarize(per[policy][b])
                searches.append({"noise": noise, "policy": policy, "budget": b, **s})
                print(f"noise {noise} {policy:>9} budget {b:>3}: jobs {s['jobs']:.1f} trials {s['trials']:.1f} "
                      f"regret {s['regret_tried']:.5f} ± {s['regret_tried_se']:.5f} "
                      f"(optimum {s['regret_optimum']:.5f}) P(within {args.tolerance}) {s['within_tolerance']:.2f}",
                      flush=True)
        write()
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
