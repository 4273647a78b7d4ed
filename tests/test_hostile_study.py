"""A study is data: whoever can write to a shared study (its name, parameter names and values,
user attributes, fail reasons, folders) must not be able to run script in the reader's browser
through `python -m iqa.study --html`, nor drive the reader's terminal through its text output."""
import random
import shutil
import statistics
import subprocess
import sys

import optuna
import pytest

from helpers import ROOT

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")


def _hostile_study(storage: str, with_seed_values: bool) -> optuna.Study:
    """A study shaped as the sweeper leaves it, with hostile text in every string the page shows;
    without seed values, also attributes of the wrong type and matplotlib mathtext in the names."""
    def hostile(place: str) -> str:
        """Markup that, rendered as HTML, adds a <b class="pwned"> element and runs a handler that marks
        the page; it also closes a title, a script and an attribute."""
        return (f'<b class="pwned">{place}</b></script></title>"\'><img src=x '
                f'onerror="document.body.dataset.pwned=\'{place}\'">' + ("" if with_seed_values else " $\\frac{$"))

    study = optuna.create_study(study_name=hostile("study"), storage=storage, direction="maximize",
                                sampler=optuna.samplers.RandomSampler(seed=1))
    study.set_user_attr("objective", hostile("objective"))
    study.set_user_attr("seeds", [hostile("seeds")])
    study.set_user_attr("sweep_dir", hostile("sweep_dir"))
    space = {hostile("param"): optuna.distributions.FloatDistribution(0, 1),
             "choice": optuna.distributions.CategoricalDistribution([hostile("value"), "plain"])}
    rng = random.Random(3)
    for _ in range(7):
        trial = study.ask(space)
        alpha = trial.params[hostile("param")]
        values = {hostile("seed"): 0.8 - (alpha - 0.4) ** 2 + rng.gauss(0, 0.01), "43": 0.7 + rng.gauss(0, 0.01)}
        if with_seed_values:
            trial.set_user_attr("seed_values", values)
            trial.set_user_attr("mean", statistics.fmean(values.values()))
            trial.set_user_attr("std", statistics.stdev(values.values()))
        else:  # attributes of the wrong type: shown as missing, the page still written
            trial.set_user_attr("seed_values", hostile("seed_values"))
            trial.set_user_attr("mean", hostile("mean"))
            trial.set_user_attr("std", [hostile("std")])
        trial.set_user_attr("run_dirs", {seed: hostile("folder") for seed in values})
        study.tell(trial, statistics.fmean(values.values()))
    failed = study.ask(space)
    failed.set_user_attr("fail_reason", hostile("fail"))
    study.tell(failed, state=optuna.trial.TrialState.FAIL)
    return study


def _chromium_dom(page) -> str:
    """The page's DOM after a headless Chromium loaded it (images, their error handlers included)."""
    proc = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                           "--run-all-compositor-stages-before-draw", "--virtual-time-budget=3000", "--dump-dom",
                           page.as_uri()],
                          capture_output=True, text=True, timeout=120)
    assert "</html>" in proc.stdout, proc.stderr
    return proc.stdout


@pytest.mark.skipif(CHROMIUM is None,
                    reason="no chromium: install the OS package 'chromium' (.ci/run does where it can)")
@pytest.mark.parametrize("with_seed_values", [True, False], ids=["markup", "markup-mathtext-wrong-types"])
def test_hostile_text_in_a_study_is_shown_as_text_on_its_page(tmp_path, with_seed_values):
    storage = f"sqlite:///{tmp_path}/optuna.db"
    study = _hostile_study(storage, with_seed_values)
    page = tmp_path / "study.html"
    proc = subprocess.run([sys.executable, "-m", "iqa.study", "--storage", storage, "--no-plots", "--html", str(page)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    html = page.read_text()
    assert html.count("data:image/png;base64,") == 4  # `$...$` in names drew as text, not as broken mathtext

    dom = _chromium_dom(page)
    assert "data-pwned" not in dom, "an injected handler ran"
    assert '<b class="pwned">' not in dom and '<img src="x"' not in dom, "injected markup became elements"
    shown = ["study", "objective", "sweep_dir", "param", "value", "fail", "folder", "seed"]
    shown += [] if with_seed_values else ["seeds"]  # the study's seeds attribute shows when no trial has seed values
    for place in shown:
        assert f'&lt;b class="pwned"&gt;{place}&lt;/b&gt;' in dom, f"{place}: not shown as text"
    best = study.best_trial
    assert f"Best trial {best.number}</h2>" in dom
    assert 'pwned"&gt;mean' not in dom and 'pwned"&gt;std' not in dom  # a mean that is not a number is left out


def test_control_characters_from_a_study_reach_the_terminal_escaped(tmp_path):
    """An ANSI sequence in a study (here: set the window title, clear the screen) is printed as text."""
    storage = f"sqlite:///{tmp_path}/optuna.db"
    evil = "\x1b]0;owned\x07\x1b[2J\r\u202e"
    study = optuna.create_study(study_name=f"s{evil}", storage=storage)
    study.set_user_attr("seeds", [1])
    space = {f"p{evil}": optuna.distributions.CategoricalDistribution([f"v{evil}"])}
    for _ in range(2):
        trial = study.ask(space)
        trial.set_user_attr("run_dirs", {"1": f"folder{evil}"})
        study.tell(trial, 1.0)
    failed = study.ask(space)
    failed.set_user_attr("fail_reason", f"reason{evil}")
    study.tell(failed, state=optuna.trial.TrialState.FAIL)
    proc = subprocess.run([sys.executable, "-m", "iqa.study", "--storage", storage, "--no-plots"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert not any(c in proc.stdout for c in "\x1b\x07\r\u202e")
    shown = "\\x1b]0;owned\\x07\\x1b[2J\\r\\u202e"
    for text in ("s", "p", "v", "folder", "reason"):
        assert f"{text}{shown}" in proc.stdout, text


def test_a_study_name_with_a_slash_gets_its_plots(tmp_path):
    storage = f"sqlite:///{tmp_path}/optuna.db"
    study = optuna.create_study(study_name="group/alpha", storage=storage,
                                sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(lambda t: (t.suggest_float("x", 0, 1) - 0.3) ** 2, n_trials=4)
    proc = subprocess.run([sys.executable, "-m", "iqa.study", "--storage", storage, "--study", "group/alpha",
                           "--out", str(tmp_path / "plots")], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "plots" / "study_group_alpha_optimization_history.png").is_file()
    assert not (tmp_path / "plots" / "study_group").exists()
