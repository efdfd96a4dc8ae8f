"""Imported by the warm launcher (when the spec's environment has MLflow) so a trial's end starts warm.

Why: measured with bench/trial_overhead.py, `ml.sweep.trial.log_model` in a warm trial spent most of
its time importing what only the end of a trial needs: MLflow's scikit-learn flavour, model code
and pyfunc, skops' persistence (its trusted-type tables list every scikit-learn estimator),
MLflow's SQL tracking store (SQLAlchemy models and Alembic), GitPython (the run's source commit),
and building MLflow's module-to-distribution map (it checks the requirements against the
environment). Imported once in the launcher, every trial forked from it has them; nothing here
opens a file, a connection or a thread (a fork must not share one). Each import is optional: what
the environment lacks the trial never needs.
"""

from __future__ import annotations

import contextlib
import importlib

MODULES = (
    "mlflow.sklearn",
    "mlflow.models",
    "mlflow.models.signature",
    "mlflow.pyfunc",
    "mlflow.store.tracking.sqlalchemy_store",
    "mlflow.store.model_registry.sqlalchemy_store",
    "mlflow.store.artifact.local_artifact_repo",
    "skops.io",
    "git",  # GitPython: MLflow tags the run's source commit when the run is resumed
)


def warm() -> None:
    """Import the modules a trial's end uses and build MLflow's package map (each only if available)."""
    for name in MODULES:
        with contextlib.suppress(Exception):
            importlib.import_module(name)
    with contextlib.suppress(Exception):  # MLflow's own cache: requirements checks read it per trial otherwise
        from mlflow.utils import requirements_utils

        requirements_utils._init_modules_to_packages_map()


warm()
