"""Confirm runs: the study's winner re-run on seeds the search never used, beside a baseline
configuration on the same seeds with the paired difference and its 95% t interval; on by default
in this project's `iqa_study`, off in the bare plugin; never the default baseline of a sweep table."""
import re
import statistics
import shutil
import subprocess
import sys

import optuna
import pytest
import yaml
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf
from scipy import stats

from helpers import CONF, ROOT, TINY, run_py, run_sweep
from iqa.atomic import write_json
from iqa.config import metric_keys
from iqa.evaluation.metrics import selected_on_test
from iqa.report.summary import summarize

APP = ROOT / "tests" / "sweeper_app" / "noise_app.py"
ONE_EPOCH = [o for o in TINY if not o.startswith("data.n_refs=")] + [
    "data.n_refs=3", "trainer.epochs=1", "loader.test_patch_num=1"]
pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")


def sweep(tmp_path, *overrides, name="s", check=True):
    return run_sweep(APP, tmp_path, f"hydra.sweeper.storage=sqlite:///{tmp_path}/o.db", "hydra.sweeper.study_name=s",
                     "hydra.sweeper.direction=maximize", "hydra.sweeper.n_jobs=1", *overrides, name=name, check=check)


CONFIRM = ["noise_sd=1", "slope=0.1", "x=interval(0, 1)", "hydra.sweeper.seeds=[0,1,2]", "hydra.sweeper.total_trials=3",
           "hydra.sweeper.confirm_seeds=[3,4,5]", 'hydra.sweeper.confirm_baseline=["x=0.5"]',
           "hydra.sweeper.metrics_file=metrics.json", "hydra.sweeper.confirm_metrics=[test]"]


@pytest.fixture(scope="module")
def confirmed(tmp_path_factory):
    """One confirmed study (folder `s`, store `o.db`) that the tests below read or copy."""
    folder = tmp_path_factory.mktemp("confirmed")
    return folder, sweep(folder, *CONFIRM)


@pytest.mark.slow
def test_the_baseline_runs_on_the_confirm_seeds_and_the_difference_has_its_t_interval(confirmed, tmp_path):
    shared, proc = confirmed
    shutil.copytree(shared, tmp_path, dirs_exist_ok=True)
    results = OmegaConf.to_container(OmegaConf.load(tmp_path / "s" / "optimization_results.yaml"))
    confirm, baseline = results["confirm"], results["confirm"]["baseline"]
    for seed in (3, 4, 5):
        folder = tmp_path / "s" / "confirm_baseline" / f"seed_{seed}"
        overrides = yaml.safe_load((folder / ".hydra" / "overrides.yaml").read_text())
        assert {"x=0.5", "slope=0.1", f"seed={seed}"} <= set(overrides)
        metrics = yaml.safe_load((folder / "metrics.json").read_text())
        assert baseline["values"][seed] == pytest.approx(metrics["value"])
    winner = [confirm["values"][s] for s in (3, 4, 5)]
    base = [baseline["values"][s] for s in (3, 4, 5)]
    diffs = [w - b for w, b in zip(winner, base)]
    ci = stats.ttest_rel(winner, base).confidence_interval(0.95)
    assert baseline["difference"] == pytest.approx({"n_paired": 3, "mean": statistics.fmean(diffs),
                                                    "std": statistics.stdev(diffs), "ci_low": ci.low,
                                                    "ci_high": ci.high})
    tests = {stage: [yaml.safe_load((tmp_path / "s" / stage / f"seed_{s}" / "metrics.json").read_text())["test"]
                     for s in (3, 4, 5)] for stage in ("confirm", "confirm_baseline")}
    ci = stats.ttest_rel(tests["confirm"], tests["confirm_baseline"]).confidence_interval(0.95)
    assert baseline["metric_differences"]["test"] == pytest.approx({
        "n_paired": 3, "mean": statistics.fmean(tests["confirm"]) - statistics.fmean(tests["confirm_baseline"]),
        "std": statistics.stdev([w - b for w, b in zip(*tests.values())]), "ci_low": ci.low, "ci_high": ci.high})
    study = optuna.load_study(study_name="s", storage=f"sqlite:///{tmp_path}/o.db")
    stored = study.user_attrs["confirm"]
    assert stored["baseline"]["difference"] == pytest.approx(baseline["difference"])
    assert stored["values"] == {str(s): pytest.approx(v) for s, v in confirm["values"].items()}
    # The headline: confirm mean ± std beside the search value of the winner, then the difference.
    best = study.best_trial
    first, second = results["headline"][:2]
    assert first.startswith(f"Headline (trial {best.number}): {confirm['mean']:.4f} ± {confirm['std']:.4f} on "
                            "fresh seeds [3, 4, 5]; search value "
                            f"{best.user_attrs['mean']:.4f} ± {best.user_attrs['std']:.4f} on seeds [0, 1, 2]")
    assert second.strip().startswith("vs baseline x=0.5 (") and f"{baseline['difference']['mean']:+.4f}" in second
    assert first in proc.stdout + proc.stderr
    page = tmp_path / "study.html"
    shown = subprocess.run([sys.executable, "-m", "hydra_plugins.iqa_optuna_sweeper", "--storage",
                            f"sqlite:///{tmp_path}/o.db", "--no-plots", "--html", str(page)],
                           capture_output=True, text=True, timeout=120)
    assert first in shown.stdout and second in shown.stdout
    assert first in page.read_text() and second.strip() in page.read_text()


