"""Adaptive seeds (`adaptive_seeds: true`): a trial's seeds are raced against the incumbent.

A trial runs its first `min_seeds` seeds, then one more at a time while it can still be the best:
while the upper confidence bound of its value (seed spread pooled over the study's trials,
Student's t at one-sided level `race_alpha`) reaches the incumbent's value, the incumbent being
the best COMPLETE trial measured on every seed. A trial that cannot reach it stops and is told
COMPLETE with the mean over the seeds it ran; with no incumbent yet, a trial runs every seed. This
is the intensification of SMAC (a challenger gets few runs, more only while it may beat the
incumbent, which gets the most) with the per-step statistical test of F-race / irace.

Seeds already measured by the trial a retry replaces (an interrupted or killed worker's trial)
are carried over to the retry and never run again.
"""
from __future__ import annotations

import logging
import math
import statistics
import warnings
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

import optuna
from optuna.exceptions import ExperimentalWarning, UpdateFinishedTrialError
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.trial import FrozenTrial, TrialState
from scipy import stats

from hydra_plugins.iqa_optuna_sweeper._shared_study import FAIL_REASON, ended_meanwhile
from hydra_plugins.iqa_optuna_sweeper.errors import SweepConfigError
from hydra_plugins.iqa_optuna_sweeper.reporting import PRUNED_ATTR

log = logging.getLogger(__name__)
SEEDS_RUN, RACE = "seeds_run", "race"  # user attributes: the seeds a trial ran, in order; why it stopped


def check(conf: Dict[str, Any], directions: List[str]) -> None:
    """Refuse, with one line, settings under which racing has no meaning."""
    if not conf["adaptive_seeds"]:
        return
    seeds = list(conf["seeds"] or [])
    if len(seeds) < 2:
        raise SweepConfigError(f"hydra.sweeper.adaptive_seeds=true needs hydra.sweeper.seeds with at least 2 seeds "
                               f"to race over, got {conf['seeds']!r}")
    if len(directions) != 1:
        raise SweepConfigError("hydra.sweeper.adaptive_seeds=true needs a single direction: racing compares each "
                               "trial with one incumbent, several objectives have a Pareto front instead")
    if not 1 <= conf["min_seeds"] <= len(seeds):
        raise SweepConfigError(f"hydra.sweeper.min_seeds={conf['min_seeds']!r} is out of range: must be in "
                               f"[1, {len(seeds)}] (the number of seeds)")
    if not 0.0 < conf["race_alpha"] < 1.0:
        raise SweepConfigError(f"hydra.sweeper.race_alpha={conf['race_alpha']!r} is out of range: must be in (0, 1)")


def definition(conf: Dict[str, Any]) -> Dict[str, Any]:
    """What racing adds to a search's definition (nothing when off, so earlier study names stay)."""
    if not conf["adaptive_seeds"]:
        return {}
    return {"adaptive_seeds": {"min_seeds": conf["min_seeds"], "race_alpha": conf["race_alpha"]}}


def seed_values(trial: FrozenTrial) -> Dict[str, float]:
    return dict(trial.user_attrs.get("seed_values") or {})


def pooled_spread(trials: Sequence[FrozenTrial]) -> Optional[Tuple[float, int]]:
    """(sigma, degrees of freedom): the within-trial seed standard deviation pooled over every trial
    with at least two seed values; None while there is none."""
    squares, dof = 0.0, 0
    for t in trials:
        xs = [float(v) for v in seed_values(t).values()]
        if len(xs) >= 2:
            mean = statistics.fmean(xs)
            squares += sum((x - mean) ** 2 for x in xs)
            dof += len(xs) - 1
    return (math.sqrt(squares / dof), dof) if dof else None


@dataclass
class Race:
    """The racing rule for one study: `sign` turns values into larger-is-better scores."""

    seeds: List[int]
    min_seeds: int
    alpha: float
    sign: float
    std_penalty: float

    @classmethod
    def of(cls, conf: Dict[str, Any], direction: str) -> "Race":
        return cls(list(conf["seeds"]), conf["min_seeds"], conf["race_alpha"],
                   1.0 if direction == "maximize" else -1.0, conf["std_penalty"])

    def score(self, values: Sequence[float]) -> float:
        """The value Optuna is told (mean, std penalty over the seeds run), larger is better."""
        std = statistics.stdev(values) if len(values) > 1 else 0.0
        return self.sign * statistics.fmean(values) - self.std_penalty * std

    def incumbent(self, trials: Sequence[FrozenTrial]) -> Optional[FrozenTrial]:
        """The best COMPLETE trial measured on every seed."""
        full = [t for t in trials if t.state == TrialState.COMPLETE and len(seed_values(t)) == len(self.seeds)]
        return max(full, key=lambda t: self.sign * t.value, default=None)

    def verdict(self, values: Sequence[float], trials: Sequence[FrozenTrial]) -> Optional[str]:
        """None while the trial may still be the best (it gets its next seed); else why it stops."""
        best = self.incumbent(trials)
        spread = pooled_spread(trials)
        if best is None or spread is None:
            return None
        sigma, dof = spread
        n, k = len(values), len(self.seeds)
        bound = self.score(values) + stats.t.ppf(1.0 - self.alpha, dof) * sigma * math.sqrt(1.0 / n + 1.0 / k)
        if bound >= self.sign * best.value:
            return None
        return (f"cannot beat the incumbent: after {n} of {k} seeds its bound {self.sign * bound:.6g} is "
                f"{'below' if self.sign > 0 else 'above'} trial {best.number}'s value {best.value:.6g} "
                f"(seed spread {sigma:.3g}, {dof} df)")

    def next_seeds(self, values: Sequence[float], trials: Sequence[FrozenTrial]) -> Tuple[List[int], Optional[str]]:
        """The seeds to run next (none: the trial is done) and, for a trial stopped early, why."""
        n = len(values)
        if n < self.min_seeds:
            return self.seeds[n:self.min_seeds], None
        if n == len(self.seeds):
            return [], None
        why = self.verdict(values, trials)
        return ([], why) if why else ([self.seeds[n]], None)


