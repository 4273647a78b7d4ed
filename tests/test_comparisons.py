"""Sweep tables over (split, seed) replicates: spread, the baseline, CIs, Holm, replicates needed,
and rows selected on test. Run folders are written here with known numbers, so every statistic can
be checked against its textbook formula."""
import csv
import json
import math
import subprocess
import sys

import numpy as np
import pytest
from scipy import stats

from helpers import ROOT
from iqa.report.summary import summarize

CONFIGS = {"loss.alpha=0.0": 0.80, "loss.alpha=0.1": 0.81, "loss.alpha=0.3": 0.79}
REPLICATES = [(s, seed) for s in (0, 1, 2) for seed in (42, 43)]


def write_run(folder, overrides, metrics):
    (folder / ".hydra").mkdir(parents=True)
    (folder / ".hydra" / "overrides.yaml").write_text("".join(f"- {o}\n" for o in overrides))
    (folder / "metrics.json").write_text(json.dumps(metrics))


@pytest.fixture
def sweep(tmp_path):
    """3 configurations x 3 split seeds x 2 seeds; test SRCC = level + split effect + noise."""
    rng = np.random.default_rng(0)
    values = {}
    job = 0
    for config, level in CONFIGS.items():
        for split_seed, seed in REPLICATES:
            test = level + 0.01 * split_seed + rng.normal(0, 0.004)
            val = test + 0.02 + rng.normal(0, 0.001)
            values[(config, split_seed, seed)] = test
            monitor = "test_srcc" if config == "loss.alpha=0.3" else "val_srcc"
            write_run(tmp_path / str(job), [config, f"seed={seed}", f"data.split_seed={split_seed}"],
                      {"best_epoch": 2, "val_srcc": val, "test_srcc": test, "cross": {}, "seed": seed,
                       "split_seed": split_seed, "objective": "val_srcc", "monitor": monitor,
                       "selected_on_test": monitor.startswith("test_")})
            job += 1
    return tmp_path, values


def diffs(values, a, b):
    """Paired differences averaged over seeds within each split seed: with several splits the split
    is the unit of the comparison (these runs record no sizes, so no overlap correction)."""
    d = {r: values[(a, *r)] - values[(b, *r)] for r in REPLICATES}
    return np.array([np.mean([v for (split, _), v in d.items() if split == s]) for s in (0, 1, 2)])


def test_split_seed_and_seed_are_replicates_of_one_row(sweep):
    folder, values = sweep
    rows = {r["loss.alpha"]: r for r in summarize(folder).rows}
    assert set(rows) == {"0.0", "0.1", "0.3"}
    for config in CONFIGS:
        row = rows[config.split("=")[1]]
        v = [values[(config, *r)] for r in REPLICATES]
        assert row["n"] == 6 and row["seeds"] == "42 43" and row["split_seeds"] == "0 1 2"
        assert row["test_srcc_mean"] == pytest.approx(np.mean(v))
        assert row["test_srcc_std"] == pytest.approx(np.std(v, ddof=1))
        assert (row["test_srcc_median"], row["test_srcc_min"], row["test_srcc_max"]) == pytest.approx(
            (np.median(v), min(v), max(v)))


