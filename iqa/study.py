"""`python -m iqa.study [--storage URL] [--study NAME]`: the sweeper's study inspector, with this
project's storage as the default (see hydra_plugins.iqa_optuna_sweeper._study)."""
import sys

from hydra_plugins.iqa_optuna_sweeper.cli import main

DEFAULT_STORAGE = "sqlite:///outputs/optuna.db"  # conf/hydra/sweeper/iqa_study.yaml

if __name__ == "__main__":
    sys.exit(main(prog="python -m iqa.study", default_storage=DEFAULT_STORAGE))
