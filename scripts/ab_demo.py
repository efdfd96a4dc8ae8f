"""An A/B test on the local platform, run to a decision: ``uv run python scripts/ab_demo.py``.

1. ``ml platform up`` (state in ``.mlops-ab/``, Traefik in front of the model servers);
2. two versions of a small model (``examples/ab/flaky_model.py``) registered: version 1 fails
   ``--champion-errors`` of requests (default 8 %), version 2 ``--challenger-errors`` (2 %);
   version 1 is deployed as the champion, version 2 gets the alias ``challenger``;
3. ``ml deploy examples/ab/ab.yaml`` under load: both serve 50/50, a look every 5 s, until the
   mSPRT picks a winner (here: version 2, usually within a minute) or the 5-minute horizon;
4. ``ml deploy status`` and the decision's audit records; ``ml platform down``.

Swap the rates (``--champion-errors 0.02 --challenger-errors 0.08``) to see the champion kept.
Options: ``--home DIR``, ``--concurrency N``, ``--keep`` (leave the platform running).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

MODEL = "ab-demo"
MARKER = ".ml-ab-demo-home"


def ml(*args: str, env: dict[str, str], check: bool = True) -> int:
    command = [str(Path(sys.executable).with_name("ml")), *args]
    print(f"$ ml {' '.join(args)}", flush=True)
    code = subprocess.run(command, env=env, check=False).returncode
    if check and code != 0:
        raise SystemExit(f"ab_demo: `ml {' '.join(args)}` failed with exit code {code}")
    return code


def register(error_rate: float, label: str) -> str:
    import mlflow

    mlflow.set_experiment("ab-demo")
    with mlflow.start_run(run_name=label):
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=str(REPO / "examples" / "ab" / "flaky_model.py"),
            model_config={"error_rate": error_rate, "label": label},
            pip_requirements=["mlflow"],
            registered_model_name=MODEL,
        )
    return str(info.registered_model_version)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, default=REPO / ".mlops-ab")
    parser.add_argument("--champion-errors", type=float, default=0.08)
    parser.add_argument("--challenger-errors", type=float, default=0.02)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    home = args.home.resolve()
    if home.exists():
        if not (home / MARKER).exists() and any(home.iterdir()):
            raise SystemExit(f"ab_demo: {home} exists and is not an A/B demo home; pass --home elsewhere")
        shutil.rmtree(home)
    home.mkdir(parents=True)
    (home / MARKER).write_text("created by scripts/ab_demo.py; safe to delete\n")
    env = {**os.environ, "ML_PLATFORM_HOME": str(home), "MLFLOW_DISABLE_TELEMETRY": "true"}
    os.environ.update({"ML_PLATFORM_HOME": str(home), "MLFLOW_DISABLE_TELEMETRY": "true"})
    began = time.time()
    ml("platform", "up", env=env)
    try:
        from ml.stack import resolve_outputs
        from ml.tracking import use_tracking

        client = use_tracking(resolve_outputs("local"))
        champion = register(args.champion_errors, "v1")
        challenger = register(args.challenger_errors, "v2")
        client.set_registered_model_alias(MODEL, "challenger", challenger)
        first = home / "first.yaml"
        first.write_text(
            f"model: models:/{MODEL}/{champion}\nstrategy: {{type: blue_green}}\nbake_time: 1s\n"
            "gates: {max_error_rate: 0.5, min_requests: 0, insufficient_traffic: pass}\n"
        )
        ml("deploy", str(first), "--stack", "local", env=env)

        from ml.deploy.loadgen import LoadGenerator

        outputs = resolve_outputs("local")
        assert outputs.endpoint is not None and outputs.endpoint.scoring_uri
        load = LoadGenerator(outputs.endpoint.scoring_uri, {"inputs": [[1.0, 2.0]]}, concurrency=args.concurrency)
        load.start()
        try:
            code = ml("deploy", str(REPO / "examples" / "ab" / "ab.yaml"), "--stack", "local", env=env, check=False)
        finally:
            load.stop()
        ml("deploy", "status", "--stack", "local", "--last", "4", env=env)
        print(f"ab_demo: ml deploy exited {code}; finished in {time.time() - began:.0f}s")
    finally:
        if not args.keep:
            ml("platform", "down", env=env, check=False)


if __name__ == "__main__":
    main()
