"""`model.weights=PATH`: timm backbone files, whole-model files, safe loading, one-line errors."""
from __future__ import annotations

import json
import re

import pytest
import timm
import torch
from omegaconf import OmegaConf
from safetensors.torch import save_file

from helpers import TINY, run_py
from helpers import compose
from iqa import models
from iqa.config import ModelConfig
from iqa.errors import ConfigError
from iqa.train.job import run

pytestmark = pytest.mark.usefixtures("single_thread")


def model_cfg(name: str, fusion: str = "none", **overrides):
    """The model node of `model=NAME model/fusion=FUSION`, resolved, with `overrides` set."""
    cfg = compose(f"model={name}", f"model/fusion={fusion}")
    return OmegaConf.merge(OmegaConf.structured(ModelConfig), OmegaConf.to_container(cfg.model, resolve=True), overrides)


def timm_state(cfg) -> dict:
    """A whole timm classifier's state dict (head included), as timm or the hub would save it."""
    torch.manual_seed(3)
    return timm.create_model(cfg.backbone, **OmegaConf.to_container(cfg.backbone_args)).state_dict()


def test_torch_backbone_file_loads_into_the_backbone(tmp_path):
    cfg = model_cfg("small")
    state = timm_state(cfg)
    torch.save(state, tmp_path / "resnet.pth")
    body = models.build(model_cfg("small", weights=str(tmp_path / "resnet.pth")), 64).backbone.body.state_dict()
    assert set(body) < set(state)
    for key, value in body.items():
        assert torch.equal(value, state[key]), key


def test_safetensors_swin_file_loads_at_another_patch_size(tmp_path):
    cfg = model_cfg("swin_micro")
    state = timm_state(cfg)  # built for 224 px, loaded into a 64 px model
    save_file(state, str(tmp_path / "swin.safetensors"))
    model = models.build(model_cfg("swin_micro", weights=str(tmp_path / "swin.safetensors")), 64)
    body = model.backbone.body.state_dict()  # timm's feature wrapper names `layers.0` as `layers_0`
    for key, value in body.items():
        assert torch.equal(value, state[re.sub(r"^layers_(\d)", r"layers.\1", key)]), key
    assert model(torch.randn(2, 3, 64, 64)).shape == (2,)


def test_whole_model_file_from_a_run_checkpoint(tmp_path):
    source = models.build(model_cfg("swin_micro", fusion="attention"), 64)
    torch.save({"model": source.state_dict(), "epoch": 3}, tmp_path / "best.pt")
    loaded = models.build(model_cfg("swin_micro", fusion="attention", weights=str(tmp_path / "best.pt")), 64)
    for key, value in source.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key


def one_line_error(cfg, match: str) -> str:
    with pytest.raises(ConfigError, match=match) as err:
        models.build(cfg, 64)
    message = str(err.value)
    assert "\n" not in message and len(message) < 400
    return message


def test_files_from_another_architecture_are_refused_in_one_line(tmp_path):
    torch.save(timm_state(model_cfg("small")), tmp_path / "resnet.pth")
    message = one_line_error(model_cfg("swin_micro", weights=str(tmp_path / "resnet.pth")), "another architecture")
    assert "model.weights=" in message and "swin" in message
    state = timm_state(model_cfg("small"))
    state["layer1.0.conv1.weight"] = state["layer1.0.conv1.weight"][:, :1]  # same names, one of another shape
    torch.save(state, tmp_path / "reshaped.pth")
    message = one_line_error(model_cfg("small", weights=str(tmp_path / "reshaped.pth")), "another architecture")
    assert "size mismatch for layer1.0.conv1.weight" in message
    torch.save(models.build(model_cfg("small"), 64).state_dict(), tmp_path / "small.pt")
    message = one_line_error(model_cfg("small", fusion="concat", weights=str(tmp_path / "small.pt")),
                             "another architecture")
    assert "missing (first: fusion.proj" in message


def test_missing_and_unreadable_files_are_one_line(tmp_path):
    one_line_error(model_cfg("small", weights=str(tmp_path / "nope.pt")), "does not exist")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    one_line_error(model_cfg("small", weights=str(tmp_path / "junk.pt")), "is not a weights file: it is a text file")
    torch.save([1, 2, 3], tmp_path / "list.pt")
    one_line_error(model_cfg("small", weights=str(tmp_path / "list.pt")), "holds no state dict")


class Payload:
    """Unpickling this would create a file: safe loading must refuse it instead."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_pickled_code_is_never_run(tmp_path):
    marker = tmp_path / "executed"
    torch.save({"conv1.weight": torch.zeros(1), "x": Payload(str(marker))}, tmp_path / "evil.pt")
    one_line_error(model_cfg("small", weights=str(tmp_path / "evil.pt")), "cannot be read safely")
    assert not marker.exists()


@pytest.mark.slow
def test_offline_pretrained_says_what_to_do(tmp_path, cache_dir, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    proc = run_py([*TINY, f"hydra.run.dir={tmp_path / 'run'}", "model.pretrained=true"], tmp_path, cache_dir,
                  check=False)
    assert proc.returncode == 1
    error = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(error) == 1 and "model.weights=PATH" in error[0] and "model.pretrained=false" in error[0]
    assert not (tmp_path / "run" / "metrics.json").exists()


@pytest.mark.slow
def test_swin_fpn_run_then_eval_from_model_weights(run_tiny, tmp_path):
    out, metrics, _ = run_tiny("model=swin_micro", "model/fusion=fpn", "model.drop_path_rate=0.1")
    assert "fusion FPNFusion" in (out / "run.log").read_text()
    run(compose(*TINY, "mode=eval", "model=swin_micro", "model/fusion=fpn",
                    f"model.weights={out}/checkpoints/best.pt"), tmp_path / "eval")
    scored = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert scored["checkpoint"] == f"{out}/checkpoints/best.pt" and scored["checkpoint_epoch"] is None
    assert scored["test_srcc"] == pytest.approx(metrics["test_srcc"], abs=1e-6)
