"""Sweep backends: local (Optuna processes), azure (azure-ai-ml sweep job), sagemaker (tuning job)."""
