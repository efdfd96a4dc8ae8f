"""Where the local platform keeps each piece of state under ``local_home()``: one place, so `up`,
`down`, the proxy and the local rollout target never disagree about a path."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ml.stack import LOCAL_OUTPUTS_FILE, local_home


@dataclass(frozen=True)
class Layout:
    """The files and directories of one local platform home."""

    home: Path

    @classmethod
    def current(cls) -> Layout:
        return cls(local_home())

    @property
    def outputs(self) -> Path:
        return self.home / LOCAL_OUTPUTS_FILE

    @property
    def mlflow_db(self) -> Path:
        return self.home / "mlflow.db"

    @property
    def artifacts(self) -> Path:
        return self.home / "artifacts"

    @property
    def services(self) -> Path:
        """Process records of the tracking server and the proxy."""
        return self.home / "platform"

    @property
    def deployments(self) -> Path:
        """Process records of the model servers (one JSON per deployment name)."""
        return self.home / "deployments"

    @property
    def logs(self) -> Path:
        return self.home / "logs"

    @property
    def proxy_static(self) -> Path:
        """Traefik's static config (ports, API, metrics, file provider), rewritten by each `up`."""
        return self.home / "proxy" / "traefik.yml"

    @property
    def proxy_dynamic(self) -> Path:
        """Traefik's dynamic config: the endpoint's traffic map, kept across `down` and `up`."""
        return self.home / "proxy" / "dynamic.yml"

    @property
    def audit(self) -> Path:
        return self.home / "audit.jsonl"

    @property
    def rollouts(self) -> Path:
        """Rollout journals (crash-safe state of an in-progress rollout)."""
        return self.home / "rollouts"

    def service_record(self, name: str) -> Path:
        return self.services / f"{name}.json"

    def deployment_record(self, name: str) -> Path:
        return self.deployments / f"{name}.json"
