"""The multi-seed Optuna search behind `hydra/sweeper=iqa_optuna`.

Ask a batch of `n_jobs` trials, launch each trial once per seed through Hydra's configured
launcher (one batch, so a parallel launcher runs them together), tell Optuna the mean over seeds
(minus `std_penalty` x std), repeat until the study holds `n_trials` trials. Several sweep
processes may share one study: each asks only under the study's lock, counting every worker's
trials against `n_trials`, and keeps its trials' heartbeats while their jobs run, so the trials of
a worker that died are failed and retried by the others (iqa/shared_study.py).
"""
from __future__ import annotations

import hashlib
import json
import logging
import math
import statistics
import sys
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence

import optuna
from hydra.core.plugins import Plugins
from hydra.core.utils import JobReturn
from omegaconf import OmegaConf
from optuna.distributions import distribution_to_json
from optuna.exceptions import ExperimentalWarning, UpdateFinishedTrialError
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.trial import TrialState

from iqa import search_space
from iqa.atomic import replace_with
from iqa.errors import ConfigError, IQAError, SweepError
from iqa.optuna_setup import build_pruner, build_sampler, keep_password_out_of_configs, masked, open_storage
from iqa.shared_study import (FAIL_REASON, WORKER, counted, exclusive, fail_and_retry, fail_stale_trials,
                              heartbeats, worker_id)
from iqa.report.runs import load_run, override_key

log = logging.getLogger("iqa")
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
WAIT_POLL_S = 5  # how often a worker with nothing left to ask looks at the other workers' trials


@dataclass
class JobOutcome:
    seed: int
    status: str  # done, failed, pruned
    value: float
    run_dir: str
    reason: str = ""


def job_outcome(seed: int, ret: JobReturn) -> JobOutcome:
    """What one seed's job gave: its objective, or why it has none (from its run folder)."""
    run_dir = str(ret.hydra_cfg.hydra.runtime.output_dir) if ret.hydra_cfg is not None else ""
    try:
        value = float(ret.return_value)
    except Exception as e:  # the job raised (a bug, not a user error): Hydra re-raises it here
        return JobOutcome(seed, "failed", math.nan, run_dir, f"{type(e).__name__}: {e}")
    if not math.isnan(value):
        return JobOutcome(seed, "done", value, run_dir)
    run = load_run(Path(run_dir))
    status = run.status if run.status in ("failed", "pruned") else "failed"
    return JobOutcome(seed, status, math.nan, run_dir, run.reason or "the objective is NaN")


