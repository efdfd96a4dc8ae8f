"""Helpers for the Kubernetes tests: the committed AKS stack, an EKS variant, components under mocks.

Why a direct component runner too: variants no committed stack has (on-demand pools, both clouds
in one program) are built from the component itself. It uses the offline plan's own provider
mocks, records each registration's real inputs the same way, and runs with preview=False so
every apply runs.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable
from typing import Any

import pulumi
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import settings as pulumi_settings

from infra.config import StackSettings, load_settings
from ml.contract.declared import OfflinePlan, PlannedResource
from ml.plan.mocks import PlatformMocks
from ml.plan.stack_file import StackConfig
from tests.infra.helpers import stack_config, with_changes

K8S_STACK = "dev-k8s"
SECRET_SIG = "4dabf18193072939515e22adb298388d"
NODE_ROLE = "arn:aws:iam::123456789012:role/eks-gpu-nodes"
SUBNETS = ["subnet-0a1b2c3d4e5f60718", "subnet-0a1b2c3d4e5f60719"]


def k8s_config() -> StackConfig:
    return stack_config(K8S_STACK)


def kubernetes_section(config: StackConfig | None = None) -> dict[str, Any]:
    """A deep copy of `mlops:kubernetes` to edit and put back with `with_changes`."""
    return copy.deepcopy((config or k8s_config()).values["mlops:kubernetes"])


def eks_config() -> StackConfig:
    """The committed dev-aws stack plus dev-k8s's kubernetes section pointed at an EKS cluster."""
    section = kubernetes_section()
    section["cluster"] = {"name": "eks-ml-dev", "nodeRoleArn": NODE_ROLE, "subnetIds": SUBNETS}
    section["gpuNodePool"]["instanceType"] = "g5.xlarge"
    section["gpuNodePool"]["amiType"] = "AL2023_x86_64_NVIDIA"
    section["serving"]["serviceAccountAnnotations"] = {
        "eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/model-serving"
    }
    return with_changes(stack_config("dev-aws"), {"kubernetes": section}, stack="dev-aws-k8s")


def settings_of(config: StackConfig) -> StackSettings:
    return load_settings(config.namespace("mlops"), source=f"Pulumi.{config.stack}.yaml")


def record_components(build: Callable[[pulumi.Resource], object], *, stack: str = "test") -> OfflinePlan:
    """Run `build(parent)` under the plan's mocks and return every registration with its inputs."""
    recorded: dict[str, PlannedResource] = {}

    class RecordingMonitor(pulumi_mocks.MockMonitor):
        def RegisterResource(self, request: Any) -> Any:  # noqa: N802 - gRPC method name
            response = super().RegisterResource(request)
            if request.type != "pulumi:pulumi:Stack":
                recorded[response.urn] = PlannedResource(
                    urn=response.urn,
                    type=request.type,
                    name=request.name,
                    parent_urn=request.parent,
                    custom=bool(request.custom),
                    protect=bool(request.protect),
                    inputs=pulumi.runtime.rpc.deserialize_properties(request.object),
                )
            return response

    mocks = PlatformMocks()
    pulumi_settings.ROOT.set(None)
    pulumi.runtime.set_mocks(mocks, project="mlops", stack=stack, preview=False, monitor=RecordingMonitor(mocks))

    @pulumi.runtime.test
    def program() -> Any:
        parent = pulumi.ComponentResource("test:index:Parent", "parent")
        build(parent)
        return pulumi.Output.from_input(None)

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        program()
    return OfflinePlan(stack=stack, resources=list(recorded.values()), outputs={})


def unsecret(value: Any) -> Any:
    """The plain value of a recorded secret input (and whether it was one)."""
    if isinstance(value, dict) and value.get(SECRET_SIG):
        return value["value"]
    return value


def pod_spec(plan: OfflinePlan, colour: str) -> dict[str, Any]:
    return plan.one("kubernetes:apps/v1:Deployment", f"model-serving-{colour}").inputs["spec"]["template"]["spec"]


def container(plan: OfflinePlan, colour: str) -> dict[str, Any]:
    containers = pod_spec(plan, colour)["containers"]
    assert len(containers) == 1
    return containers[0]
