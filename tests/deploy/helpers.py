"""The rollout test world both engine test modules build: one target, one registered model, one engine factory."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from ml.contract import PlatformOutputs
from ml.deploy.audit import AuditTrail
from ml.deploy.engine import RolloutEngine
from ml.deploy.registry import Registry
from ml.deploy.spec import RolloutSpec, parse_spec
from tests.deploy.memory_target import MemoryTarget


class RolloutWorld:
    """One endpoint (an in-memory target), one registered model, one engine factory."""

    def __init__(self, outputs: PlatformOutputs, client: Any, journal_dir: Path, target: MemoryTarget) -> None:
        self.outputs, self.client, self.journal_dir = outputs, client, journal_dir
        self.registry = Registry(client)
        self.audit = AuditTrail(outputs, client)
        self.target = target
        self.model = f"m-{uuid.uuid4().hex[:8]}"
        client.create_registered_model(self.model)
        self.events: list = []

    def configure(self, version: str, how: Any) -> None:
        """Tell the target how ``version`` behaves (each world's target has its own knob)."""
        raise NotImplementedError

    def version(self, how: Any = None) -> str:
        """A new version of the model, configured on the target when ``how`` is given, aliased challenger."""
        version = str(self.client.create_model_version(self.model, source="file:///tmp/model").version)
        if how is not None:
            self.configure(version, how)
        self.client.set_registered_model_alias(self.model, "challenger", version)
        return version

    def engine(self) -> RolloutEngine:
        return RolloutEngine(
            self.outputs, self.target, registry=self.registry, audit=self.audit, journal_dir=self.journal_dir,
            on_event=self.events.append, poll_interval=0.01, drain_seconds=0.0,
        )  # fmt: skip

    def spec(self, strategy: str, gates: str = "{min_requests: 10, max_wait: 0.2}", bake: str = "0") -> RolloutSpec:
        text = f"model: models:/{self.model}@challenger\nstrategy: {strategy}\nbake_time: {bake}\ngates: {gates}\n"
        return parse_spec(text)

    def tags(self, version: str) -> dict[str, str]:
        return dict(self.client.get_model_version(self.model, version).tags)
