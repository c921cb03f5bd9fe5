"""Thin adapters to third-party tools (Optuna, MLflow)."""
