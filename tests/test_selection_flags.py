"""Which numbers are flagged "selected on test: optimistic": a run whose epoch was chosen on any set
that is also reported as a test (the test split or a cross set), and a sweep row as soon as one of
its runs was; a row whose runs all chose on validation is not flagged."""
import json

import pytest

from iqa.evaluation.metrics import OPTIMISTIC, selected_on_test
from iqa.report.summary import summarize


@pytest.mark.parametrize("monitor,optimistic", [
    ("val_srcc", False), ("val_plcc", False), ("val_plcc_logistic", False),
    ("test_srcc", True), ("test_rmse_logistic", True),
    ("cross_koniq_srcc", True), ("cross_val_srcc", True),  # a cross set named "val" is still a test set
])
def test_a_monitor_is_optimistic_unless_it_reads_the_validation_part(monitor, optimistic):
    assert selected_on_test(monitor) is optimistic


def write_run(folder, overrides, metrics):
    (folder / ".hydra").mkdir(parents=True)
    (folder / ".hydra" / "overrides.yaml").write_text("".join(f"- {o}\n" for o in overrides))
    (folder / "metrics.json").write_text(json.dumps(metrics))


def run_metrics(test, monitor=None, flag=None, seed=42):
    metrics = {"best_epoch": 2, "val_srcc": test + 0.02, "test_srcc": test, "cross": {"koniq": {"srcc": test - 0.1}},
               "seed": seed, "split_seed": 0, "objective": "val_srcc"}
    if monitor is not None:
        metrics["monitor"] = monitor
    if flag is not None:
        metrics["selected_on_test"] = flag
    return metrics


def flagged(folder):
    s = summarize(folder)
    table = {line.split(" | ")[0].lstrip("| "): OPTIMISTIC in line for line in s.markdown().splitlines()
             if line.startswith("| ") and "loss.alpha" in line}
    return {r["loss.alpha"]: r["selected_on_test"] for r in s.rows}, table, s


def test_a_row_mixing_runs_selected_on_test_and_on_val_is_flagged(tmp_path):
    job = 0
    for alpha, monitors in {"0.0": ["val_srcc"] * 4, "0.1": ["val_srcc", "test_srcc", "val_srcc", "val_srcc"],
                            "0.3": ["test_srcc"] * 4}.items():
        for seed, monitor in zip((42, 43, 44, 45), monitors):
            write_run(tmp_path / str(job), [f"loss.alpha={alpha}", f"seed={seed}"],
                      run_metrics(0.8 + 0.001 * seed, monitor, monitor.startswith("test_"), seed))
            job += 1
    rows, table, s = flagged(tmp_path)
    assert rows == {"0.0": False, "0.1": True, "0.3": True}
    assert {r["loss.alpha"]: r["monitor"] for r in s.rows} == {"0.0": "val_srcc", "0.1": "test_srcc val_srcc",
                                                                "0.3": "test_srcc"}
    assert sorted(v for v in table.values()) == [False, True, True]


def test_runs_without_the_flag_are_judged_by_their_monitor(tmp_path):
    """Run folders written before metrics.json carried `selected_on_test` (or without a monitor at all:
    those chose on test_srcc, before validation parts existed)."""
    for job, (alpha, monitor) in enumerate([("0.0", "val_srcc"), ("0.1", "cross_koniq_srcc"), ("0.3", None)]):
        write_run(tmp_path / str(job), [f"loss.alpha={alpha}", "seed=42"], run_metrics(0.8 + job / 100, monitor))
    rows, _, _ = flagged(tmp_path)
    assert rows == {"0.0": False, "0.1": True, "0.3": True}
    # A run's own flag wins over its monitor.
    write_run(tmp_path / "3", ["loss.alpha=0.5", "seed=42"], run_metrics(0.7, "val_srcc", flag=True))
    write_run(tmp_path / "4", ["loss.alpha=0.7", "seed=42"], run_metrics(0.7, "test_srcc", flag=False))
    rows, _, _ = flagged(tmp_path)
    assert (rows["0.5"], rows["0.7"]) == (True, False)
