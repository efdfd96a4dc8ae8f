"""A real `azure.ai.ml.MLClient` pointed at the ARM fake, and the pytest fixtures that provide both.

Why these pieces: azure-ai-ml picks its endpoints from a named *cloud* (``cloud=`` +
``cloud_metadata=``: ARM, storage suffix, portal), refuses bearer tokens over HTTP (so the fake
speaks HTTPS and the client trusts its CA through ``connection_verify``), and its blob uploads
go through azure-storage-blob, which reads ``REQUESTS_CA_BUNDLE``. A token credential that hands
out a constant token is all authentication needs; the fake does not check it.

Use the fixtures from a test module::

    from tests.fakes.azure_client import fake_arm, ml_client  # noqa: F401 -- pytest fixtures

    def test_x(ml_client, fake_arm): ...

`ml_client_for(arm)` builds a client for any `FakeArm`, `connection_for(arm)` the
`ml.azure.AzureConnection` behind it (for code that builds its own clients, e.g. the rollout
target); `fake_arm_env` sets the process-wide bits (CA bundle) and restores
``AZUREML_CURRENT_CLOUD``, which azure-ai-ml writes into ``os.environ`` whenever a client is built.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from ml import azure as ml_azure
from ml.azure import AzureConnection
from ml.contract import (
    ArtifactStoreRef,
    AutoscaleProfile,
    AzureWorkspaceRef,
    BudgetRef,
    EndpointRef,
    PlatformOutputs,
    TrainingProfile,
)
from tests.fakes.arm import FakeArm

if TYPE_CHECKING:
    from azure.ai.ml import MLClient


class FakeTokenCredential:
    """An azure-core TokenCredential that always has a valid (meaningless) token."""

    def __init__(self) -> None:
        self.scopes: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.credentials import AccessToken

        self.scopes.append(scopes)
        return AccessToken("fake-token", int(time.time()) + 3600)

    def get_token_info(self, *scopes: str, options: Any = None) -> Any:
        from azure.core.credentials import AccessTokenInfo

        self.scopes.append(scopes)
        return AccessTokenInfo("fake-token", int(time.time()) + 3600)


def workspace_ref(arm: FakeArm) -> AzureWorkspaceRef:
    """The contract's Azure section for the fake's workspace."""
    return AzureWorkspaceRef(
        subscription_id=arm.subscription_id, resource_group=arm.resource_group, workspace_name=arm.workspace_name
    )


def connection_for(arm: FakeArm) -> AzureConnection:
    """An `ml.azure.AzureConnection` whose every endpoint (ARM, discovery, run history, blob) is ``arm``.

    It is what production builds from `DefaultAzureCredential`, with the fake's cloud, CA and no
    poll delay: code under test that takes a connection reaches the fake exactly as it would Azure.
    """
    return AzureConnection(
        FakeTokenCredential(),
        resource_manager=f"{arm.url}/",
        cloud=arm.cloud_name,
        cloud_metadata=arm.cloud_metadata,
        connection_verify=str(arm.ca_path),
        polling_interval=0,
        enable_telemetry=False,
    )


def ml_client_for(arm: FakeArm, workspace: AzureWorkspaceRef | None = None) -> MLClient:
    """An MLClient whose every endpoint (ARM, discovery, run history, blob) is ``arm``."""
    client: MLClient = ml_azure.ml_client(workspace or workspace_ref(arm), connection_for(arm))
    return client


@pytest.fixture
def fake_arm_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """Restores AZUREML_CURRENT_CLOUD after the test (MLClient writes it into os.environ)."""
    monkeypatch.delenv("AZUREML_CURRENT_CLOUD", raising=False)
    yield monkeypatch


@pytest.fixture
def fake_arm(fake_arm_env: pytest.MonkeyPatch) -> Iterator[FakeArm]:
    """A started ARM fake, stopped after the test; REQUESTS_CA_BUNDLE trusts its CA meanwhile."""
    with FakeArm() as arm:
        fake_arm_env.setenv("REQUESTS_CA_BUNDLE", str(arm.ca_path))
        yield arm


@pytest.fixture
def ml_client(fake_arm: FakeArm) -> MLClient:
    """A real MLClient bound to the fake's workspace."""
    return ml_client_for(fake_arm)


def azure_outputs(arm: FakeArm | None, *, endpoint: str, autoscale: AutoscaleProfile) -> PlatformOutputs:
    """A dev-like Azure stack whose workspace is the fake's (no ``azure`` section when ``arm`` is None)."""
    return PlatformOutputs(
        stack="dev",
        environment="dev",
        cloud="azure",
        region="westeurope",
        tracking_uri="azureml://westeurope.api.azureml.ms/mlflow/v1.0/subscriptions/s/resourceGroups/r/workspaces/w",
        training=TrainingProfile(name="gpu", instance_type="Standard_NC4as_T4_v3", min_nodes=0, max_nodes=2, spot=True),
        artifacts=ArtifactStoreRef(
            name="st", uri="https://st.blob.core.windows.net/a", temp_prefix="tmp", checkpoint_prefix="ckpt"
        ),
        budget=BudgetRef(name="budget-dev", monthly_amount=500, currency="USD", thresholds_percent=[80, 100]),
        endpoint=EndpointRef(
            name=endpoint, instance_type="Standard_DS3_v2", instance_count=2, auth_mode="key", autoscale=autoscale
        ),
        azure=workspace_ref(arm) if arm is not None else None,
    )  # fmt: skip