@pytest.mark.slow
def test_a_rerun_that_finds_no_better_trial_reuses_the_confirm_record(confirmed, tmp_path):
    shutil.copytree(confirmed[0], tmp_path, dirs_exist_ok=True)
    again = sweep(tmp_path, *CONFIRM, name="again")
    assert "was confirmed on seeds [3, 4, 5] already" in again.stdout + again.stderr
    assert not (tmp_path / "again" / "confirm").exists()
    first, second = (OmegaConf.load(tmp_path / n / "optimization_results.yaml") for n in ("s", "again"))
    assert second.confirm.mean == first.confirm.mean and second.headline == first.headline


@pytest.mark.parametrize("overrides, line", [
    (['hydra.sweeper.confirm_baseline=["x=0.5"]'],
     "hydra.sweeper.confirm_baseline needs confirm_seeds: the baseline runs on the confirm seeds"),
    (["hydra.sweeper.confirm_seeds=[3]", 'hydra.sweeper.confirm_baseline=["x=choice(0, 1)"]'],
     "hydra.sweeper.confirm_baseline: 'x=choice(0, 1)' is not a plain override key=value"),
    (["hydra.sweeper.confirm_seeds=[3]", 'hydra.sweeper.confirm_baseline=["~x"]'],
     "hydra.sweeper.confirm_baseline: '~x' is not a plain override key=value"),
    (["hydra.sweeper.confirm_seeds=[3]", 'hydra.sweeper.confirm_baseline=["seed=7"]'],
     "hydra.sweeper.confirm_baseline sets seed, which the sweeper sets on each job: the baseline runs on "
     "confirm_seeds"),
])
def test_a_baseline_that_is_not_one_configuration_stops_before_any_trial(tmp_path, overrides, line):
    proc = sweep(tmp_path, *overrides, check=False)
    assert proc.returncode == 1 and proc.stderr.strip().splitlines()[-1] == f"error: {line}"
    assert not (tmp_path / "s").exists() or not list((tmp_path / "s").glob("trial_*"))


