"""What must hold before a rollout creates anything, and what a promotion leaves behind.

Why here, in front of every target: approval and offline validation need only the registry and
the evaluation data, so the engine runs them before any target call (no deployment, no traffic,
no journal, no alias moved when they refuse), the same for local, Azure, SageMaker and
Kubernetes. After a promotion the new champion's model card is rebuilt from the records and
logged on the version, so ``champion`` always has a current card.

Refusals are `RolloutRefusedError` (a `UserError`: one clear message, exit code 2) and each leaves an
audit record (``approval.missing``, ``validate``) with the evidence.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ml.contract import PlatformOutputs
from ml.contract.errors import UserError
from ml.deploy.audit import AuditTrail, read_records
from ml.deploy.events import RolloutEvent
from ml.deploy.target import ModelRef
from ml.tracking import local_artifact_root

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from ml.validate.evaluate import ValidationResult
    from ml.validate.spec import ValidationSpec


class RolloutRefusedError(UserError):
    """A rollout refused before anything was created (no approval, or validation failed)."""


def require_approval_setting(outputs: PlatformOutputs) -> bool:
    """The stack's ``mlops:deploy.requireApproval``, as exported in the platform outputs."""
    deploy = getattr(outputs, "deploy", None)
    return bool(getattr(deploy, "require_approval", False))


class Guards:
    """Approval and validation before a rollout; the model card after a promotion."""

    def __init__(
        self,
        outputs: PlatformOutputs,
        client: MlflowClient,
        audit: AuditTrail,
        *,
        endpoint: str,
        on_event: Callable[[RolloutEvent], None] | None = None,
    ) -> None:
        self.outputs = outputs
        self.client = client
        self.audit = audit
        self.endpoint = endpoint
        self.on_event = on_event

    def _event(self, kind: str, message: str, outcome: str, gates: dict[str, Any] | None = None) -> None:
        if self.on_event is not None:
            self.on_event(RolloutEvent(time.time(), kind, message, outcome, gates=gates))

    def before_create(
        self, model: ModelRef, validation: ValidationSpec | None, *, alias: str, base_dir: Path
    ) -> ValidationResult | None:
        """Refuse (`RolloutRefusedError`) an unapproved version where approval is required, or a failed validation."""
        check_id = f"check-{uuid.uuid4().hex[:12]}"
        if require_approval_setting(self.outputs):
            from ml.model.approvals import require_approval

            try:
                approval = require_approval(self.client, model.name, model.version, stack=self.outputs.stack)
            except UserError as exc:
                self.audit.record(
                    "approval.missing", rollout_id=check_id, endpoint=self.endpoint, outcome="fail",
                    message=str(exc), to=model.uri,
                )  # fmt: skip
                raise RolloutRefusedError(f"rollout refused before anything was created: {exc}") from None
            self._event("approval", f"{model.uri} approved by {approval['by']} at {approval['at']}: "
                        f"{approval['reason']}", "pass")  # fmt: skip
        if validation is None:
            return None
        return self._validate(model, validation, alias=alias, base_dir=base_dir, check_id=check_id)

    def _validate(
        self, model: ModelRef, spec: ValidationSpec, *, alias: str, base_dir: Path, check_id: str
    ) -> ValidationResult:
        from ml.validate.evaluate import validate
        from ml.validate.record import tag_version

        self._event("validate", f"evaluating {model.uri} on {spec.data} with mlflow.models.evaluate", "info")
        result = validate(
            self.client,
            spec,
            name=model.name,
            version=model.version,
            base_dir=base_dir,
            artifact_root=local_artifact_root(self.outputs),
        )
        tag_version(self.client, result)
        against = f"models:/{model.name}/{result.against_version}" if result.against_version else None
        outcome = "pass" if result.passed else "fail"
        self.audit.record(
            "validate", rollout_id=check_id, endpoint=self.endpoint, outcome=outcome, message=result.summary(),
            from_=against, to=model.uri, extra={"validation": result.to_dict()},
        )  # fmt: skip
        self._event("validate", result.summary(), outcome, gates={"validation": result.to_dict()})
        if not result.passed:
            raise RolloutRefusedError(
                f"rollout refused before anything was created: validation of {model.uri} failed: "
                + "; ".join(result.reasons)
                + f" (full result: run {result.run_id} in experiment ml-validations; "
                f"`ml model show {model.name}/{model.version}`)"
            )
        return result

    def after_promote(self, model: ModelRef, *, rollout_id: str) -> str | None:
        """Rebuild and log the promoted version's card; a failure is an audited warning, never a failed rollout."""
        from ml.model.card import build_card
        from ml.model.refs import VersionRef
        from ml.model.render import publish_card

        try:
            card = build_card(
                self.client, VersionRef(model.name, version=model.version), audit_records=read_records(self.audit.path)
            )
            uri = publish_card(self.client, card, artifact_root=local_artifact_root(self.outputs))
        except Exception as exc:
            self.audit.record(
                "card", rollout_id=rollout_id, endpoint=self.endpoint, outcome="warning",
                message=f"could not refresh the model card of {model.uri}: {exc}", to=model.uri,
            )  # fmt: skip
            return None
        # the promotion's own record stays the rollout's last; the card's place is the version's ml.card.uri tag
        self._event("card", f"model card logged on {model.uri}: {uri}", "ok")
        return uri