def test_rows_compare_with_the_best_or_a_named_baseline(sweep):
    folder, values = sweep
    s = summarize(folder)
    assert s.metric == "test_srcc"  # ranked on the validation objective, compared on test
    assert [r["loss.alpha"] for r in s.rows][0] == "0.1" and s.rows[0]["vs_baseline"] == "baseline"
    s = summarize(folder, baseline="loss.alpha=0.0")
    rows = {r["loss.alpha"]: r for r in s.rows}
    assert rows["0.0"]["vs_baseline"] == "baseline" and "vs_baseline_delta" not in rows["0.0"]
    raw = {}
    for alpha in ("0.1", "0.3"):
        d = diffs(values, f"loss.alpha={alpha}", "loss.alpha=0.0")
        row = rows[alpha]
        half = stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / math.sqrt(len(d))
        assert row["vs_baseline_n_paired"] == 3 and row["vs_baseline_n_runs_paired"] == 6 and row["vs_baseline_delta"] == pytest.approx(d.mean())
        ci = (row["vs_baseline_ci_low"], row["vs_baseline_ci_high"])
        assert ci == pytest.approx((d.mean() - half, d.mean() + half))
        tstat = d.mean() / (d.std(ddof=1) / math.sqrt(len(d)))
        raw[alpha] = 2 * stats.t.sf(abs(tstat), len(d) - 1)
        assert row["vs_baseline_p_ttest"] == pytest.approx(raw[alpha])
    # Holm: the smaller p times 2, the larger p times 1 but never below the first (both capped at 1).
    low, high = sorted(raw, key=raw.get)
    assert rows[low]["vs_baseline_p_holm"] == pytest.approx(min(1, 2 * raw[low]))
    assert rows[high]["vs_baseline_p_holm"] == pytest.approx(min(1, max(2 * raw[low], raw[high])))
    assert "Holm p=" in rows["0.1"]["vs_baseline"]


def test_replicates_needed_reach_80_percent_power(sweep):
    folder, values = sweep
    row = next(r for r in summarize(folder, baseline="loss.alpha=0.0", detect_delta=0.002).rows
               if r["loss.alpha"] == "0.1")
    sd = diffs(values, "loss.alpha=0.1", "loss.alpha=0.0").std(ddof=1)

    def power(n):  # two-sided paired t-test, noncentral t
        crit = stats.t.ppf(0.975, n - 1)
        nc = 0.002 / sd * math.sqrt(n)
        return stats.nct.sf(crit, n - 1, nc) + stats.nct.cdf(-crit, n - 1, nc)
    n = int(row["n_needed"])
    assert power(n) >= 0.8 > power(n - 1)


def test_rows_selected_on_test_are_flagged(sweep):
    folder, _ = sweep
    s = summarize(folder)
    flagged = {r["loss.alpha"]: r["selected_on_test"] for r in s.rows}
    assert flagged == {"0.0": False, "0.1": False, "0.3": True}
    lines = [line for line in s.markdown().splitlines() if line.startswith("| loss.alpha")]
    assert [("selected on test: optimistic" in line) for line in lines] == [False, False, True]


def test_aggregate_takes_a_baseline_and_refuses_an_unknown_one(sweep):
    folder, _ = sweep
    proc = subprocess.run([sys.executable, "-m", "iqa.aggregate", str(folder), "--quiet", "--baseline",
                           "loss.alpha=0.3", "--detect-delta", "0.01"], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    rows = {r["loss.alpha"]: r for r in csv.DictReader((folder / "summary.csv").open())}
    assert rows["0.3"]["vs_baseline"] == "baseline" and rows["0.0"]["vs_baseline_delta"] != ""
    assert "n for Δ=0.01" in (folder / "summary.md").read_text()
    bad = subprocess.run([sys.executable, "-m", "iqa.aggregate", str(folder), "--baseline", "loss.alpha=0.5"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1
    assert bad.stderr.strip().splitlines()[-1].startswith("error: baseline 'loss.alpha=0.5' matches 0 configurations")


def test_confirm_runs_of_the_optuna_sweeper_are_a_row_of_their_own(sweep):
    """The best trial re-run on unused seeds (<sweep>/confirm/seed_N) is the number to publish: it is
    not pooled with the search's runs of the same configuration."""
    folder, values = sweep
    for seed, test in ((7, 0.70), (8, 0.72)):
        write_run(folder / "confirm" / f"seed_{seed}", ["loss.alpha=0.1", f"seed={seed}"],
                  {"best_epoch": 2, "val_srcc": test + 0.02, "test_srcc": test, "cross": {}, "seed": seed,
                   "objective": "val_srcc", "monitor": "val_srcc", "selected_on_test": False})
    rows = {(r["loss.alpha"], r["stage"]): r for r in summarize(folder).rows}
    assert rows[("0.1", "")]["n"] == 6
    confirm = rows[("0.1", "confirm")]
    assert confirm["n"] == 2 and confirm["seeds"] == "7 8" and confirm["test_srcc_mean"] == pytest.approx(0.71)
