"""The study page (`python -m iqa.study --html`) in a real headless Chromium, and optuna-dashboard on our storage."""
import json
import random
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import matplotlib.image
import numpy as np
import optuna
import pytest

from helpers import ROOT

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture
def study_db(tmp_path):
    """A study shaped as the iqa_optuna sweeper leaves it: per-seed values, mean, std, run folders, a FAIL."""
    storage = f"sqlite:///{tmp_path}/optuna.db"
    study = optuna.create_study(study_name="s", storage=storage, direction="maximize",
                                sampler=optuna.samplers.RandomSampler(seed=1))
    study.set_user_attr("objective", "test_srcc")
    study.set_user_attr("seeds", [42, 43, 44])
    study.set_user_attr("sweep_dir", str(tmp_path / "sweep"))
    space = {"loss.alpha": optuna.distributions.FloatDistribution(0, 1),
             "optim": optuna.distributions.CategoricalDistribution(["adam", "adamw"])}
    rng = random.Random(3)
    for _ in range(7):
        trial = study.ask(space)
        alpha = trial.params["loss.alpha"]
        values = {str(s): 0.8 - (alpha - 0.4) ** 2 + rng.gauss(0, 0.01) for s in (42, 43, 44)}
        trial.set_user_attr("seed_values", values)
        trial.set_user_attr("run_dirs", {s: f"sweep/trial_{trial.number}/seed_{s}" for s in values})
        trial.set_user_attr("mean", statistics.fmean(values.values()))
        trial.set_user_attr("std", statistics.stdev(values.values()))
        study.tell(trial, statistics.fmean(values.values()))
    failed = study.ask(space)
    failed.set_user_attr("fail_reason", "seed 42: ConfigError: loss.alpha out of range")
    study.tell(failed, state=optuna.trial.TrialState.FAIL)
    return storage, study


def _chromium(*args, timeout=120):
    return subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", *args],
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium: install the OS package 'chromium' (.ci/run does where it can)")
@pytest.mark.slow
def test_study_page_renders_in_a_browser_and_shows_the_best_trial(study_db, tmp_path):
    storage, study = study_db
    page = tmp_path / "page" / "study.html"
    proc = subprocess.run([sys.executable, "-m", "iqa.study", "--storage", storage, "--study", "s", "--no-plots",
                           "--html", str(page)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert f"Study page: {page}" in proc.stdout
    text = page.read_text()
    assert "src=\"http" not in text and "<script" not in text  # self-contained: nothing fetched
    assert text.count("data:image/png;base64,") == 4
    assert "fewer than about 20" in text  # 7 trials: the importance caveat

    dom = _chromium("--dump-dom", page.as_uri()).stdout
    best = study.best_trial
    assert f"Best trial {best.number}</h2>" in dom
    assert f'<tr class="best"><td>{best.number}</td><td>COMPLETE</td><td>{best.params["loss.alpha"]:.4g}</td>' in dom
    assert "seed 42: ConfigError: loss.alpha out of range" in dom
    assert "0.123456789" not in dom and "±" in dom

    shot = tmp_path / "shot.png"
    _chromium(f"--screenshot={shot}", "--window-size=1280,3600", page.as_uri())
    image = matplotlib.image.imread(shot)[..., :3]
    highlighted = np.abs(image - np.array([1.0, 0.953, 0.769])).max(axis=-1) < 0.02  # the best row's background
    drawn = np.abs(image - np.array([0.122, 0.467, 0.706])).max(axis=-1) < 0.08  # tab:blue points and bars
    assert highlighted.sum() > 2000 and drawn.sum() > 2000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_optuna_dashboard_serves_our_storage(study_db, tmp_path):
    pytest.importorskip("optuna_dashboard", reason='optuna-dashboard is in the tracking extra: pip install -e ".[tracking]"')
    storage, study = study_db
    port = _free_port()
    server = subprocess.Popen([str(Path(sys.executable).with_name("optuna-dashboard")), storage, "--host", "127.0.0.1",
                               "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(120):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies", timeout=2) as r:
                    studies = json.loads(r.read())["study_summaries"]
                break
            except OSError:
                assert server.poll() is None, "optuna-dashboard exited at start"
                time.sleep(0.5)
        else:
            pytest.fail("optuna-dashboard did not answer within 60 s")
        assert [s["study_name"] for s in studies] == ["s"]
        study_id = studies[0]["study_id"]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies/{study_id}?after=0", timeout=10) as r:
            detail = json.loads(r.read())
        assert len(detail["trials"]) == len(study.trials)
    finally:
        server.terminate()
        server.wait(timeout=30)
