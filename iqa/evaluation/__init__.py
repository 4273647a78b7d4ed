"""Scoring a model: deterministic crops, metrics, mode=eval."""