class OptunaSweep:
    def __init__(self, conf: Dict[str, Any]) -> None:
        self.conf = OmegaConf.create({k: v for k, v in conf.items() if k != "_target_"})
        self.job_idx = 0

    def setup(self, *, hydra_context, task_function, config) -> None:
        keep_password_out_of_configs(config)
        self.config = config
        self.launcher = Plugins.instance().instantiate_launcher(
            config=config, hydra_context=hydra_context, task_function=task_function)
        self.sweep_dir = Path(config.hydra.sweep.dir)

    def sweep(self, arguments: List[str]) -> None:
        """Run the search; a user error or an exhausted failure budget ends it with one line, exit 1."""
        try:
            with warnings.catch_warnings():
                # Optuna's heartbeats and retries serve here outside Study.optimize, as intended.
                warnings.filterwarnings("ignore", message="Heartbeat of storage")
                warnings.filterwarnings("ignore", category=ExperimentalWarning)
                self._sweep(list(arguments))
        except IQAError as e:
            log.error("%s: %s", type(e).__name__, e)
            print(f"error: {e}", file=sys.stderr)
            sys.exit(1)

    def _check(self) -> List[int]:
        c = self.conf
        seeds = [int(s) for s in c.seeds]
        checks = [
            (len(seeds) >= 1 and len(set(seeds)) == len(seeds) and min(seeds) >= 0, "seeds",
             "a non-empty list of distinct seeds >= 0", list(c.seeds)),
            (c.n_trials >= 1, "n_trials", ">= 1", c.n_trials),
            (c.n_jobs >= 1, "n_jobs", ">= 1", c.n_jobs),
            (0.0 <= c.max_failure_rate <= 1.0, "max_failure_rate", "in [0, 1]", c.max_failure_rate),
            (c.std_penalty >= 0.0, "std_penalty", ">= 0", c.std_penalty),
            (c.direction in ("maximize", "minimize"), "direction", "maximize or minimize", c.direction),
            ((c.heartbeat_interval or 0) >= 0, "heartbeat_interval", ">= 0 seconds (0: no heartbeats)",
             c.heartbeat_interval),
            (c.grace_period is None or c.grace_period > (c.heartbeat_interval or 0), "grace_period",
             "longer than heartbeat_interval", c.grace_period),
            (c.max_retry is None or c.max_retry >= 0, "max_retry", ">= 0", c.max_retry),
        ]
        for ok, key, allowed, value in checks:
            if not ok:
                raise ConfigError(f"hydra.sweeper.{key}={value!r} is out of range: must be {allowed}")
        return seeds

    def _study_name(self, space, fixed, seeds) -> str:
        """Given, or derived from what defines the search, so the same command resumes the same study."""
        if self.conf.study_name:
            return str(self.conf.study_name)
        definition = {"space": {k: distribution_to_json(d) for k, d in sorted(space.items())},
                      "fixed": dict(sorted(fixed.items())), "seeds": seeds, "direction": self.conf.direction,
                      "std_penalty": self.conf.std_penalty, "objective": self.config.objective}
        digest = hashlib.sha1(json.dumps(definition, sort_keys=True).encode()).hexdigest()[:8]
        return f"{self.config.objective}-{digest}"

    def _sweep(self, arguments: List[str]) -> None:
        seeds = self._check()
        space, fixed = search_space.parse(search_space.from_params(
            OmegaConf.to_container(self.conf.params, resolve=True) if self.conf.params else {}) + arguments)
        for key in [*space, *fixed]:
            if override_key(key) == "seed" or override_key(key).startswith("trial."):
                raise ConfigError(f"{key} is set on each job by the sweeper: list seeds in hydra.sweeper.seeds")
        if not space:
            raise ConfigError("nothing to search: give hydra.sweeper.params, e.g. loss.alpha: interval(0, 1)")
        sampler_node = OmegaConf.to_container(self.conf.sampler, resolve=True)
        grid = ({k: search_space.grid_choices(k, d) for k, d in space.items()}
                if sampler_node.get("name") == "grid" else None)
        interval = int(self.conf.heartbeat_interval or 0)
        storage = open_storage(self.conf.storage, interval or None,
                               (self.conf.grace_period or 3 * interval) if interval else None)
        name = self._study_name(space, fixed, seeds)
        with exclusive(storage, name):  # two workers creating one study at once would clash
            study = optuna.create_study(storage=storage, study_name=name, sampler=build_sampler(sampler_node, grid),
                                        pruner=build_pruner(OmegaConf.to_container(self.conf.pruner, resolve=True)),
                                        direction=self.conf.direction, load_if_exists=True)
        if study.direction.name.lower() != self.conf.direction:
            raise ConfigError(f"study {name} already exists with direction {study.direction.name.lower()}")
        self.sweep_dir.mkdir(parents=True, exist_ok=True)
        replace_with(self.sweep_dir / "multirun.yaml", lambda tmp: OmegaConf.save(self.config, tmp))
        for key, value in {"seeds": seeds, "objective": self.config.objective, "std_penalty": self.conf.std_penalty,
                           "sweep_dir": str(self.sweep_dir.resolve())}.items():
            study.set_user_attr(key, value)
        grid_size = math.prod(len(v) for v in grid.values()) if grid else None
        log.info("study %s in %s: %d of n_trials=%d finished; seeds %s; worker %s", name, masked(storage.url),
                 len(self._finished(study)), self.conf.n_trials, seeds, worker_id())
        self._work(study, storage, space, fixed, seeds, grid_size, interval)
        self._report(study, storage.url)

    def _work(self, study: optuna.Study, storage, space, fixed: Dict[str, str], seeds: List[int],
              grid_size: Optional[int], interval: int) -> None:
        """Ask and run batches until the study holds n_trials trials (every worker's counted) and,
        with heartbeats on, no other worker's trial is still running (it may die and need a retry)."""
        name = study.study_name
        retry = RetryHeartbeatStaleTrialCallback(max_retry=self.conf.max_retry)
        waiting_for_others = False
        while True:
            with exclusive(storage, name):
                fail_stale_trials(study, storage, retry)
                trials = study.get_trials(deepcopy=False)
                batch = []
                for _ in range(self._to_ask(trials, grid_size)):
                    batch.append(study.ask(space))
                    if interval:  # at once: a trial that never had a heartbeat is never seen as stale
                        storage.record_heartbeat(batch[-1]._trial_id)
                    batch[-1].set_user_attr(WORKER, worker_id())
            if batch:
                with heartbeats(storage, [t._trial_id for t in batch], interval), \
                        self._failed_if_stopped(study, storage, batch, retry):
                    self._run_batch(study, batch, fixed, seeds)
                self._check_failures(study)
                continue
            running = [t.number for t in trials if t.state == TrialState.RUNNING]
            if not (running and interval):
                break
            if not waiting_for_others:  # one of them may have died: its trial is then retried here
                log.info("waiting for trials %s of other workers to end", running)
                waiting_for_others = True
            time.sleep(min(interval, WAIT_POLL_S))

    def _to_ask(self, trials: Sequence[optuna.trial.FrozenTrial], grid_size: Optional[int]) -> int:
        """How many trials to ask now: the queued retries, then new ones up to n_trials counted."""
        used = len(counted(trials))
        new = self.conf.n_trials - used if grid_size is None else min(self.conf.n_trials, grid_size) - used
        queued = sum(t.state == TrialState.WAITING for t in trials)
        return max(0, min(self.conf.n_jobs, queued + new))

    @contextmanager
    def _failed_if_stopped(self, study: optuna.Study, storage, batch: List[optuna.Trial],
                           retry: RetryHeartbeatStaleTrialCallback) -> Iterator[None]:
        """Interrupted (Ctrl-C) or broken mid-batch: fail the batch's unfinished trials and queue their retries."""
        try:
            yield
        except BaseException as e:
            for trial in batch:
                if fail_and_retry(study, storage, trial._trial_id,
                                  f"worker {worker_id()} stopped: {type(e).__name__}", retry):
                    log.warning("trial %d FAIL: worker stopped (%s)", trial.number, type(e).__name__)
            raise

    @staticmethod
    def _finished(study: optuna.Study) -> List[optuna.trial.FrozenTrial]:
        return [t for t in counted(study.get_trials(deepcopy=False)) if t.state in FINISHED]

    def _run_batch(self, study: optuna.Study, trials: List[optuna.Trial], fixed: Dict[str, str],
                   seeds: List[int]) -> None:
        jobs = []
        for trial in trials:
            params = [search_space.as_override(k, v) for k, v in trial.params.items()]
            for index, seed in enumerate(seeds):
                jobs.append([*(f"{k}={v}" for k, v in fixed.items()), *params, f"seed={seed}",
                             f"trial.study={study.study_name}", f"trial.number={trial.number}",
                             f"trial.seed_index={index}", f"hydra.sweep.subdir=trial_{trial.number}/seed_{seed}"])
        returns = self.launcher.launch(jobs, initial_job_idx=self.job_idx)
        self.job_idx += len(returns)
        for k, trial in enumerate(trials):
            outcomes = [job_outcome(seed, ret) for seed, ret in zip(seeds, returns[k * len(seeds):(k + 1) * len(seeds)])]
            try:
                self._tell(study, trial, outcomes)
            except UpdateFinishedTrialError:  # this worker stalled past the grace period
                log.warning("trial %d was failed meanwhile for a stale heartbeat (and retried): its result "
                            "is not recorded", trial.number)

    def _tell(self, study: optuna.Study, trial: optuna.Trial, outcomes: List[JobOutcome]) -> None:
        trial.set_user_attr("run_dirs", {str(o.seed): o.run_dir for o in outcomes})
        values = {str(o.seed): o.value for o in outcomes if o.status == "done"}
        trial.set_user_attr("seed_values", values)
        failed = [o for o in outcomes if o.status == "failed"]
        pruned = [o for o in outcomes if o.status == "pruned"]
        if failed:
            trial.set_user_attr(FAIL_REASON, f"seed {failed[0].seed}: {failed[0].reason}")
            state, value = TrialState.FAIL, None
        elif pruned:
            state, value = TrialState.PRUNED, None
        else:
            mean = statistics.fmean(values.values())
            std = statistics.stdev(values.values()) if len(values) > 1 else 0.0
            trial.set_user_attr("mean", mean)
            trial.set_user_attr("std", std)
            sign = -1.0 if self.conf.direction == "maximize" else 1.0
            state, value = TrialState.COMPLETE, mean + sign * self.conf.std_penalty * std
        try:
            study.tell(trial, value, state=state)
        except RuntimeError as e:  # the grid sampler calls study.stop() once the grid is done
            if "Study.stop" not in str(e):
                raise
        detail = {TrialState.COMPLETE: lambda: f"{self.config.objective} {trial.user_attrs['mean']:.4f} ± "
                                                f"{trial.user_attrs['std']:.4f} -> value {value:.4f}",
                  TrialState.FAIL: lambda: trial.user_attrs[FAIL_REASON],
                  TrialState.PRUNED: lambda: pruned[0].reason}[state]()
        log.info("trial %d %s: %s | %s", trial.number, state.name, detail,
                 " ".join(search_space.as_override(k, v) for k, v in trial.params.items()))

    def _check_failures(self, study: optuna.Study) -> None:
        failed = [t for t in counted(study.get_trials(deepcopy=False)) if t.state == TrialState.FAIL]
        budget = math.floor(self.conf.max_failure_rate * self.conf.n_trials)
        if len(failed) > budget:
            from iqa.report.summary import summarize

            print(summarize(self.sweep_dir).write(), flush=True)
            raise SweepError(f"{len(failed)} trials failed, more than max_failure_rate={self.conf.max_failure_rate} "
                             f"x n_trials={self.conf.n_trials} allows; last: trial {failed[-1].number}, "
                             f"{failed[-1].user_attrs.get(FAIL_REASON, 'no reason recorded')}")

    def _report(self, study: optuna.Study, url: str) -> None:
        trials = study.get_trials(deepcopy=False)
        kept = counted(trials)
        counts = {s.name: sum(t.state == s for t in kept) for s in FINISHED}
        log.info("study %s: %s%s", study.study_name, ", ".join(f"{n} {s}" for s, n in counts.items()),
                 f" (and {len(trials) - len(kept)} FAIL retried)" if len(kept) < len(trials) else "")
        if counts["COMPLETE"]:
            best = study.best_trial
            log.info("best trial %d: value %.4f (%s %.4f ± %.4f over seeds) | %s", best.number, best.value,
                     self.config.objective, best.user_attrs["mean"], best.user_attrs["std"],
                     " ".join(search_space.as_override(k, v) for k, v in best.params.items()))
            for seed, folder in best.user_attrs["run_dirs"].items():
                log.info("  seed %s: %s", seed, folder)
        log.info("inspect: python -m iqa.study --storage %s --study %s", masked(url), study.study_name)
