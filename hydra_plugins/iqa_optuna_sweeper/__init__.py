"""The `hydra/sweeper=iqa_optuna` plugin: multi-seed Optuna search on current Optuna."""
