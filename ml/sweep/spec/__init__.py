"""The sweep spec: one typed document that every backend (local, azure, sagemaker) translates.

Why one typed model: the user writes a sweep once; each backend maps the same fields to Optuna,
an azure-ai-ml sweep job or a SageMaker tuning job. Validation that holds for every backend lives
here (bounds, grid needs discrete parameters, placeholders that name real parameters); what only
one backend cannot do (e.g. Azure's bayesian sampling with early termination) is that backend's
`check()`.

Errors are part of the interface: every problem names the key path (``search_space.lr.min_value``)
and, when the spec came from YAML, the file and line, and is raised as one `UserError`.

Conventions a spec author (and a backend) can rely on:

- **Placeholders** in ``command`` use Azure ML's syntax: ``${{search_space.<param>}}`` and
  ``${{inputs.<name>}}``. Backends substitute them (local: shell-quoted values; Azure: verbatim).
- **Bounds are values, inclusive**: ``loguniform`` ``min_value``/``max_value`` are the actual
  values (0.01, 0.3), not exponents (Azure's ``LogUniform`` takes exponents; its backend converts);
  ``randint`` draws integers in ``[min_value, max_value]`` (``min_value`` defaults to 0).
- **Durations** are seconds (int) or strings such as ``"90s"``, ``"20m"``, ``"2h"``, ``"1h30m"``.
- **The objective value of a trial** is the last value it reported for ``objective.metric``.

Layout: `_base` (strict model, scalars, durations), `search_space` (parameter types),
`early_termination` (policies), `placeholders` (the command's ``${{...}}``), `model` (the sections
and `SweepSpec`), `checks` (cross-section rules), `loader` (`parse_spec`, `load_spec`). Callers
import from ``ml.sweep.spec``.

Example::

    name: breast-cancer-gbm
    code: ../train
    command: python train_gbm.py --learning-rate ${{search_space.learning_rate}}
    environment: {pip: ["scikit-learn>=1.6", "mlflow>=3.1"]}
    search_space:
      learning_rate: {type: loguniform, min_value: 0.01, max_value: 0.3}
    objective: {metric: val_auc, goal: maximize}
    sampling: bayesian
    limits: {max_total_trials: 12, max_concurrent_trials: 2, trial_timeout: 5m}
"""

from __future__ import annotations

from ml.sweep.spec._base import Duration, Scalar, SpecModel, parse_duration
from ml.sweep.spec.early_termination import (
    POLICY_NAMES,
    BanditPolicy,
    EarlyTermination,
    HyperbandPolicy,
    MedianStoppingPolicy,
    PolicyName,
    TruncationSelectionPolicy,
)
from ml.sweep.spec.loader import SpecError, load_spec, parse_spec
from ml.sweep.spec.model import (
    DEFAULT_CHECKPOINT_ENV,
    Compute,
    CostCap,
    Environment,
    Input,
    Limits,
    Objective,
    Sampling,
    Spot,
    SweepSpec,
)
from ml.sweep.spec.placeholders import PLACEHOLDER
from ml.sweep.spec.search_space import (
    DISCRETE_TYPES,
    PARAMETER_TYPES,
    Choice,
    LogUniform,
    Normal,
    Parameter,
    QUniform,
    RandInt,
    Uniform,
)

__all__ = [
    "DEFAULT_CHECKPOINT_ENV",
    "DISCRETE_TYPES",
    "PARAMETER_TYPES",
    "PLACEHOLDER",
    "POLICY_NAMES",
    "BanditPolicy",
    "Choice",
    "Compute",
    "CostCap",
    "Duration",
    "EarlyTermination",
    "Environment",
    "HyperbandPolicy",
    "Input",
    "Limits",
    "LogUniform",
    "MedianStoppingPolicy",
    "Normal",
    "Objective",
    "Parameter",
    "PolicyName",
    "QUniform",
    "RandInt",
    "Sampling",
    "Scalar",
    "SpecError",
    "SpecModel",
    "Spot",
    "SweepSpec",
    "TruncationSelectionPolicy",
    "Uniform",
    "load_spec",
    "parse_duration",
    "parse_spec",
]
