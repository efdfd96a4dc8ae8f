"""A serving pod's entry point: MLflow's scoring server behind the platform's scoring wrapper.

Why not `mlflow models serve`: the wrapper (`ml.platform.scoring_app`) is what turns a model
failure into a 500 and writes the capture records (`ml.platform.capture`); a Kubernetes colour
must capture in the same shape as the local endpoint. This does what the local launcher
(`ml.platform.model_server`) does in two processes: download ``$MODEL_URI`` (``models:/`` via
``MLFLOW_TRACKING_URI``) to the pod's writable ``/tmp``, then exec uvicorn on the wrapped app.

Run: ``python -m ml.platform.serve --host 0.0.0.0 --port 8080 --workers 2`` (the pod template's command).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--model-uri", default=os.environ.get("MODEL_URI", ""))
    args = parser.parse_args(argv)
    if not args.model_uri:
        raise SystemExit("serve: no model: set MODEL_URI (models:/<name>/<version>) or pass --model-uri")
    import mlflow.artifacts
    from mlflow.pyfunc import scoring_server

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    target = tempfile.mkdtemp(prefix="model-")
    os.environ[scoring_server._SERVER_MODEL_PATH] = mlflow.artifacts.download_artifacts(
        artifact_uri=args.model_uri, dst_path=target
    )
    argv_uvicorn = [sys.executable, "-m", "uvicorn", "--host", args.host, "--port", str(args.port)]
    argv_uvicorn += ["--workers", str(max(1, args.workers)), "--no-access-log", "ml.platform.scoring_app:app"]
    os.execv(sys.executable, argv_uvicorn)  # noqa: S606 - replace this process with the server, argv fixed above


if __name__ == "__main__":
    main()
