"""A storage password stays out of every file a sweep writes (`multirun.yaml`, each job's `.hydra/`
files, logs, results), in every form the docs allow: a URL with a password in its user part or its
query, given as the storage or as the `url` of a `_target_` storage node, or a password inside the
node's `engine_kwargs`. The jobs still reach the storage from their own processes (joblib
launcher): run.py's jobs report each epoch to their trial through the environment."""
import subprocess
import sys
from pathlib import Path

import optuna
import pytest

from helpers import ROOT, TINY, run_py_env
from pg_server import PASSWORD

APP = Path(__file__).resolve().parent / "sweeper_app" / "app.py"
pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
NODE = "{_target_: optuna.storages.RDBStorage, url: '%s'%s}"


def _sweep_keeps_secret_out_of_files(tmp_path, storage: str, url: str, secret: str) -> None:
    """Run a sweep with `storage` (the override's value), then look for `secret` in every file and output."""
    proc = subprocess.run([sys.executable, str(APP), "-m", f"hydra.sweep.dir={tmp_path / 'sweep'}",
                           f"hydra.sweeper.storage={storage}", "hydra.sweeper.study_name=s", "hydra.sweeper.n_trials=2",
                           "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "steps=2"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    trials = optuna.load_study(study_name="s", storage=url).trials
    assert [list(t.intermediate_values) for t in trials] == [[0, 1], [0, 1]], "the jobs reached their trials"
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert (tmp_path / "sweep" / "multirun.yaml").is_file()
    assert (tmp_path / "sweep" / "0" / ".hydra" / "hydra.yaml").is_file()
    assert [str(p) for p in files if secret.encode() in p.read_bytes()] == []
    assert secret not in proc.stdout + proc.stderr


@pytest.mark.parametrize("form", ["url", "node url"])
def test_a_password_in_a_sqlite_url_query_is_written_nowhere(tmp_path, form):
    url = f"sqlite:///{tmp_path}/o.db"
    secret = "S3cret-in-the-query"
    given = f"{url}?password={secret}"
    _sweep_keeps_secret_out_of_files(tmp_path, f"'{given}'" if form == "url" else NODE % (given, ""), url, secret)


@pytest.mark.slow
@pytest.mark.parametrize("form", ["node url", "node url query", "node engine_kwargs"])
def test_a_password_in_a_storage_node_is_written_nowhere(postgres_url, tmp_path, form):
    without_password = postgres_url.replace(f":{PASSWORD}@", "@")
    engine_kwargs = f", engine_kwargs: {{connect_args: {{password: '{PASSWORD}'}}}}"
    storage = {"node url": NODE % (postgres_url, ""),
               "node url query": NODE % (f"{without_password}?password={PASSWORD}", ""),
               "node engine_kwargs": NODE % (without_password, engine_kwargs)}[form]
    _sweep_keeps_secret_out_of_files(tmp_path, storage, postgres_url, PASSWORD)


@pytest.mark.slow
def test_run_py_jobs_in_other_processes_reach_a_storage_node_through_the_environment(postgres_url, tmp_path, cache_dir):
    without_password = postgres_url.replace(f":{PASSWORD}@", "@")
    storage = NODE % (without_password, f", engine_kwargs: {{connect_args: {{password: '{PASSWORD}'}}}}")
    args = ["-m", *(o for o in TINY if not o.startswith("data.n_refs=")), "data.n_refs=3", "loader.test_patch_num=1",
            "data.cross=[]", "trainer.epochs=2", "trainer.early_stopping=false", "hydra/sweeper=iqa_study",
            "hydra.sweeper.study_name=s", "hydra.sweeper.seeds=[42]", "hydra.sweeper.n_trials=1", "loss=ranking",
            "loss.alpha=interval(0, 1)", f"hydra.sweeper.storage={storage}", "hydra/launcher=joblib",
            "hydra.launcher.n_jobs=1", f"hydra.sweep.dir={tmp_path / 'sweep'}"]
    proc = subprocess.run([sys.executable, str(ROOT / "run.py"), *args], cwd=tmp_path, env=run_py_env(cache_dir),
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (trial,) = optuna.load_study(study_name="s", storage=postgres_url).trials
    assert trial.state == optuna.trial.TrialState.COMPLETE and list(trial.intermediate_values) == [1, 2]  # epochs 1, 2
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.name == "run.log" for p in files)
    assert [str(p) for p in files if PASSWORD.encode() in p.read_bytes()] == []
    assert PASSWORD not in proc.stdout + proc.stderr
