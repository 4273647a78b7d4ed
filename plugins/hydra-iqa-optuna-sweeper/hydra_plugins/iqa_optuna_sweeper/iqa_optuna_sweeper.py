"""Config schema of `hydra/sweeper=iqa_optuna`, its sampler and pruner groups, and the Sweeper
Hydra finds by scanning hydra_plugins.

The keys of hydra-optuna-sweeper keep their meaning and defaults there; the keys after
`custom_search_space` are extras, off by default. This module stays light (Hydra imports it on
every start); the search itself lives in `_impl`. Keys are documented in the plugin's README.
"""
# No `from __future__ import annotations` here: Hydra executes this module before registering it
# in sys.modules, and dataclasses then cannot resolve string annotations.

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from hydra.core.config_store import ConfigStore
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import MISSING, DictConfig

# Optuna's samplers and pruners with their constructor options, so `hydra.sweeper.sampler.seed=0`
# needs no `+`. Options left None take Optuna's own default.
SAMPLERS: Dict[str, Dict[str, Any]] = {
    "tpe": {"_target_": "optuna.samplers.TPESampler", "seed": None, "consider_prior": None,
            "prior_weight": None, "consider_magic_clip": None, "consider_endpoints": None,
            "n_startup_trials": 10, "n_ei_candidates": 24, "multivariate": False,
            "warn_independent_sampling": None},
    "random": {"_target_": "optuna.samplers.RandomSampler", "seed": None},
    "cmaes": {"_target_": "optuna.samplers.CmaEsSampler", "seed": None, "x0": None, "sigma0": None,
              "independent_sampler": None, "warn_independent_sampling": True, "consider_pruned_trials": False,
              "restart_strategy": None, "inc_popsize": 2, "use_separable_cma": False, "source_trials": None},
    "nsgaii": {"_target_": "optuna.samplers.NSGAIISampler", "seed": None, "population_size": 50,
               "mutation_prob": None, "crossover_prob": 0.9, "swapping_prob": 0.5, "constraints_func": None},
    "gp": {"_target_": "optuna.samplers.GPSampler", "seed": None, "independent_sampler": None,
           "n_startup_trials": 10, "deterministic_objective": False, "constraints_func": None,
           "warn_independent_sampling": True},
    "qmc": {"_target_": "optuna.samplers.QMCSampler", "seed": None, "qmc_type": "sobol", "scramble": False,
            "independent_sampler": None, "warn_asynchronous_seeding": True, "warn_independent_sampling": True},
    # The search space is known only when the sweep starts: the sweeper completes this partial.
    "grid": {"_target_": "optuna.samplers.GridSampler", "_partial_": True, "seed": None},
    "motpe": {"_target_": "hydra_plugins.iqa_optuna_sweeper.iqa_optuna_sweeper.motpe_removed"},
}
PRUNERS: Dict[str, Dict[str, Any]] = {
    "nop": {"_target_": "optuna.pruners.NopPruner"},
    "median": {"_target_": "optuna.pruners.MedianPruner", "n_startup_trials": 5, "n_warmup_steps": 0,
               "interval_steps": 1, "n_min_trials": 1},
    "percentile": {"_target_": "optuna.pruners.PercentilePruner", "percentile": 25.0, "n_startup_trials": 5,
                   "n_warmup_steps": 0, "interval_steps": 1, "n_min_trials": 1},
    "hyperband": {"_target_": "optuna.pruners.HyperbandPruner", "min_resource": 1, "max_resource": "auto",
                  "reduction_factor": 3},
    "successive_halving": {"_target_": "optuna.pruners.SuccessiveHalvingPruner", "min_resource": "auto",
                           "reduction_factor": 4, "min_early_stopping_rate": 0},
    "threshold": {"_target_": "optuna.pruners.ThresholdPruner", "lower": None, "upper": None,
                  "n_warmup_steps": 0, "interval_steps": 1},
}


def motpe_removed(**_: Any) -> None:
    """Optuna 4 dropped MOTPESampler: its TPESampler handles several objectives."""
    raise ValueError("The 'motpe' sampler was removed in Optuna 4.0: use hydra/sweeper/sampler=tpe, "
                     "whose TPESampler handles several objectives")


