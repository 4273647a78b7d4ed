"""The search behind `hydra/sweeper=iqa_optuna`.

Ask Optuna for a trial, launch its job (or one job per seed) through Hydra's configured launcher,
tell Optuna the value (the mean over seeds, minus `std_penalty` x std), until this sweep has run
`n_trials` trials (or the study holds `total_trials`). With a parallel launcher `n_jobs` trials are
in flight at once, each launched on its own as soon as another ends, so no slot waits for the
slowest job of a batch; Hydra's basic launcher runs one job at a time, so there the trials are
asked `n_jobs` at a time, as hydra-optuna-sweeper does. Several sweep processes may share one
study on a database: each asks only under the study's lock and keeps its trials' heartbeats while
their jobs run, so the trials of a worker that died are failed and retried (`_shared_study`).
"""
from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import queue
import statistics
import sys
import threading
import time
import warnings
from contextlib import ExitStack, contextmanager, nullcontext
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence

import optuna
from hydra.core.plugins import Plugins
from hydra.core.utils import JobReturn
from hydra.utils import get_method, instantiate
from omegaconf import DictConfig, OmegaConf
from optuna.distributions import BaseDistribution, distribution_to_json
from optuna.exceptions import ExperimentalWarning, UpdateFinishedTrialError
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.trial import TrialState

from hydra_plugins.iqa_optuna_sweeper import _racing, _search_space as space_grammar
from hydra_plugins.iqa_optuna_sweeper import _validate as validate
from hydra_plugins.iqa_optuna_sweeper._confirm import ConfirmRuns, check_baseline
from hydra_plugins.iqa_optuna_sweeper._headline import headline, objective_attrs
from hydra_plugins.iqa_optuna_sweeper._naming import existing_name, objective_values, study_name
from hydra_plugins.iqa_optuna_sweeper._shared_study import (FAIL_REASON, WORKER, counted, ended_meanwhile, exclusive,
                                                            fail_and_retry, fail_stale_trials, heartbeats, worker_id)
from hydra_plugins.iqa_optuna_sweeper._storage import keep_password_out_of_configs, masked, open_storage
from hydra_plugins.iqa_optuna_sweeper.errors import SweepConfigError, SweepFailed
from hydra_plugins.iqa_optuna_sweeper.reporting import ENV, PRUNED_ATTR, register_study

log = logging.getLogger(__name__)
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
WAIT_POLL_S = 5  # how often a worker with nothing left to ask looks at the other workers' trials


def _job_value(ret: JobReturn, n_objectives: int, metric_names: Optional[List[str]] = None):
    """The job's objective values and the other metrics of a dict it returned (`objective_values`);
    raises the job's own exception, or ValueError for a bad return."""
    value = ret.return_value  # re-raises what the task function raised
    try:
        values, extras = objective_values(value, metric_names, n_objectives)
    except (TypeError, ValueError) as e:
        if "metric" in str(e):
            raise
        raise ValueError(f"the job returned {value!r}: expected "
                         + ("a number" if n_objectives == 1 else f"{n_objectives} numbers")
                         + " or a dict of metrics") from None
    if len(values) != n_objectives:
        raise ValueError(f"the job returned {len(values)} values for {n_objectives} directions")
    if any(math.isnan(v) for v in values):
        raise ValueError("the job's objective is NaN")
    return values, extras


