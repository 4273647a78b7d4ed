"""This project's sweeps: a sweeper that would minimize a correlation stops before the first job;
iqa_study names its study readably, names the objective and points at `python -m iqa.study`."""
import re

import optuna
import pytest

from helpers import TINY, run_py


def test_the_bare_sweeper_minimizing_a_correlation_stops_in_one_line(tmp_path):
    proc = run_py(["-m", *TINY, "hydra/sweeper=iqa_optuna", "loss.alpha=interval(0, 1)", "hydra.sweeper.n_trials=1",
                   f"hydra.sweep.dir={tmp_path / 'sweep'}"], tmp_path, tmp_path / "cache", check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        "error: hydra.sweeper.direction=minimize would search for the lowest objective=val_srcc, a correlation "
        "(higher is better): use hydra/sweeper=iqa_study (this project's settings) or add "
        "hydra.sweeper.direction=maximize"]
    assert not (tmp_path / "sweep").exists() and not (tmp_path / "cache").exists(), "a job ran"


@pytest.mark.slow
def test_iqa_study_names_the_study_and_its_objective_and_the_inspector(tmp_path):
    storage = f"sqlite:///{tmp_path}/optuna.db"
    proc = run_py(["-m", *TINY, "trainer.epochs=1", "hydra/sweeper=iqa_study", "loss.alpha=interval(0, 1)",
                   "hydra.sweeper.n_trials=1", "hydra.sweeper.seeds=[42]", "objective=val_plcc",
                   f"hydra.sweeper.storage={storage}", f"hydra.sweep.dir={tmp_path / 'sweep'}"],
                  tmp_path, tmp_path / "cache")
    [name] = optuna.get_all_study_names(storage)
    assert re.fullmatch(r"loss\.alpha-[0-9a-f]{8}", name), name
    assert optuna.load_study(study_name=name, storage=storage).metric_names == ["val_plcc"]
    assert f"inspect: python -m iqa.study --storage {storage} --study {name}" in proc.stdout + proc.stderr
    assert not list(tmp_path.glob("*.lock"))