@dataclass
class IQAOptunaSweeperConf:
    _target_: str = "hydra_plugins.iqa_optuna_sweeper.iqa_optuna_sweeper.IQAOptunaSweeper"
    defaults: List[Any] = field(default_factory=lambda: [{"sampler": "tpe"}, {"pruner": "nop"}])
    # The keys of hydra-optuna-sweeper, same meaning and defaults.
    sampler: Any = MISSING
    direction: Any = "minimize"  # or a list of directions: multi-objective
    storage: Optional[Any] = None  # None: in memory; a URL or a `_target_` storage node
    study_name: Optional[str] = None
    n_trials: int = 20  # trials this sweep runs
    n_jobs: int = 2  # trials in flight at once
    max_failure_rate: float = 0.0
    search_space: Optional[Dict[str, Any]] = None  # deprecated there: use params
    params: Optional[Dict[str, Any]] = None
    custom_search_space: Optional[str] = None
    # Extras, off unless set.
    name_from_search: bool = False  # no study_name: name the study after a hash of the search
    total_trials: Optional[int] = None  # stop once the study holds this many trials (all workers)
    seeds: Optional[List[int]] = None  # run each trial once per seed, tell the mean
    seed_key: str = "seed"
    std_penalty: float = 0.0
    adaptive_seeds: bool = False  # race each trial's seeds against the incumbent (`_racing`)
    min_seeds: int = 1  # with adaptive_seeds: the seeds every trial runs before it can be stopped
    race_alpha: float = 0.05  # with adaptive_seeds: one-sided level of each stop-or-go test
    confirm_seeds: List[int] = field(default_factory=list)  # re-run the best configuration on these
    confirm_metrics: List[str] = field(default_factory=list)  # read from metrics_file of each confirm run
    confirm_baseline: List[str] = field(default_factory=list)  # overrides of a configuration run on confirm_seeds too
    objective_name: Optional[str] = None  # what the jobs return, as the study inspector and page name it
    test_objectives: Optional[str] = None  # regex: an objective_name it matches is measured on a test set
    metrics_file: Optional[str] = None
    reason_file: Optional[str] = None  # JSON {error, message} a job writes when it ends without a value
    pruner: Any = MISSING  # a `_target_` pruner node: hydra/sweeper/pruner=median, ... (nop: none)
    steps_per_seed: Optional[int] = None  # intermediate steps of one seed's job, for pruning multi-seed trials
    heartbeat_interval: Optional[int] = 60
    grace_period: Optional[int] = None
    max_retry: Optional[int] = 3
    metric_names: Optional[List[str]] = None  # the objectives' names; for a job returning a dict, the ones optimized
    enqueue_trials: List[Dict[str, Any]] = field(default_factory=list)  # parameter sets tried first
    timeout: Optional[float] = None  # seconds for the whole sweep: no new trial after it
    inspect_command: Optional[str] = None  # the study inspector named at the end (default: this plugin's)


store = ConfigStore.instance()
store.store(group="hydra/sweeper", name="iqa_optuna", node=IQAOptunaSweeperConf, provider="iqa_optuna_sweeper")
for _name, _node in SAMPLERS.items():
    store.store(group="hydra/sweeper/sampler", name=_name, node=_node, provider="iqa_optuna_sweeper")
for _name, _node in PRUNERS.items():
    store.store(group="hydra/sweeper/pruner", name=_name, node=_node, provider="iqa_optuna_sweeper")


class IQAOptunaSweeper(Sweeper):
    """Asks Optuna for trials and keeps every launcher slot busy with their jobs."""

    def __init__(self, **conf: Any) -> None:
        from hydra_plugins.iqa_optuna_sweeper._impl import OptunaSweep

        self.impl = OptunaSweep(conf)

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.impl.setup(hydra_context=hydra_context, task_function=task_function, config=config)

    def sweep(self, arguments: List[str]) -> None:
        self.impl.sweep(arguments)
