"""Fast in-process checks of seeding, loader determinism, resume state and the consistency CLI."""
from __future__ import annotations

import json
import logging
import random

import numpy as np
import pytest
import torch
from helpers import ROOT
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from iqa.train import checkpoint, resume
from iqa import checkpoint_file, consistency, data
from iqa.config import register_configs
from iqa.data.imageset import ImageSet
from iqa.errors import ConfigError, DataError
from iqa.runtime.repro import rng_state, seed_everything, set_rng_state
from iqa.run_folder import RunFolder
from iqa.runtime.accel import Accel
from iqa.train.callbacks import Checkpoints, Fingerprints
from iqa.train.fit import Fit

register_configs()


def composed(*overrides):
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return compose("config", overrides=list(overrides))


def tiny_images(n=12, size=40) -> ImageSet:
    rng = np.random.default_rng(0)
    return ImageSet("tiny", rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8),
                    rng.uniform(0, 100, n).astype(np.float32), np.arange(n), [str(i) for i in range(n)])


def epoch_batches(loader, epoch):
    loader.sampler.set_epoch(epoch)
    return [(p.clone(), m.clone(), s.clone(), j.clone()) for p, m, s, j in loader]


def test_batches_do_not_depend_on_num_workers():
    images = tiny_images()
    loaders = {w: data.train_loader(images, composed(f"loader.num_workers={w}", "loader.patch_size=16",
                                                     "loader.batch_size=4", "loader.color_jitter=0.3").loader, 7)
               for w in (0, 2)}
    for epoch in (1, 2):
        zero, two = epoch_batches(loaders[0], epoch), epoch_batches(loaders[2], epoch)
        assert len(zero) == len(two) == 12 * 4 // 4
        for a, b in zip(zero, two):
            assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not torch.equal(epoch_batches(loaders[0], 1)[0][2], epoch_batches(loaders[0], 2)[0][2])


def test_seed_zero_is_a_seed_of_its_own():
    cfg = composed("loader.patch_size=16", "loader.batch_size=4").loader
    first = {seed: epoch_batches(data.train_loader(tiny_images(), cfg, seed), 1)[0][2] for seed in (0, 1)}
    assert torch.equal(epoch_batches(data.train_loader(tiny_images(), cfg, 0), 1)[0][2], first[0])
    assert not torch.equal(first[0], first[1])


def test_strict_and_fast_set_the_documented_switches(caplog):
    # An earlier in-process run may have hooked warnings into logging under pytest's own
    # warnings.catch_warnings, which undid the hook but left logging believing it is installed.
    logging.captureWarnings(False)
    try:
        seed_everything(0, "strict")
        assert torch.are_deterministic_algorithms_enabled() and torch.backends.cudnn.deterministic
        assert not torch.backends.cudnn.benchmark
        y, i = torch.nn.functional.max_pool2d(torch.randn(1, 1, 4, 4), 2, return_indices=True)
        with caplog.at_level(logging.WARNING, logger="py.warnings"):
            torch.nn.functional.max_unpool2d(y, i, 2)  # no deterministic kernel on any device: logged, not fatal
        assert "max_unpooling2d_forward_out does not have a deterministic implementation" in caplog.text
        seed_everything(0, "fast")
        assert not torch.are_deterministic_algorithms_enabled() and torch.backends.cudnn.benchmark
    finally:
        torch.use_deterministic_algorithms(False)
        torch.backends.cudnn.benchmark = torch.backends.cudnn.deterministic = False


def test_rng_state_survives_a_weights_only_checkpoint(tmp_path):
    loader = data.train_loader(tiny_images(), composed("loader.patch_size=16", "loader.batch_size=4").loader, 3)
    loaders = {"train": loader}
    torch.manual_seed(5), random.seed(5), np.random.seed(5)
    torch.save(rng_state(loaders), tmp_path / "rng.pt")

    def draws():
        return (random.random(), np.random.rand(), torch.rand(3).tolist(),
                torch.randint(0, 10**9, (2,), generator=loader.generator).tolist())
    expected = draws()
    draws()
    set_rng_state(torch.load(tmp_path / "rng.pt", weights_only=True), loaders)
    assert draws() == expected


