"""A `_target_` of the user's own module that Python cannot import stops the run at start, before
any data is decoded or model built, with Python's own reason and how to make it importable;
the error is said once."""
import pytest

from helpers import TINY, compose, run_py
from iqa.config import validate
from iqa.errors import ConfigError
from iqa.targets import targets

PLCC_LOSS = '''
import torch


class PLCCLoss(torch.nn.Module):
    def forward(self, pred, mos):
        return 1 - torch.corrcoef(torch.stack([pred.flatten(), mos.flatten()]))[0, 1]
'''


@pytest.mark.slow
def test_a_loss_whose_module_is_not_importable_says_why_once_and_before_the_data(tmp_path):
    (tmp_path / "myconf" / "loss").mkdir(parents=True)
    (tmp_path / "myconf" / "loss" / "plcc.yaml").write_text("_target_: mylosses.PLCCLoss\n")
    cache = tmp_path / "cache"
    proc = run_py([*TINY, f"hydra.searchpath=[file://{tmp_path / 'myconf'}]", "loss=plcc",
                   f"hydra.run.dir={tmp_path / 'run'}"], cwd=tmp_path, cache=cache, check=False)
    assert proc.returncode == 1
    line = ("error: loss: cannot import mylosses.PLCCLoss: No module named 'mylosses' (make its module importable: "
            "put the folder that holds it on PYTHONPATH")
    assert proc.stderr.startswith(line) and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "No module named 'mylosses'" not in proc.stdout, "said twice: a log line and the error line"
    assert "model:" not in proc.stdout and not cache.exists(), "the data or model was built before the check"
    assert "No module named 'mylosses'" in (tmp_path / "run" / "run.log").read_text()

    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "mylosses.py").write_text(PLCC_LOSS)
    proc = run_py([*TINY, f"hydra.searchpath=[file://{tmp_path / 'myconf'}]", "loss=plcc", "trainer.epochs=1",
                   f"hydra.run.dir={tmp_path / 'run2'}"], cwd=tmp_path, cache=cache, pythonpath=[tmp_path / "mine"])
    assert "run folder:" in proc.stdout


def test_every_target_of_the_run_is_checked():
    cfg = compose(*TINY, "data.cross=[synthetic_cross]")
    keys = dict(targets(cfg))
    assert {"loss", "optim", "scheduler", "model.fusion", "logger.csv", "data.sets.synthetic",
            "data.sets.synthetic_cross"} <= set(keys)
    assert "data.sets.koniq" not in keys  # a set the run does not use
    for key, override, reason in [
            ("logger.csv", "logger.csv._target_=iqa.train.loggers.NoSuchLogger",
             "module 'iqa.train.loggers' has no attribute 'NoSuchLogger'"),
            ("model.fusion", "model.fusion._target_=myfusions.Max", "No module named 'myfusions'"),
            ("scheduler", "scheduler._target_=torch.optim.lr_scheduler.Nope", "has no attribute 'Nope'")]:
        with pytest.raises(ConfigError) as err:
            validate(compose(*TINY, override))
        assert str(err.value).startswith(f"{key}: cannot import ") and reason in str(err.value)
