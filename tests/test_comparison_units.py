"""What a comparison's unit is (seeds on one split, splits over several), Nadeau and Bengio's
correction for re-splits, and the verdict text, checked against their textbook formulas on run
folders written with known numbers."""
import json
import math

import numpy as np
import pytest
from scipy import stats

from iqa.report.summary import paired_test, replicates_needed, summarize, verdict

A, B = "loss.alpha=0.3", "loss.alpha=0.0"


def write_sweep(folder, values, sizes=True, plcc=None):
    """values: {(config, split_seed, seed): test_srcc}."""
    for job, ((config, split_seed, seed), test) in enumerate(values.items()):
        run = folder / str(job)
        (run / ".hydra").mkdir(parents=True)
        (run / ".hydra" / "overrides.yaml").write_text(f"- {config}\n- seed={seed}\n- data.split_seed={split_seed}\n")
        metrics = {"best_epoch": 1, "val_srcc": 0.9 if config == B else 0.8, "test_srcc": test,
                   "test_plcc": test if plcc is None else plcc(job), "cross": {}, "seed": seed,
                   "split_seed": split_seed, "objective": "val_srcc", "monitor": "val_srcc", "selected_on_test": False}
        if sizes:
            metrics.update(n_train=700, n_val=100, n_test=200)
        (run / "metrics.json").write_text(json.dumps(metrics))


def sweep_values(splits, seeds, rng):
    return {(c, s, k): 0.8 + (0.004 if c == A else 0) + 0.01 * s + rng.normal(0, 0.003)
            for c in (A, B) for s in range(splits) for k in range(seeds)}


def compared(folder, **kw):
    return next(r for r in summarize(folder, **kw).rows if r["vs_baseline"] != "baseline")


def test_one_split_keeps_seeds_as_the_paired_replicates(tmp_path):
    values = sweep_values(1, 4, np.random.default_rng(0))
    write_sweep(tmp_path, values)
    row = compared(tmp_path)
    d = np.array([values[(A, 0, k)] - values[(B, 0, k)] for k in range(4)])
    result = stats.ttest_rel([values[(A, 0, k)] for k in range(4)], [values[(B, 0, k)] for k in range(4)])
    assert row["vs_baseline_unit"] == "seed" and row["vs_baseline_n_paired"] == 4
    assert row["vs_baseline_p_ttest"] == pytest.approx(result.pvalue) and row["vs_baseline_delta"] == pytest.approx(d.mean())
    assert "Unit of every comparison: seeds paired within one split" in summarize(tmp_path).markdown()


def test_several_re_splits_test_split_means_with_the_nadeau_bengio_variance(tmp_path):
    values = sweep_values(5, 3, np.random.default_rng(1))
    write_sweep(tmp_path, values)
    row = compared(tmp_path)
    means = np.array([np.mean([values[(A, s, k)] - values[(B, s, k)] for k in range(3)]) for s in range(5)])
    se = means.std(ddof=1) * math.sqrt(1 / 5 + 200 / 700)
    t = means.mean() / se
    assert row["vs_baseline_unit"] == "split" and (row["vs_baseline_n_paired"], row["vs_baseline_n_runs_paired"]) == (5, 15)
    assert row["vs_baseline_p_ttest"] == pytest.approx(2 * stats.t.sf(abs(t), 4))
    half = stats.t.ppf(0.975, 4) * se
    assert (row["vs_baseline_ci_low"], row["vs_baseline_ci_high"]) == pytest.approx((means.mean() - half,
                                                                                    means.mean() + half))
    assert math.isnan(row["vs_baseline_p_wilcoxon"])  # a rank test has no overlap correction
    assert "Nadeau-Bengio corrected" in summarize(tmp_path).markdown()


def test_re_splits_without_recorded_sizes_are_tested_uncorrected_and_say_so(tmp_path):
    values = sweep_values(4, 2, np.random.default_rng(2))
    write_sweep(tmp_path, values, sizes=False)
    row = compared(tmp_path)
    means = [np.mean([values[(A, s, k)] - values[(B, s, k)] for k in range(2)]) for s in range(4)]
    assert row["vs_baseline_p_ttest"] == pytest.approx(stats.ttest_1samp(means, 0).pvalue)
    assert "NOT corrected for overlapping training sets" in summarize(tmp_path).markdown()


def test_needed_splits_are_infinite_when_overlap_keeps_the_variance_above_the_difference():
    # Variance floor sd² n_test/n_train: with sd 0.01 and overlap 0.25 the standard error never falls below 0.005.
    assert replicates_needed(0.003, 0.01, 0.25) == math.inf
    n = replicates_needed(0.003, 0.002, 0.25)
    crit = lambda j: stats.t.ppf(0.975, j - 1)  # noqa: E731
    power = lambda j: stats.nct.sf(crit(j), j - 1, 0.003 / (0.002 * math.sqrt(1 / j + 0.25)))  # noqa: E731
    assert power(n) + stats.nct.cdf(-crit(n), n - 1, 0.003 / (0.002 * math.sqrt(1 / n + 0.25))) >= 0.8
    assert power(n - 1) < 0.8


@pytest.mark.parametrize("p,text", [(0.049, "larger than run-to-run noise (Holm p=0.049)"),
                                    (0.05, "within run-to-run noise (Holm p=0.05)"),
                                    (0.2, "within run-to-run noise (Holm p=0.2)")])
def test_the_verdict_text_follows_p_at_five_percent(p, text):
    assert verdict({"p_holm": p, "n_paired": 5}, "p_holm") == text
    assert verdict({"p_ttest": p, "n_paired": 5}) == text.replace("Holm p", "p")


def test_a_paired_test_over_exactly_two_replicates():
    a, b = {(0, 1): 0.80, (0, 2): 0.84}, {(0, 1): 0.79, (0, 2): 0.80, (0, 3): 0.9}
    test = paired_test(a, b)
    d = np.array([0.01, 0.04])
    half = stats.t.ppf(0.975, 1) * d.std(ddof=1) / math.sqrt(2)
    assert test["n_paired"] == 2 and test["delta"] == pytest.approx(0.025)
    assert test["p_ttest"] == pytest.approx(2 * stats.t.sf(d.mean() / (d.std(ddof=1) / math.sqrt(2)), 1))
    assert (test["ci_low"], test["ci_high"]) == pytest.approx((0.025 - half, 0.025 + half))
    assert verdict(paired_test({(0, 1): 0.8}, b)) == "too few shared replicates"


def test_the_baseline_row_needs_replicates_of_two_unpaired_configurations(tmp_path):
    values = sweep_values(1, 5, np.random.default_rng(3))
    write_sweep(tmp_path, values)
    base = next(r for r in summarize(tmp_path).rows if r["vs_baseline"] == "baseline")
    sd = np.std([values[(B, 0, k)] for k in range(5)], ddof=1)
    assert base["n_needed"] == replicates_needed(0.003, math.sqrt(2) * sd)
    assert base["n_needed"] > replicates_needed(0.003, sd)


def test_n_counts_runs_and_a_mean_over_fewer_says_so(tmp_path):
    values = sweep_values(1, 3, np.random.default_rng(4))
    write_sweep(tmp_path, values, plcc=lambda job: None if job == 0 else 0.7 + job / 100)
    s = summarize(tmp_path)
    row = next(r for r in s.rows if r["overrides"] == A)
    assert row["n"] == 3 and row["test_plcc_n"] == 2 and row["test_srcc_n"] == 3
    assert row["test_plcc_mean"] == pytest.approx(np.mean([0.71, 0.72]))
    text = s.markdown()
    assert "(n=2)" in text and "test PLCC median [min, max]" in text