@dataclass
class Racer:
    """One trial in a race: the values and run folders of the seeds it has."""

    trial: optuna.Trial
    values: Dict[str, float] = field(default_factory=dict)
    dirs: Dict[str, str] = field(default_factory=dict)
    stopped: Optional[str] = None

    def ordered(self, seeds: List[int]) -> List[float]:
        return [self.values[str(s)] for s in seeds if str(s) in self.values]

    def record(self, seeds: List[int]) -> None:
        """Store what the trial has, so a retry after an interruption continues from here."""
        self.trial.set_user_attr("seed_values", dict(self.values))
        self.trial.set_user_attr("run_dirs", dict(self.dirs))
        self.trial.set_user_attr(SEEDS_RUN, [s for s in seeds if str(s) in self.values])


def _carried(study: optuna.Study, trial: optuna.Trial, racer: Racer) -> None:
    """The seed values of the trials this one retries (an interrupted or killed worker's)."""
    frozen = study._storage.get_trial(trial._trial_id)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)
        history = RetryHeartbeatStaleTrialCallback.retry_history(frozen)
    trials = study.get_trials(deepcopy=False)
    for number in history:
        racer.values.update(seed_values(trials[number]))
        racer.dirs.update(trials[number].user_attrs.get("run_dirs") or {})


def run(sweep, study: optuna.Study, trials: List[optuna.Trial]) -> None:
    """Race `trials` (a batch of the basic launcher, or one trial of an asynchronous slot): each
    rung launches the next seeds of every trial still in the race in one call of the launcher."""
    race = Race.of(sweep.conf, sweep.directions[0])
    racers = []
    for trial in trials:
        racer = Racer(trial)
        _carried(study, trial, racer)
        racer.record(race.seeds)
        racers.append(racer)
    active = list(racers)
    while active:
        snapshot = study.get_trials(deepcopy=False)
        rung: List[Tuple[Racer, List[int]]] = []
        for racer in active:
            seeds, racer.stopped = race.next_seeds(racer.ordered(race.seeds), snapshot)
            if seeds:
                rung.append((racer, seeds))
            else:
                _finish(sweep, study, race, racer, None)
        if not rung:
            return
        jobs = []
        for racer, seeds in rung:
            every = sweep._jobs(study, racer.trial, racer.trial.params, race.seeds,
                                f"trial_{racer.trial.number}/seed_{{seed}}")
            jobs += [every[race.seeds.index(s)] for s in seeds]
        returns = iter(sweep._launch(jobs))
        active = []
        for racer, seeds in rung:
            failure = _collect(sweep, racer, seeds, [next(returns) for _ in seeds])
            racer.record(race.seeds)
            if failure is not None:
                _finish(sweep, study, race, racer, failure)
            else:
                active.append(racer)


def _collect(sweep, racer: Racer, seeds: List[int], returns) -> Optional[Tuple[str, str, BaseException]]:
    """Add the rung's values and run folders to the racer; the first failure (seed, reason, error)."""
    from hydra_plugins.iqa_optuna_sweeper._impl import _job_value  # _impl imports this module

    failure = None
    for seed, ret in zip(seeds, returns):
        if ret.hydra_cfg is not None:
            racer.dirs[str(seed)] = str(ret.hydra_cfg.hydra.runtime.output_dir)
        try:
            racer.values[str(seed)] = _job_value(ret, 1, sweep.conf["metric_names"])[0][0]
        except Exception as e:  # the job raised, or returned no usable value
            failure = failure or (str(seed), sweep._reason(ret, e), e)
    return failure


def _finish(sweep, study: optuna.Study, race: Race, racer: Racer, failure) -> None:
    """Tell Optuna: PRUNED (a seed was pruned), FAIL (a seed failed) or COMPLETE with the seeds run."""
    trial = racer.trial
    pruned_by = study._storage.get_trial(trial._trial_id).user_attrs.get(PRUNED_ATTR)
    values = racer.ordered(race.seeds)
    if pruned_by or (failure and isinstance(failure[2], optuna.TrialPruned)):
        state, result, detail = TrialState.PRUNED, None, pruned_by or str(failure[2])
    elif failure:
        reason = f"seed {failure[0]}: {failure[1]}"
        trial.set_user_attr(FAIL_REASON, reason)
        state, result, detail = TrialState.FAIL, None, reason
    else:
        race_note = racer.stopped or f"ran all {len(race.seeds)} seeds"
        trial.set_user_attr(RACE, race_note)
        state, result = TrialState.COMPLETE, sweep._value(trial, [[v] for v in values])
        detail = f"value {result} over {len(values)} of {len(race.seeds)} seeds" + (
            f" ({racer.stopped})" if racer.stopped else "")
    with sweep.lock:
        try:
            sweep._record(study, trial, state, result, detail)
        except UpdateFinishedTrialError:  # this worker stalled past the grace period, or was interrupted
            log.warning("%s", ended_meanwhile(study, trial))
