"""`experiment=quick`, the README's first run: seconds long, and it visibly learns (test SRCC
clearly above 0.5 on the embedded data for seeds 42, 43, 44); its start line says the small
model starts from random weights. The tests' TINY overrides keep the cost they had."""
import json
import statistics

import pytest

from helpers import TINY, compose, run_py


def test_tiny_runs_keep_two_epochs_and_the_default_head_learning_rate():
    cfg = compose(*TINY)
    assert cfg.trainer.epochs == 2 and cfg.trainer.lr_ratio == 10.0 and cfg.loader.batch_size == 8
    assert cfg.loader.test_patch_num == 2 and cfg.loader.train_patch_num == 1
    assert compose("experiment=quick").trainer.epochs > 2, "the preset learns with more epochs than TINY"


@pytest.mark.slow
def test_the_quick_preset_learns_visibly_on_every_seed(tmp_path):
    scores = []
    for seed in (42, 43, 44):
        out = tmp_path / f"seed{seed}"
        run_py(["experiment=quick", f"seed={seed}", "runtime.progress=false", f"hydra.run.dir={out}"],
               tmp_path, tmp_path / "cache")
        scores.append(json.loads((out / "metrics.json").read_text())["test_srcc"])
        start = next(line for line in (out / "run.log").read_text().splitlines() if "model: small" in line)
        assert "random initialisation" in start
    assert min(scores) > 0.55 and statistics.fmean(scores) > 0.58, scores


def test_the_start_line_says_where_the_weights_come_from():
    from iqa.models import weights_origin
    assert weights_origin(compose("model=hyperiqa_resnet50").model).startswith("random initialisation")
    assert weights_origin(compose("model=hyperiqa_resnet50", "model.pretrained=true").model) == \
        "ImageNet weights from the timm hub"
    assert weights_origin(compose("model=hyperiqa_resnet50", "model.pretrained=true", "model.weights=w.pt").model) == \
        "weights from w.pt"