def test_checkpoint_and_restore_carry_the_fit_state(tmp_path):
    """Everything the loop keeps between epochs comes back from last.pt into fresh objects."""
    cfg = composed()
    train = data.train_loader(tiny_images(), composed("loader.patch_size=16", "loader.batch_size=4").loader, 1)

    def fresh(folder):
        torch.manual_seed(0)
        model = torch.nn.Linear(3, 1)
        opt = torch.optim.Adam(model.parameters(), lr=0.1)
        return Fit(cfg=cfg, folder=RunFolder(folder), bundle=None, model=model, net=model, loss_fn=None,
                   optimizer=opt, scheduler=torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=4),
                   accel=Accel(torch.device("cpu")), device=torch.device("cpu"), train_loader=train, loaders={},
                   monitor="test_srcc", resolved_config=OmegaConf.to_container(cfg), callbacks=[], progress=False)
    fit = fresh(tmp_path / "a")
    fit.model(torch.ones(2, 3)).sum().backward()
    fit.optimizer.step(), fit.scheduler.step()
    results = {"test": {"srcc": 0.5, "pred": np.arange(4.0), "mos": np.ones(4)}}
    fit.state.update(1, 0.5, {"test_srcc": 0.5}, results), fit.state.update(2, 0.4, {"test_srcc": 0.4}, results)
    fit.state.history = [{"epoch": 1, "test_srcc": 0.5}, {"epoch": 2, "test_srcc": 0.4}]
    fit.state.fingerprints = [{"epoch": 1, "step": 1, "sha256": "x"}]
    fit.start -= 12.5
    Checkpoints().on_epoch_end(fit, 2, {"test_srcc": 0.4})
    saved = {**checkpoint_file.load(fit.folder.last), "path": fit.folder.last}
    expected_draw = torch.rand(2)

    fit2 = fresh(tmp_path / "b")
    resume.restore(saved, fit2)
    Fingerprints().on_fit_start(fit2)
    got = fit2.state
    assert got.history == fit.state.history and got.best_metrics == {"test_srcc": 0.5}
    assert got.elapsed_s == pytest.approx(12.5, abs=1.0)
    assert np.array_equal(got.best_results["test"]["pred"], results["test"]["pred"])
    assert (got.best_value, got.best_epoch, got.bad_epochs) == (0.5, 1, 1)
    assert torch.equal(fit2.model.weight, fit.model.weight) and fit2.scheduler.last_epoch == fit.scheduler.last_epoch
    assert fit2.optimizer.state_dict()["state"][0]["step"] == 1
    assert json.loads((tmp_path / "b" / "batches.json").read_text())["batches"] == fit.state.fingerprints
    assert (tmp_path / "b" / "history.csv").read_text().splitlines()[0] == "epoch,test_srcc"
    assert torch.equal(torch.rand(2), expected_draw)


def test_resume_refuses_missing_foreign_and_mismatched_checkpoints(tmp_path):
    with pytest.raises(ConfigError, match="does not exist: pass hydra.run.dir"):
        resume.load(composed("trainer.resume=true"), tmp_path)
    model = torch.nn.Linear(1, 1)
    saved = OmegaConf.to_container(composed("trainer.epochs=3"), resolve=True)
    best = checkpoint.save(tmp_path / "best.pt", model, None, None, 1, {}, saved)
    with pytest.raises(DataError, match="holds no resume state"):
        resume.load(composed("trainer.epochs=3", "trainer.resume=true", f"checkpoint={best}"), tmp_path)
    last = checkpoint.save(tmp_path / "last.pt", model, None, None, 1, {}, saved, {"resume": {}})
    with pytest.raises(ConfigError, match=r"^trainer.patience=4 differs from 3 in .*last.pt"):
        resume.load(composed("trainer.epochs=3", "trainer.patience=4", "trainer.resume=true", f"checkpoint={last}"),
                    tmp_path)
    # Where and how it runs may change; what it computes may not.
    state = resume.load(composed("trainer.epochs=3", "trainer.resume=true", f"checkpoint={last}",
                                 "loader.num_workers=2", "runtime.progress=true"), tmp_path)
    assert state["epoch"] == 1


def test_consistency_cannot_compare_folders_without_fingerprints(tmp_path, capsys):
    run = tmp_path / "run"
    (run / ".hydra").mkdir(parents=True)
    assert consistency.main([str(run), str(run)]) == 2
    assert "has no batches.json" in capsys.readouterr().err
    (run / "batches.json").write_text("{not json")
    assert consistency.main([str(run), str(run)]) == 2
    assert "cannot be read" in capsys.readouterr().err
    (run / "batches.json").write_text(json.dumps({"seed": 0, "batches": []}))
    assert consistency.main(["--latest", str(tmp_path)]) == 2
    assert "need two" in capsys.readouterr().err
    with pytest.raises(SystemExit) as usage:
        consistency.main([str(run)])
    assert usage.value.code == 2