class OptunaSweep:
    def __init__(self, conf: Dict[str, Any]) -> None:
        self.conf = conf
        self.job_idx = 0
        self.lock = threading.Lock()  # the trials of this process: ask, tell and job numbers

    def setup(self, *, hydra_context, task_function, config: DictConfig) -> None:
        keep_password_out_of_configs(config)
        self.config = config
        self.launcher = Plugins.instance().instantiate_launcher(
            config=config, hydra_context=hydra_context, task_function=task_function)
        self.sweep_dir = Path(str(config.hydra.sweep.dir))
        self.sampler_conf = config.hydra.sweeper.sampler

    # -- the sweep ---------------------------------------------------------------------------
    def sweep(self, arguments: List[str]) -> None:
        """Run the search; a user error or an exhausted failure budget ends it with one line, exit 1."""
        try:
            with warnings.catch_warnings():
                # Optuna's heartbeats and retries serve here outside Study.optimize, as intended.
                warnings.filterwarnings("ignore", message="Heartbeat of storage")
                warnings.filterwarnings("ignore", category=ExperimentalWarning)
                self._sweep(list(arguments))
        except SweepConfigError as e:  # said once, on stderr
            print(f"error: {e}", file=sys.stderr)
            sys.exit(1)

    def _check(self) -> None:
        validate.known_keys(self.conf)
        c = self.conf
        directions = self._directions()
        seeds, confirm = list(c["seeds"] or []), list(c["confirm_seeds"] or [])
        checks = [
            (all(d in ("minimize", "maximize") for d in directions) and directions, "direction",
             "minimize, maximize or a list of them", c["direction"]),
            (c["n_trials"] >= 1, "n_trials", ">= 1", c["n_trials"]),
            (c["n_jobs"] >= 1, "n_jobs", ">= 1", c["n_jobs"]),
            (c["total_trials"] is None or c["total_trials"] >= 1, "total_trials", ">= 1 or null", c["total_trials"]),
            (0.0 <= c["max_failure_rate"] <= 1.0, "max_failure_rate", "in [0, 1]", c["max_failure_rate"]),
            (len(set(seeds)) == len(seeds), "seeds", "a list of distinct seeds, or null", c["seeds"]),
            (c["std_penalty"] >= 0.0, "std_penalty", ">= 0", c["std_penalty"]),
            (len(set(confirm)) == len(confirm) and not set(confirm) & set(seeds), "confirm_seeds",
             "distinct seeds that the search does not use", c["confirm_seeds"]),
            (not confirm or len(directions) == 1, "confirm_seeds", "empty for several directions",
             c["confirm_seeds"]),
            ((c["heartbeat_interval"] or 0) >= 0, "heartbeat_interval", ">= 0 seconds (0: no heartbeats)",
             c["heartbeat_interval"]),
            (c["grace_period"] is None or c["grace_period"] > (c["heartbeat_interval"] or 0), "grace_period",
             "longer than heartbeat_interval", c["grace_period"]),
            (c["max_retry"] is None or c["max_retry"] >= 0, "max_retry", ">= 0", c["max_retry"]),
            (c["timeout"] is None or c["timeout"] > 0, "timeout", "> 0 seconds, or null", c["timeout"]),
            (not c["metric_names"] or len(c["metric_names"]) == len(directions), "metric_names",
             f"one name per direction ({len(directions)})", c["metric_names"]),
        ]
        for ok, key, allowed, value in checks:
            if not ok:
                raise SweepConfigError(f"hydra.sweeper.{key}={value!r} is out of range: must be {allowed}")
        _racing.check(c, directions)

    def _directions(self) -> List[str]:
        d = self.conf["direction"]
        items = list(d) if isinstance(d, (list, tuple)) or OmegaConf.is_list(d) else [d]
        return [getattr(x, "name", str(x)) for x in items]

    def _space(self, arguments: List[str]):
        """Searched distributions, fixed overrides and deletes, from params/search_space and the command line."""
        params, legacy = self.conf["params"], self.conf["search_space"]
        space: Dict[str, BaseDistribution] = {}
        if legacy is not None:
            if params is not None:
                warnings.warn("Both hydra.sweeper.params and hydra.sweeper.search_space are configured: "
                              "hydra.sweeper.params defines the search space")
            else:
                warnings.warn("hydra.sweeper.search_space is deprecated: configure hydra.sweeper.params "
                              "(https://hydra.cc/docs/upgrades/1.1_to_1.2/changes_to_sweeper_config/)")
                space = {str(k): space_grammar.from_config(v) for k, v in legacy.items()}
        given, fixed, deletes = space_grammar.from_overrides(space_grammar.params_overrides(params) + arguments)
        space.update(given)
        for key in fixed:  # a fixed value on the command line takes the key out of the search
            space.pop(key, None)
        if self.conf["seeds"] is not None or self.conf["confirm_seeds"]:
            key = self.conf["seed_key"]
            if key in space or key in fixed:
                raise SweepConfigError(f"{key} is set on each job by the sweeper: list the seeds in hydra.sweeper.seeds")
        return space, fixed, deletes

    def _sampler(self, seed_offset: Optional[int], grid: Optional[Dict[str, list]]):
        """The configured sampler; with `seed_offset`, its seed is replaced by one derived from it."""
        overrides = {}
        seed = self.sampler_conf.get("seed")
        if seed_offset is not None and seed is not None and "QMCSampler" not in str(self.sampler_conf._target_):
            digest = hashlib.sha256(f"{seed}:{seed_offset}".encode()).hexdigest()
            overrides["seed"] = int(digest[:8], 16)
        sampler = instantiate(self.sampler_conf, **overrides)
        return sampler(grid) if grid is not None else sampler

    def _open(self):
        """None (in memory), an RDB storage for a URL (with heartbeats), or the storage object given."""
        storage = self.conf["storage"]
        if storage is None or not isinstance(storage, str):
            return storage
        interval = int(self.conf["heartbeat_interval"] or 0)
        return open_storage(storage, interval or None, (self.conf["grace_period"] or 3 * interval) if interval else None)

    @contextmanager
    def _exclusive(self, storage, name: str) -> Iterator[None]:
        """This process's lock, and the study's lock shared by every worker on a database."""
        with self.lock, (exclusive(storage, name) if isinstance(storage, optuna.storages.RDBStorage)
                         else nullcontext()):
            yield

    def _sweep(self, arguments: List[str]) -> None:
        self._check()
        check_baseline(self.conf)
        self.space, self.fixed, self.deletes = self._space(arguments)
        self._check_enqueued()
        self.extend = get_method(self.conf["custom_search_space"]) if self.conf["custom_search_space"] else None
        is_grid = "GridSampler" in str(self.sampler_conf.get("_target_"))
        self.grid = {k: space_grammar.grid_choices(k, d) for k, d in self.space.items()} if is_grid else None
        self.n_trials = self.conf["n_trials"]
        if self.grid is not None:
            self.grid_size = math.prod(len(v) for v in self.grid.values())
            self.n_trials = min(self.n_trials, self.grid_size)
            log.info("Updating num of trials to %d due to using GridSampler.", self.n_trials)
        self.storage = self._open()
        validate.storage_reaches_jobs(self.storage, self.conf["pruner"], self.launcher)
        self.directions = self._directions()
        name = self.conf["study_name"]
        if name is None and self.conf["name_from_search"]:  # the same search finds the same study
            definition = self._definition()
            name = existing_name(self.storage, study_name(definition, self.config.hydra.job.get("config_name"),
                                                          self.space), definition)
        with self._exclusive(self.storage, name or ""):  # two workers creating one study at once would clash
            study = optuna.create_study(study_name=name, storage=self.storage, sampler=self._sampler(None, self.grid),
                                        pruner=self.conf["pruner"], directions=self.directions, load_if_exists=True)
            self._same_definition(study)
            self._name_metrics_and_enqueue(study)
            study.set_user_attr("seeds", self.conf["seeds"] and list(self.conf["seeds"]))
            study.set_user_attr("sweep_dir", str(self.sweep_dir.resolve()))
            for key, value in objective_attrs(self.conf).items():
                study.set_user_attr(key, value)
        if [d.name.lower() for d in study.directions] != self.directions:
            raise SweepConfigError(f"study {study.study_name} already exists with direction "
                                   f"{[d.name.lower() for d in study.directions]}, not {self.directions}")
        register_study(study)
        self.url = self.storage.url if isinstance(self.storage, optuna.storages.RDBStorage) else None
        self.sweep_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.sweep_dir / "multirun.yaml.tmp"
        OmegaConf.save(self.config, tmp)
        os.replace(tmp, self.sweep_dir / "multirun.yaml")
        self.stream_at = 0 if not study.get_trials(deepcopy=False) else None  # see _ask
        log.info("Study name: %s", study.study_name)
        log.info("Storage: %s", masked(self.url) if self.url else self.conf["storage"])
        log.info("Sampler: %s", type(study.sampler).__name__)
        log.info("Directions: %s", self.directions)
        log.info("study %s: %d trials finished; n_trials=%d%s; seeds %s; worker %s", study.study_name,
                 len(self._finished(study)), self.n_trials,
                 f", total_trials={self.conf['total_trials']}" if self.conf["total_trials"] else "",
                 self.conf["seeds"], worker_id())
        self.told: List[optuna.trial.FrozenTrial] = []
        self._work(study)
        self._report(study)

    def _name_metrics_and_enqueue(self, study: optuna.Study) -> None:
        """The objectives' names (optuna-dashboard shows them), and `enqueue_trials`, the parameter
        sets tried first (once per study: a re-run does not queue them again)."""
        if self.conf["metric_names"]:
            study.set_metric_names([str(m) for m in self.conf["metric_names"]])
        for params in self.conf["enqueue_trials"] or []:
            study.enqueue_trial(dict(params), skip_if_exists=True)

    def _check_enqueued(self) -> None:
        """Every key of `enqueue_trials` must be searched (before any study is created)."""
        for i, params in enumerate(self.conf["enqueue_trials"] or []):
            unknown = sorted(set(dict(params)) - set(self.space))
            if unknown:
                raise SweepConfigError(f"hydra.sweeper.enqueue_trials[{i}] sets {', '.join(unknown)}, which "
                                       f"{'is' if len(unknown) == 1 else 'are'} not searched "
                                       f"(searched: {', '.join(sorted(self.space)) or 'nothing'})")

    def _definition(self) -> Dict[str, Any]:
        """What makes a search: its space, fixed overrides, deletes and seeds."""
        return {"space": {k: json.loads(distribution_to_json(d)) for k, d in sorted(self.space.items())},
                "fixed": dict(sorted(self.fixed.items())), "deletes": self.deletes,
                "seeds": self.conf["seeds"] and list(self.conf["seeds"]),
                "custom_search_space": self.conf["custom_search_space"], **_racing.definition(self.conf)}

    def _same_definition(self, study: optuna.Study) -> None:
        """A study that exists already must have been searched with the same space, fixed overrides and seeds."""
        definition = self._definition()
        before = study.user_attrs.get("definition")
        if before is None:
            study.set_user_attr("definition", definition)
            return
        differ = []
        for key, here in definition.items():
            there = before.get(key)
            if json.dumps(here, sort_keys=True) == json.dumps(there, sort_keys=True):
                continue
            if isinstance(here, dict) and isinstance(there, dict):
                keys = sorted(k for k in {*here, *there} if here.get(k) != there.get(k))
                differ.append(f"{key} differs in {', '.join(keys)}")
            else:
                differ.append(f"{key} {json.dumps(there)} there, {json.dumps(here)} here")
        if differ:
            what = "; ".join(differ)
            raise SweepConfigError(f"study {study.study_name} exists with another search definition ({what}): "
                                   "give another hydra.sweeper.study_name or the same search")

    # -- asking and running ------------------------------------------------------------------
    def _work(self, study: optuna.Study) -> None:
        """Keep `n_jobs` trials in flight until nothing is left to ask and, on a shared study with
        heartbeats, no other worker's trial is still running (it may die and need a retry)."""
        interval = int(self.conf["heartbeat_interval"] or 0) if self.url else 0
        self.retry = RetryHeartbeatStaleTrialCallback(max_retry=self.conf["max_retry"])
        self.deadline = time.monotonic() + self.conf["timeout"] if self.conf["timeout"] else None
        one_slot = type(self.launcher).__name__ == "BasicLauncher" or self.conf["n_jobs"] == 1
        done: "queue.Queue" = queue.Queue()
        in_flight: Dict[int, optuna.Trial] = {}
        waiting_for_others = False
        while True:
            batch = []
            while len(in_flight) + len(batch) < self.conf["n_jobs"]:
                trial = self._ask(study, interval)
                if trial is None:
                    break
                batch.append(trial)
            if batch and one_slot:  # one job at a time: a batch, as hydra-optuna-sweeper asks them
                self._run_guarded(study, batch, interval)
                continue
            for trial in batch:
                in_flight[trial.number] = trial
                threading.Thread(target=self._run_in_thread, args=(study, trial, interval, done),
                                 name=f"trial-{trial.number}", daemon=True).start()
            if in_flight:
                number, error = self._next_done(done, study, in_flight)
                del in_flight[number]
                if error is not None:
                    raise error
                continue
            running = [t.number for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))]
            if not (running and interval and self.conf["total_trials"]):
                break
            if not waiting_for_others:  # one of them may have died: its trial is then retried here
                log.info("waiting for trials %s of other workers to end", running)
                waiting_for_others = True
            time.sleep(min(interval, WAIT_POLL_S))

    def _next_done(self, done: "queue.Queue", study: optuna.Study, in_flight: Dict[int, optuna.Trial]):
        """The next trial to end; interrupted (Ctrl-C) meanwhile, the trials in flight are failed and retried."""
        try:
            return done.get()
        except BaseException as e:
            self._fail_unfinished(study, list(in_flight.values()), e)
            raise

    def _run_in_thread(self, study, trial, interval, done: "queue.Queue") -> None:
        try:
            self._run_guarded(study, [trial], interval)
            done.put((trial.number, None))
        except BaseException as e:  # reported to the main thread, which stops the sweep
            done.put((trial.number, e))

    def _ask(self, study: optuna.Study, interval: int) -> Optional[optuna.Trial]:
        """The next trial to run (a queued retry first), or None when this sweep has asked enough
        or its `timeout` has passed (trials in flight then still finish)."""
        if self.deadline is not None and time.monotonic() >= self.deadline:
            if self.deadline > 0:
                log.info("timeout of %s s reached: no new trials", self.conf["timeout"])
                self.deadline = 0.0
            return None
        with self._exclusive(self.storage, study.study_name):
            if self.url:
                fail_stale_trials(study, self.storage, self.retry)
            trials = study.get_trials(deepcopy=False)
            asked_here = sum(1 for t in trials if t.user_attrs.get(WORKER) == worker_id())
            queued = any(t.state == TrialState.WAITING for t in trials)
            total = self.conf["total_trials"]
            if total is not None:  # a study total shared by all workers: the retries queued run first
                cap = min(total, self.grid_size) if self.grid is not None else total
                if len(counted(trials)) >= cap and not queued:
                    return None
            if asked_here >= self.n_trials and not (queued and total is not None):
                return None
            # A fixed sampler seed restarted on a study that has trials (a re-run, or another
            # worker's trials) would propose the same parameters again: derive a seed from the count.
            if self.stream_at != len(trials):
                study.sampler = self._sampler(len(trials), self.grid)
            trial = study.ask(self.space)
            self.stream_at = len(study.get_trials(deepcopy=False))
            if interval:  # at once: a trial that never had a heartbeat is never seen as stale
                self.storage.record_heartbeat(trial._trial_id)
            trial.set_user_attr(WORKER, worker_id())
            for key, value in self.fixed.items():
                trial.set_user_attr(key, value)
            if self.extend is not None:
                self.extend(self.config, trial)
                overlap = set(trial.params) & set(self.fixed)
                if overlap:
                    raise SweepConfigError(f"custom_search_space suggests {sorted(overlap)}, which are fixed overrides")
            return trial

    def _run_guarded(self, study: optuna.Study, trials: List[optuna.Trial], interval: int) -> None:
        with ExitStack() as stack:
            if interval:
                stack.enter_context(heartbeats(self.storage, [t._trial_id for t in trials], interval))
            try:
                self._run(study, trials)
            except BaseException as e:
                self._fail_unfinished(study, trials, e)
                raise
        self._check_failures()

    def _fail_unfinished(self, study: optuna.Study, trials: Sequence[optuna.Trial], e: BaseException) -> None:
        """Interrupted (Ctrl-C) or broken mid-trial: fail the unfinished trials and queue their retries."""
        for trial in trials:
            reason = f"worker {worker_id()} stopped: {type(e).__name__}"
            if self.url:
                if fail_and_retry(study, self.storage, trial._trial_id, reason, self.retry):
                    log.warning("trial %d FAIL: worker stopped (%s)", trial.number, type(e).__name__)
            elif study.get_trials(deepcopy=False)[trial.number].state == TrialState.RUNNING:
                trial.set_user_attr(FAIL_REASON, reason)
                study.tell(trial, state=TrialState.FAIL)

    def _jobs(self, study: optuna.Study, trial: optuna.Trial, params: Dict[str, Any], seeds: Optional[List[int]],
              subdir: str) -> List[List[str]]:
        base = [*(f"{k}={v}" for k, v in self.fixed.items()),
                *(space_grammar.as_override(k, v) for k, v in params.items()), *self.deletes]
        if seeds is None:
            return [[*base, *self._identity(study, trial, 0, None)]]
        return [[*base, f"{self.conf['seed_key']}={seed}", *self._identity(study, trial, k, seed),
                 f"hydra.sweep.subdir={subdir.format(seed=seed)}"] for k, seed in enumerate(seeds)]

    @staticmethod
    def _identity(study, trial, seed_index: int, seed: Optional[int]) -> List[str]:
        """Which trial a job serves, for `reporting.current_trial()` in the job."""
        if trial is None:
            return []
        value = f"{trial.number}:{seed_index}:{'' if seed is None else seed}:{study.study_name}"
        return [space_grammar.as_override(f"++hydra.job.env_set.{ENV}", value)]

    def _launch(self, jobs: List[List[str]]) -> Sequence[JobReturn]:
        with self.lock:
            first = self.job_idx
            self.job_idx += len(jobs)
        return self.launcher.launch(jobs, initial_job_idx=first)

    def _run(self, study: optuna.Study, trials: List[optuna.Trial]) -> None:
        if self.conf["adaptive_seeds"]:  # seeds raced against the incumbent: `_racing`
            _racing.run(self, study, trials)
            return
        seeds = list(self.conf["seeds"]) if self.conf["seeds"] is not None else None
        jobs = [job for t in trials for job in self._jobs(study, t, t.params, seeds, f"trial_{t.number}/seed_{{seed}}")]
        returns = self._launch(jobs)
        per_trial = len(seeds) if seeds else 1
        for k, trial in enumerate(trials):
            with self.lock:
                try:
                    self._tell(study, trial, seeds, returns[k * per_trial:(k + 1) * per_trial])
                except UpdateFinishedTrialError:  # stalled past the grace period, or interrupted
                    log.warning("%s", ended_meanwhile(study, trial))

    def _reason(self, ret: JobReturn, error: Exception) -> str:
        """Why a job has no value: its exception, or the message in its `reason_file`."""
        if self.conf["reason_file"] and ret.hydra_cfg is not None:
            path = Path(str(ret.hydra_cfg.hydra.runtime.output_dir)) / self.conf["reason_file"]
            try:
                record = json.loads(path.read_text())
                return f"{record.get('error', 'error')}: {record.get('message', '')}"
            except (OSError, ValueError):
                pass
        return f"{type(error).__name__}: {error}"

    def _tell(self, study: optuna.Study, trial: optuna.Trial, seeds: Optional[List[int]],
              returns: Sequence[JobReturn]) -> None:
        labels = [str(s) for s in seeds] if seeds else ["job"]
        values, extras, failure = {}, {}, None
        for label, ret in zip(labels, returns):
            try:
                values[label], extras[label] = _job_value(ret, len(self.directions), self.conf["metric_names"])
            except Exception as e:  # the job raised, or returned no usable value
                failure = failure or (label, self._reason(ret, e), e)
        self._store_metrics(trial, extras, seeds)
        dirs = {label: str(ret.hydra_cfg.hydra.runtime.output_dir) for label, ret in zip(labels, returns)
                if ret.hydra_cfg is not None}
        if seeds:
            trial.set_user_attr("run_dirs", dirs)
            trial.set_user_attr("seed_values", {k: v[0] if len(v) == 1 else v for k, v in values.items()})
        elif dirs:
            trial.set_user_attr("run_dir", dirs["job"])
        pruned_by = study._storage.get_trial(trial._trial_id).user_attrs.get(PRUNED_ATTR)
        if pruned_by or (failure and isinstance(failure[2], optuna.TrialPruned)):
            state, result = TrialState.PRUNED, None
            detail = pruned_by or str(failure[2])
        elif failure:
            label, reason, _ = failure
            reason = f"seed {label}: {reason}" if seeds else reason
            trial.set_user_attr(FAIL_REASON, reason)
            state, result, detail = TrialState.FAIL, None, reason
        else:
            state, result = TrialState.COMPLETE, self._value(trial, list(values.values()))
            detail = f"value {result}"
        self._record(study, trial, state, result, detail)

    def _record(self, study: optuna.Study, trial: optuna.Trial, state: TrialState, result, detail: str) -> None:
        """Tell Optuna how the trial ended, keep it for the results and log it (the caller holds the lock)."""
        try:
            study.tell(trial, result, state=state)
        except RuntimeError as e:  # the grid sampler calls study.stop() once the grid is done
            if "Study.stop" not in str(e):
                raise
        self.told.append(study._storage.get_trial(trial._trial_id))
        log_fn = log.warning if state == TrialState.FAIL else log.info
        log_fn("trial %d %s: %s | %s", trial.number, state.name, detail,
               " ".join(space_grammar.as_override(k, v) for k, v in trial.params.items()))

    @staticmethod
    def _store_metrics(trial: optuna.Trial, extras: Dict[str, Dict[str, float]], seeds) -> None:
        """The metrics a job returned beside its objectives, as user attributes: each one's mean
        over seeds (and, with seeds, each seed's dict)."""
        if not any(extras.values()):
            return
        names = list(dict.fromkeys(k for per in extras.values() for k in per))
        for name in names:
            xs = [per[name] for per in extras.values() if name in per]
            trial.set_user_attr(name, statistics.fmean(xs))
        if seeds:
            trial.set_user_attr("seed_metrics", extras)

    def _value(self, trial: optuna.Trial, per_seed: List[List[float]]):
        """The value told to Optuna: each objective's mean over seeds, with the std penalty."""
        result = []
        for i, direction in enumerate(self.directions):
            xs = [v[i] for v in per_seed]
            mean = statistics.fmean(xs)
            std = statistics.stdev(xs) if len(xs) > 1 else 0.0
            if len(per_seed) > 1 or self.conf["seeds"]:
                trial.set_user_attr("mean" if i == 0 else f"mean_{i}", mean)
                trial.set_user_attr("std" if i == 0 else f"std_{i}", std)
            sign = -1.0 if direction == "maximize" else 1.0
            result.append(mean + sign * self.conf["std_penalty"] * std)
        return result[0] if len(result) == 1 else result

    def _check_failures(self) -> None:
        """More FAIL trials in this sweep than max_failure_rate x n_trials: stop with the last reason."""
        with self.lock:
            failed = [t for t in self.told if t.state == TrialState.FAIL]
        budget = math.floor(self.conf["max_failure_rate"] * self.n_trials)
        if len(failed) > budget:
            raise SweepFailed(f"{len(failed)} trials failed, more than max_failure_rate={self.conf['max_failure_rate']} "
                              f"x n_trials={self.n_trials} allows; last: trial {failed[-1].number}, "
                              f"{failed[-1].user_attrs.get(FAIL_REASON, 'no reason recorded')}")

    @staticmethod
    def _finished(study: optuna.Study) -> List[optuna.trial.FrozenTrial]:
        return [t for t in counted(study.get_trials(deepcopy=False)) if t.state in FINISHED]

    # -- results -----------------------------------------------------------------------------
    def _report(self, study: optuna.Study) -> None:
        trials = study.get_trials(deepcopy=False)
        kept = counted(trials)
        counts = {s.name: sum(t.state == s for t in kept) for s in FINISHED}
        log.info("study %s: %s%s", study.study_name, ", ".join(f"{n} {s}" for s, n in counts.items()),
                 f" (and {len(trials) - len(kept)} FAIL retried)" if len(kept) < len(trials) else "")
        if not counts["COMPLETE"]:
            log.warning("no COMPLETE trial: no optimization_results.yaml")
            return
        if len(self.directions) == 1:
            best = study.best_trial
            results: Dict[str, Any] = {"name": "optuna", "best_params": best.params, "best_value": best.value}
            log.info("Best parameters: %s", best.params)
            log.info("Best value: %s", best.value)
            if self.conf["confirm_seeds"]:
                results["confirm"] = self._confirm(study, best)
                results["headline"] = headline(best, results["confirm"], bool(study.user_attrs.get("selected_on_test")))
        else:
            results = {"name": "optuna", "solutions": [{"params": t.params, "values": t.values} for t in study.best_trials]}
            log.info("Number of Pareto solutions: %d", len(study.best_trials))
            for t in study.best_trials:
                log.info("    Values: %s, Params: %s", t.values, t.params)
        OmegaConf.save(OmegaConf.create(results), self.sweep_dir / "optimization_results.yaml")
        if self.url:
            log.info("inspect: %s --storage %s --study %s",
                     self.conf["inspect_command"] or "python -m hydra_plugins.iqa_optuna_sweeper",
                     masked(self.url), study.study_name)

    def _confirm(self, study: optuna.Study, best: optuna.trial.FrozenTrial) -> Dict[str, Any]:
        """The best configuration (and `confirm_baseline`) re-run on `confirm_seeds` (`_confirm`)."""
        return ConfirmRuns(self).run(study, best)
