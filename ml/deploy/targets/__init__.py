"""Rollout targets, one module per platform; `ml.deploy.target.target_for` imports the one a stack needs."""
