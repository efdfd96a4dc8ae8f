"""A small real training script: fits a tiny model, logs its data and the model like the example does.

Why its own stand-in: the order `trial.log_dataset` then `trial.log_model` is what the example
training script does, and it is the order that once sent the model to a new, unnamed MLflow run
(MLflow's ``start_run``/``end_run`` consume ``MLFLOW_RUN_ID``) instead of the trial's run.
"""

from __future__ import annotations

import argparse
import os

from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression

from ml.sweep import trial


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--c", type=float, default=1.0)
    args = parser.parse_args()
    features, target = load_breast_cancer(return_X_y=True)
    features = features[:, :4]
    model = LogisticRegression(C=args.c, max_iter=200).fit(features, target)
    trial.report(1, score=float(model.score(features, target)))
    trial.log_dataset(features, targets=target, name="toy-train")
    uri = trial.log_model(model, features)
    print(f"pid {os.getpid()} logged {uri}", flush=True)


if __name__ == "__main__":
    main()
