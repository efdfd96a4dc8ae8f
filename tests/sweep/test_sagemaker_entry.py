"""The SageMaker trial entry point is a real module: staged from its own source, and its parts run here.

The end-to-end run of the staged program (placeholders, checkpoints, metric line) is in
test_sagemaker_backend.py; these tests hold the module's pieces and the staging to account.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from ml.sweep.backends import sagemaker_entry
from ml.sweep.backends._sagemaker_bundle import entry_source
from ml.sweep.backends._sagemaker_job import ENTRY
from ml.sweep.backends.sagemaker import bundle_files, shim_config
from ml.sweep.backends.sagemaker_entry import (
    EntryConfig,
    decode,
    input_paths,
    quantize,
    render_command,
    run_trial,
    tuned_values,
)
from ml.sweep.spec import SweepSpec, parse_spec


def make_spec(tmp_path: Path) -> SweepSpec:
    code = tmp_path / "train"
    code.mkdir(exist_ok=True)
    text = (
        "name: entry-test\n"
        f"code: {code}\n"
        "command: python train.py --lr ${{search_space.lr}} --trees ${{ search_space.trees }} "
        "--loss ${{search_space.loss}} --early ${{search_space.early}} --data ${{inputs.train}}\n"
        "environment: {pip: [scikit-learn]}\n"
        "inputs: {train: {type: uri_file, path: s3://bucket/data/train.csv}}\n"
        "search_space:\n"
        "  lr: {type: loguniform, min_value: 0.01, max_value: 0.3}\n"
        "  trees: {type: quniform, min_value: 50, max_value: 200, q: 50}\n"
        "  loss: {type: choice, values: [log loss, exponential]}\n"
        "  early: {type: choice, values: [true, false]}\n"
        "objective: {metric: val_auc, goal: maximize}\n"
        "sampling: random\n"
        "limits: {max_total_trials: 4, trial_timeout: 10m}\n"
    )
    return parse_spec(text, source="entry.yaml", base_dir=tmp_path)


def test_the_staged_program_is_the_module_source(tmp_path: Path) -> None:
    spec = make_spec(tmp_path)
    files = bundle_files(spec)
    module_file = Path(sagemaker_entry.__file__)
    assert module_file.name == "sagemaker_entry.py" and module_file.parent.name == "backends"
    assert files[ENTRY] == entry_source() == module_file.read_text()
    config = json.loads(files[sagemaker_entry.CONFIG_FILE])
    assert config == shim_config(spec)
    assert set(config) == set(EntryConfig.__annotations__)


def test_tuned_values_are_decoded_and_quantized(tmp_path: Path) -> None:
    config = shim_config(make_spec(tmp_path))
    raw = {"lr": "0.1", "trees": "112.0", "loss": '"log loss"', "early": "true", "sagemaker_program": '"x"'}
    assert tuned_values(config, raw) == {"lr": 0.1, "trees": 100, "loss": "log loss", "early": True}
    assert decode("not json") == "not json" and decode(None) is None
    assert quantize(0.26, 0.1) == pytest.approx(0.3) and quantize(74.0, 50) == 50
    with pytest.raises(SystemExit, match=r"hyperparameter 'early' was not passed to this training job"):
        tuned_values(config, {"lr": "0.1", "trees": "100", "loss": "exponential"})


def test_the_command_renders_as_the_spec_renders_it(tmp_path: Path) -> None:
    """The entry module keeps its own copy of the placeholder rule (it runs without `ml`): same output."""
    spec = make_spec(tmp_path)
    config = shim_config(spec)
    inputs = input_paths(config)
    assert inputs == {"train": "/opt/ml/input/data/train/train.csv"}
    values = {"lr": 0.1, "trees": 100, "loss": "log loss", "early": False}
    rendered = render_command(config["command"], values, inputs)
    assert rendered == spec.render_command(values, inputs)
    assert "--loss 'log loss' --early false --data /opt/ml/input/data/train/train.csv" in rendered


def test_run_trial_runs_the_command_with_checkpoints_and_exit_status(tmp_path: Path) -> None:
    config: EntryConfig = {
        "command": f'{sys.executable} -c \'import os, sys; print(os.environ["MY_CKPT"]); '
        "sys.exit(int(${{search_space.code}}))'",
        "parameters": ["code"],
        "quantize": {},
        "inputs": {},
        "checkpoint_root": "/unused",
        "checkpoint_env": ["ML_CHECKPOINT_DIR", "MY_CKPT"],
        "experiment": "entry-test",
    }
    root = tmp_path / "checkpoints"
    assert run_trial(config, {"code": "0"}, job="job-1", checkpoint_root=root, workdir=tmp_path) == 0
    assert (root / "job-1").is_dir()
    assert run_trial(config, {"code": "3"}, job="job-2", checkpoint_root=root, workdir=tmp_path) == 3
