"""`python -m hydra_plugins.iqa_optuna_sweeper --storage URL [--study NAME]`: inspect a study."""
import sys

if __name__ == "__main__":
    from hydra_plugins.iqa_optuna_sweeper.cli import main

    sys.exit(main())
