"""Parallel launchers give the same numbers as the basic launcher, job for job.

Real multiruns in subprocesses: Hydra's basic launcher (every job in one process), joblib (jobs
in reused worker processes) and submitit_local (one fresh process per job, the stand-in for
Slurm here). The log format is extended with the process id to see which process ran a job.
The Optuna sweeper hands the seeds of a trial to these launchers as one batch.
"""
import csv
import json
import re
import statistics

import optuna
import pytest
from hydra import compose, initialize_config_dir

from helpers import TINY, run_py
from iqa.config import register_configs
from helpers import CONF

# The same CPU thread count everywhere: float sums, and so the last digits, depend on it.
SMALL_JOB = [*TINY, "trainer.epochs=1", "runtime.cpu_threads=1", "data.cross=[]"]
ONE_EPOCH = [*SMALL_JOB, "hydra.job_logging.formatters.simple.format='%(process)d %(message)s'"]
VOLATILE = {"wall_s", "epoch_s", "peak_memory_mb"}  # measurements, not results


def _job(folder):
    """What a job produced, minus timings: its metrics, its history and the pid that ran it."""
    metrics = {k: v for k, v in json.loads((folder / "metrics.json").read_text()).items() if k not in VOLATILE}
    history = [{k: v for k, v in row.items() if k not in VOLATILE} for row in csv.DictReader((folder / "history.csv").open())]
    log = (folder / "run.log").read_text()
    pids = set(re.findall(r"^(\d+) ", log, flags=re.M))
    assert len(pids) == 1, log
    finals = re.findall(r"run folder: (\S+)", log)
    assert finals == [str(folder)], f"{folder}/run.log holds lines of other jobs: {finals}"
    return metrics, history, pids.pop()


def _multirun(tmp_path, cache_dir, name, seeds, *launcher):
    sweep = tmp_path / name
    run_py(["-m", *ONE_EPOCH, f"hydra.sweep.dir={sweep}", f"seed={seeds}", *launcher], tmp_path, cache_dir)
    return [_job(d) for d in sorted((p for p in sweep.iterdir() if p.name.isdigit()), key=lambda p: int(p.name))]


@pytest.fixture(scope="module")
def basic_jobs(tmp_path_factory, cache_dir):
    """Seeds 42 and 43 under the basic launcher: both jobs in one process, one after the other."""
    return _multirun(tmp_path_factory.mktemp("basic"), cache_dir, "sweep", "42,43")


@pytest.mark.slow
def test_basic_launcher_reuses_its_process(basic_jobs):
    (m42, _, pid_a), (m43, _, pid_b) = basic_jobs
    assert pid_a == pid_b
    assert m42["seed"] == 42 and m43["seed"] == 43 and m42["test_srcc"] != m43["test_srcc"]


@pytest.mark.slow
def test_joblib_jobs_in_reused_workers_match_the_basic_launcher(basic_jobs, tmp_path, cache_dir):
    # Three jobs on two workers: the third runs in a worker that already ran a job.
    jobs = _multirun(tmp_path, cache_dir, "joblib", "42,43,42", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2")
    pids = [pid for _, _, pid in jobs]
    assert len(set(pids)) == 2 and basic_jobs[0][2] not in pids
    assert jobs[0][:2] == basic_jobs[0][:2]
    assert jobs[1][:2] == basic_jobs[1][:2]
    assert jobs[2][:2] == basic_jobs[0][:2]


@pytest.mark.slow
def test_submitit_local_matches_the_basic_launcher(basic_jobs, tmp_path, cache_dir):
    (job,) = _multirun(tmp_path, cache_dir, "submitit", "43", "hydra/launcher=submitit_local",
                       "hydra.launcher.timeout_min=10")
    assert job[:2] == basic_jobs[1][:2]
    assert job[2] != basic_jobs[1][2]


def test_slurm_preset_composes_onto_submitit():
    register_configs()
    with initialize_config_dir(str(CONF), version_base="1.3"):
        cfg = compose("config", overrides=["hydra/launcher=slurm", "hydra.launcher.partition=gpu",
                                           "hydra.launcher.array_parallelism=4"], return_hydra_config=True)
    launcher = cfg.hydra.launcher
    assert launcher._target_ == "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"
    assert (launcher.partition, launcher.gpus_per_node, launcher.tasks_per_node) == ("gpu", 1, 1)
    assert (launcher.timeout_min, launcher.array_parallelism) == (240, 4)


@pytest.mark.slow
@pytest.mark.parametrize("launcher", [["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"],
                                      ["hydra/launcher=submitit_local", "hydra.launcher.timeout_min=10"]],
                         ids=["joblib", "submitit_local"])
def test_optuna_sweeper_hands_the_seeds_of_a_trial_to_the_launcher_at_once(launcher, tmp_path, cache_dir):
    """Both seeds of the trial go to the launcher in one call, so a parallel launcher runs them at
    once (whether they overlap in time then depends on how fast its workers start, not tested)."""
    storage = f"sqlite:///{tmp_path}/optuna.db"
    pid_log = "hydra.job_logging.formatters.simple.format='%(process)d %(message)s'"
    proc = run_py(["-m", *SMALL_JOB, pid_log, f"hydra.sweep.dir={tmp_path}/sweep", "hydra/sweeper=iqa_study",
                   "hydra.sweeper.study_name=s", f"hydra.sweeper.storage={storage}", "hydra.sweeper.seeds=[42,43]",
                   "hydra.sweeper.n_trials=1", "loss=ranking", "loss.alpha=interval(0, 1)",
                   "hydra.sweeper.confirm_seeds=[]", *launcher],
                  tmp_path, cache_dir)
    launched = re.findall(r"#(\d+) : .*seed=(\d+) \+\+hydra\.job\.env_set\.IQA_OPTUNA_TRIAL=0:", proc.stdout + proc.stderr)
    assert launched == [("0", "42"), ("1", "43")], proc.stdout + proc.stderr
    if "joblib" in launcher[0]:
        assert "is launching 2 jobs" in proc.stdout + proc.stderr
    (trial,) = optuna.load_study(study_name="s", storage=storage).get_trials()
    values, batches, pids = [], [], set()
    for seed, folder in trial.user_attrs["run_dirs"].items():
        values.append(json.loads((tmp_path / folder / "metrics.json").read_text())["objective_value"])
        batches.append((tmp_path / folder / "batches.json").read_bytes())
        pids |= set(re.findall(r"^(\d+) ", (tmp_path / folder / "run.log").read_text(), flags=re.M))
    assert trial.value == pytest.approx(statistics.mean(values))
    assert batches[0] != batches[1], "each job trained with its own seed"  # tiny runs may tie on SRCC
    if "submitit" in launcher[0]:
        assert len(pids) == 2, "submitit runs each job in its own process"
