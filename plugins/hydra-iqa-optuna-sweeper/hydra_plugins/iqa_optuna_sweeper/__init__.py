"""hydra-iqa-optuna-sweeper: `hydra/sweeper=iqa_optuna`, an Optuna sweeper for any Hydra app.

Jobs report intermediate values for pruning with `reporting.current_trial()`; studies are
inspected with `python -m hydra_plugins.iqa_optuna_sweeper --storage URL`.
"""
