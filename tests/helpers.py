"""What several test modules share: composing the project's config the way run.py does."""
from __future__ import annotations

from pathlib import Path

from hydra import compose as hydra_compose, initialize_config_dir

from iqa.config import register_configs

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"

register_configs()


def compose(*overrides: str, config_dir: Path = CONF, config_name: str = "config"):
    """The config `python run.py OVERRIDES` would run with (no Hydra runtime keys)."""
    with initialize_config_dir(config_dir=str(config_dir), version_base="1.3"):
        return hydra_compose(config_name, overrides=list(overrides))
