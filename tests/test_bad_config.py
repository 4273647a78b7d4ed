"""Impossible config values stop `run.py` at start: one line naming the key, exit status 1."""
import pytest
from hydra.errors import ConfigCompositionException

from helpers import TINY, run_py
from iqa.config import validate
from iqa.errors import ConfigError
from helpers import compose

CASES = [
    ("loss.alpha=1.5", "loss.alpha=1.5 is out of range: must be in [0, 1]"),
    ("loss.margin=-0.1", "loss.margin=-0.1 is out of range: must be >= 0"),
    ("trainer.patience=0", "trainer.patience=0 is out of range: must be >= 1"),
    ("trainer.epochs=0", "trainer.epochs=0 is out of range: must be >= 1"),
    ("loader.patch_size=128", "loader.patch_size=128 is larger than the smallest image side"),
    ("trainer.monitor=test_rmse", "trainer.monitor='test_rmse' is out of range: must be one of val_srcc"),
    ("data.val_fraction=1.0", "data.val_fraction=1.0 is out of range: must be in [0, 1)"),
    ("data.split_column=fold", "data.split_column='fold' is out of range: must be null unless data=csv"),
    ("data.split_file=s.csv data.split=official", "data.split_file='s.csv' is out of range: must be null with "
                                                  "data.split=official"),
    # Without a validation part there is nothing but test to select on: the default monitor is refused.
    ("data.val_fraction=0", "trainer.monitor='val_srcc' is out of range: must be one of test_srcc"),
]


VALUE_CASES = [c for c in CASES if "patch_size" not in c[0]]


def test_an_option_no_yaml_defines_names_the_group_and_its_options():
    with pytest.raises(ConfigCompositionException) as err:
        compose("model/fusion=bogus")
    assert "model/fusion/bogus" in str(err.value) and "fpn" in str(err.value)


@pytest.mark.parametrize("override,message", VALUE_CASES, ids=[c[0] for c in VALUE_CASES])
def test_validate_names_key_and_range(override, message):
    with pytest.raises(ConfigError) as err:
        validate(compose(*override.split()))
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


@pytest.mark.slow
@pytest.mark.parametrize("override,message", [CASES[0], CASES[4]], ids=["alpha", "patch_size"])
def test_bad_value_exits_with_one_line(override, message, tmp_path, cache_dir):
    proc = run_py([*TINY, f"hydra.run.dir={tmp_path}/run", override], tmp_path, cache_dir, check=False)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert lines[-1].startswith("error: ") and message in lines[-1], proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "run" / "metrics.json").exists()


@pytest.mark.slow
def test_wrong_type_fails_at_composition(tmp_path, cache_dir):
    proc = run_py([*TINY, f"hydra.run.dir={tmp_path}/run", "trainer.epochs=many"], tmp_path, cache_dir, check=False)
    assert proc.returncode == 1 and "trainer.epochs" in proc.stderr and "Traceback" not in proc.stderr


def test_alpha_needs_the_ranking_loss():
    with pytest.raises(ConfigCompositionException, match=r"Could not override 'loss.alpha'"):
        compose("loss=l1", "loss.alpha=0.3")  # L1 has no alpha
    cfg = compose("loss.alpha=0.3")  # the default loss honours alpha, as the README's sweep expects
    validate(cfg)
    assert cfg.loss._target_ == "iqa.train.losses.RankingLoss"
