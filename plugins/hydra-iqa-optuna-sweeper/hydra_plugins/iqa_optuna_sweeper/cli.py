"""Entry point of the study inspector, importable without loading Optuna (Hydra imports this
module on every start)."""
from typing import List, Optional


def main(argv: Optional[List[str]] = None, prog: str = "python -m hydra_plugins.iqa_optuna_sweeper",
         default_storage: Optional[str] = None) -> int:
    """`--storage URL [--study NAME] [--out DIR] [--no-plots]`; returns the exit status."""
    from hydra_plugins.iqa_optuna_sweeper._study import main as inspect

    return inspect(argv, prog=prog, default_storage=default_storage)