def test_iqa_study_confirms_on_three_fresh_seeds_and_names_its_objective():
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        study = compose("config", overrides=["hydra/sweeper=iqa_study", "objective=test_srcc"],
                        return_hydra_config=True).hydra.sweeper
        bare = compose("config", overrides=["hydra/sweeper=iqa_optuna"], return_hydra_config=True).hydra.sweeper
    assert len(study.confirm_seeds) == 3 and not set(study.confirm_seeds) & set(study.seeds)
    assert study.objective_name == "test_srcc"
    for name in metric_keys(["spaq", "val_set"], has_val=True):
        assert bool(re.search(study.test_objectives, name)) == selected_on_test(name), name
    assert list(bare.confirm_seeds) == [] and list(bare.confirm_baseline) == [] and bare.objective_name is None


def write_run(folder, overrides, seed, val, test):
    (folder / ".hydra").mkdir(parents=True)
    (folder / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump([*overrides, f"seed={seed}"]))
    write_json(folder / "metrics.json", {"best_epoch": 2, "seed": seed, "objective": "val_srcc", "monitor": "val_srcc",
                                         "selected_on_test": False, "val_srcc": val, "test_srcc": test})


def test_the_confirm_rows_are_never_the_default_baseline_of_the_table(tmp_path):
    """The confirm runs of the winner rank first on validation here, but they ran on seeds no other
    row has: the best search row is the baseline, and the other trial is compared with it."""
    for number, alpha, level in ((0, "0.7", 0.70), (1, "0.2", 0.65)):
        for seed in (42, 43, 44):
            write_run(tmp_path / f"trial_{number}" / f"seed_{seed}", [f"loss.alpha={alpha}"], seed,
                      level + 0.001 * (seed - 42), level - 0.02 + 0.002 * (seed % 2))
    for seed in (45, 46, 47):
        write_run(tmp_path / "confirm" / f"seed_{seed}", ["loss.alpha=0.7"], seed, 0.75, 0.71)
        write_run(tmp_path / "confirm_baseline" / f"seed_{seed}", ["loss.alpha=0.0"], seed, 0.60, 0.58)
    rows = {(r["loss.alpha"], r["stage"]): r for r in summarize(tmp_path).rows}
    assert set(rows) == {("0.7", ""), ("0.2", ""), ("0.7", "confirm"), ("0.0", "confirm_baseline")}
    assert rows[("0.7", "")]["vs_baseline"] == "baseline"
    assert rows[("0.2", "")]["vs_baseline_n_paired"] == 3 and "run-to-run noise" in rows[("0.2", "")]["vs_baseline"]
    assert rows[("0.7", "confirm")]["vs_baseline"] != "baseline"


@pytest.mark.slow
def test_an_iqa_study_sweep_confirms_its_winner_by_default(tmp_path, cache_dir):
    proc = run_py(["-m", *ONE_EPOCH, "data.cross=[]", "hydra/sweeper=iqa_study", "hydra.sweeper.study_name=s",
                   f"hydra.sweeper.storage=sqlite:///{tmp_path}/optuna.db", "hydra.sweeper.seeds=[42]",
                   "hydra.sweeper.n_trials=1", "loss=ranking", "loss.alpha=interval(0, 1)",
                   'hydra.sweeper.confirm_baseline=["loss.alpha=0.0"]', f"hydra.sweep.dir={tmp_path}/s"],
                  tmp_path, cache_dir)
    confirm = optuna.load_study(study_name="s", storage=f"sqlite:///{tmp_path}/optuna.db").user_attrs["confirm"]
    assert confirm["seeds"] == [45, 46, 47] and len(confirm["values"]) == 3
    assert confirm["baseline"]["difference"]["n_paired"] == 3
    assert set(confirm["baseline"]["metric_differences"]) == {"test_srcc", "test_plcc", "test_krcc"}
    assert "on fresh seeds [45, 46, 47]; search value" in proc.stdout + proc.stderr
    table = (tmp_path / "s" / "summary.md").read_text()
    search_row = next(line for line in table.splitlines() if line.startswith("| loss.alpha=") and "stage=" not in line)
    assert search_row.rstrip().endswith("| baseline |")
