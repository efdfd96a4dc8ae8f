"""The code folder a cloud trial runs: the spec's code directory plus the `ml.sweep.trial` helper.

Why a staged copy: training scripts import ``from ml.sweep import trial`` (report, checkpoint_dir,
should_stop), but a cloud container has no `ml` package installed. `trial.py` is standard-library
only on purpose, so the cloud backends ship it next to the user's code as ``ml/sweep/trial.py``
(unless the code directory brings its own ``ml`` package), together with any backend files (the
SageMaker entry shim, a requirements file). Local clutter that must not be uploaded (MLflow's
``mlruns``, caches, the local ``checkpoints`` folder, VCS metadata) is left out.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from pathlib import Path

from ml.contract.errors import UserError
from ml.sweep import trial
from ml.sweep.spec import SweepSpec

IGNORED = ("__pycache__", "*.pyc", ".git", ".venv", "mlruns", ".mlops", "checkpoints", ".ipynb_checkpoints")
"""Names never uploaded with a trial's code."""

MAX_CODE_BYTES = 100 * 1024 * 1024
"""Refuse to upload more than this: data belongs in `inputs`, not in the code folder."""

_PACKAGE_DOC = '"""Shipped with a sweep trial so `from ml.sweep import trial` works in the cloud container."""\n'


def stage_code(spec: SweepSpec, destination: Path, *, extra_files: Mapping[str, str] | None = None) -> Path:
    """Copy the spec's code into ``destination`` (which must not exist), add the trial helper and files."""
    source = spec.code_dir()
    if not source.is_dir():
        raise UserError(f"sweep spec {spec.source}: code directory {source} does not exist (key 'code')")
    shutil.copytree(source, destination, ignore=shutil.ignore_patterns(*IGNORED))
    size = sum(path.stat().st_size for path in destination.rglob("*") if path.is_file())
    if size > MAX_CODE_BYTES:
        raise UserError(
            f"sweep spec {spec.source}: the code directory {source} holds {size / 2**20:.0f} MiB (limit "
            f"{MAX_CODE_BYTES / 2**20:.0f} MiB); move data files out of it and pass them as 'inputs'"
        )
    if not (destination / "ml").exists():
        package = destination / "ml" / "sweep"
        package.mkdir(parents=True)
        (destination / "ml" / "__init__.py").write_text(_PACKAGE_DOC)
        (package / "__init__.py").write_text(_PACKAGE_DOC)
        shutil.copyfile(Path(trial.__file__), package / "trial.py")
    for name, text in (extra_files or {}).items():
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    return destination


def requirement_name(line: str) -> str:
    """The normalised distribution name of a requirement line (``MLflow>=3`` -> ``mlflow``)."""
    name = line.strip()
    for separator in ("[", "=", "<", ">", "!", "~", ";", " ", "@"):
        name = name.split(separator, 1)[0]
    return name.lower().replace("_", "-")


def requirements_for(spec: SweepSpec, *, add: tuple[str, ...] = ()) -> list[str] | None:
    """The spec's pip requirements (inline or from its requirements file) plus ``add`` when missing.

    None when the spec names only an image (its packages are the image's business).
    """
    environment = spec.environment
    if environment.pip is not None:
        lines = list(environment.pip)
    elif environment.requirements is not None:
        path = spec.code_dir() / environment.requirements
        if not path.is_file():
            raise UserError(
                f"sweep spec {spec.source}: environment.requirements file {path} does not exist "
                f"(it is read relative to the code directory)"
            )
        lines = [
            line.strip() for line in path.read_text().splitlines() if line.strip() and not line.strip().startswith("#")
        ]
    else:
        return None
    present = {requirement_name(line) for line in lines}
    return lines + [package for package in add if requirement_name(package) not in present]


def trial_environment(spec: SweepSpec) -> dict[str, str]:
    """What every backend puts in a trial's environment so `trial.log_model` logs the spec's requirements.

    ``ML_TRIAL_PIP_REQUIREMENTS`` is the spec's pip list (inline or from its requirements file) as
    JSON; a spec that names only an image sets nothing (the script then passes its own).
    """
    requirements = requirements_for(spec)
    return {} if requirements is None else {trial.REQUIREMENTS_ENV: json.dumps(requirements)}
