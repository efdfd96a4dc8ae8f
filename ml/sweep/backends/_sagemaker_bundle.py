"""The code a SageMaker trial runs: the spec's code, the entry module, its config and requirements.

Why staged this way: a SageMaker framework container (``sagemaker_program`` /
``sagemaker_submit_directory``) extracts ``sourcedir.tar.gz``, installs ``requirements.txt`` and
runs the program; the program is `ml.sweep.backends.sagemaker_entry`, staged from this package's
own source file (so what runs in the cloud is what is linted, typed and tested here), configured by
``ml_sweep.json`` (`shim_config`).
"""

from __future__ import annotations

import json
import tarfile
from pathlib import Path
from urllib.parse import urlparse

from ml.sweep.backends import sagemaker_entry
from ml.sweep.backends._cloud_staging import requirements_for
from ml.sweep.backends._sagemaker_job import CHECKPOINT_LOCAL_PATH, ENTRY, quantized
from ml.sweep.spec import DEFAULT_CHECKPOINT_ENV, SweepSpec

SWEEP_CONFIG = sagemaker_entry.CONFIG_FILE
TRACKING_PACKAGES = ("mlflow", "sagemaker-mlflow")
"""What a trial needs to log to a SageMaker managed MLflow server (added to the pip list when missing)."""


def entry_source() -> str:
    """The entry program's text: the source file of `ml.sweep.backends.sagemaker_entry` itself."""
    return Path(sagemaker_entry.__file__).read_text()


def shim_config(spec: SweepSpec) -> sagemaker_entry.EntryConfig:
    """What ``ml_sweep_entry.py`` needs to turn tuned values into the spec's command."""
    return {
        "command": spec.command,
        "parameters": list(spec.search_space),
        "quantize": quantized(spec),
        "inputs": {
            name: (Path(urlparse(item.path).path).name if item.type == "uri_file" else "")
            for name, item in spec.inputs.items()
        },
        "checkpoint_root": CHECKPOINT_LOCAL_PATH,
        "checkpoint_env": sorted({DEFAULT_CHECKPOINT_ENV, spec.spot.checkpoint_env}),
        "experiment": spec.experiment_name,
    }


def bundle_files(spec: SweepSpec) -> dict[str, str]:
    """The files added to the staged code: the entry program, its config, and requirements.txt."""
    files = {ENTRY: entry_source(), SWEEP_CONFIG: json.dumps(shim_config(spec), indent=2) + "\n"}
    requirements = requirements_for(spec, add=TRACKING_PACKAGES)
    if requirements is not None:
        files["requirements.txt"] = "\n".join(requirements) + "\n"
    return files


def make_tarball(directory: Path, target: Path) -> Path:
    """``sourcedir.tar.gz`` with the directory's content at its root (what the container extracts)."""
    with tarfile.open(target, "w:gz") as archive:
        for path in sorted(directory.rglob("*")):
            if path.is_file():
                archive.add(path, arcname=str(path.relative_to(directory)))
    return target
