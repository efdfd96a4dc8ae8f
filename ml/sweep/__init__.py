"""Hyperparameter sweeps: one YAML spec (`ml.sweep.spec`), many backends (`ml.sweep.backends`)."""
