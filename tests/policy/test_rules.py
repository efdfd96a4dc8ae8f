"""Each guardrail, through the shared rules: one stack that violates it and one that passes.

Every pair differs in the one setting the policy is about, so a rule that stops looking at that
setting fails the violating case, and a rule that over-reports fails the passing case.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from infra.guardrails import GUARDRAILS, Resource, guardrail
from tests.policy.resources import (
    PROD_TAGS,
    TAGS,
    aml_compute,
    azure_budget,
    bucket_stack,
    changed,
    hpa,
    k8s_deployment,
    resource,
    storage_account,
)
from tests.policy.test_capture_policy import azure_policy as capture_expiry
from tests.policy.test_capture_policy import deployment as capture_deployment


@dataclass(frozen=True)
class Case:
    id: str
    policy: str
    violating: list[Resource]
    passing: list[Resource]
    expected: str
    """A fragment of the violation message, so the right check fired."""


def _public_bucket_policy() -> Resource:
    statement = {"Sid": "PublicRead", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "*"}
    return resource(
        "aws:s3/bucketPolicy:BucketPolicy", "policy", {"bucket": "b", "policy": json.dumps({"Statement": [statement]})}
    )


def _azure_deployment() -> Resource:
    props = {
        "deploymentName": "blue",
        "endpointName": "mlopsprod-endpoint",
        "tags": dict(TAGS),
        "properties": {"endpointComputeType": "Managed", "egressPublicNetworkAccess": "Disabled"},
    }
    return resource("azure-native:machinelearningservices:OnlineDeployment", "serving-blue", props)


def _autoscale(maximum: str | None = "10") -> Resource:
    capacity = {"minimum": "2", "default": "2", **({"maximum": maximum} if maximum is not None else {})}
    uri = (
        "/subscriptions/s/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/w"
        "/onlineEndpoints/mlopsprod-endpoint/deployments/blue"
    )
    props = {
        "enabled": True,
        "targetResourceUri": uri,
        "profiles": [{"name": "p", "capacity": capacity}],
        "tags": dict(TAGS),
    }
    return resource("azure-native:monitor:AutoscaleSetting", "serving-blue-autoscale", props)


def _sagemaker_endpoint() -> Resource:
    return resource("aws:sagemaker/endpoint:Endpoint", "serving-endpoint", {"name": "ep", "tags": dict(TAGS)})


def _scaling_target(minimum: float = 1.0, maximum: float = 4.0) -> Resource:
    props = {
        "serviceNamespace": "sagemaker",
        "resourceId": "endpoint/ep/variant/primary",
        "minCapacity": minimum,
        "maxCapacity": maximum,
        "tags": dict(TAGS),
    }
    return resource("aws:appautoscaling/target:Target", "scaling-target", props)


def _kms_key(rotation: bool) -> Resource:
    return resource("aws:kms/key:Key", "artifacts-key", {"enableKeyRotation": rotation, "tags": dict(TAGS)})


def _sagemaker_profile(spot: bool) -> Resource:
    return resource(
        "mlops:aws:GpuTrainingCluster", "training", {"instanceType": "ml.g5.xlarge", "enableManagedSpotTraining": spot}
    )


def _aks_gpu_pool(**overrides: object) -> Resource:
    props = {
        "vmSize": "Standard_NC4as_T4_v3",
        "enableAutoScaling": True,
        "minCount": 0.0,
        "maxCount": 2.0,
        "scaleSetPriority": "Spot",
        "gpuProfile": {"driver": "Install"},
        "tags": dict(TAGS),
        **overrides,
    }
    return resource("azure-native:containerservice:AgentPool", "gpu-pool-aks", props)


PROD_STORAGE = storage_account(PROD_TAGS)
PROD_DEPLOYMENT = changed(_azure_deployment(), "tags", PROD_TAGS)

CASES = [
    Case(
        "storage-public-blobs",
        "no-public-blob-or-bucket-access",
        [changed(storage_account(), "allowBlobPublicAccess", True)],
        [storage_account()],
        "allowBlobPublicAccess",
    ),
    Case(
        "container-public",
        "no-public-blob-or-bucket-access",
        [resource("azure-native:storage:BlobContainer", "c", {"publicAccess": "Blob"})],
        [resource("azure-native:storage:BlobContainer", "c", {"publicAccess": "None"})],
        "publicAccess",
    ),
    Case(
        "public-access-block-partial",
        "no-public-blob-or-bucket-access",
        [changed(bucket_stack()[1], "restrictPublicBuckets", False)],
        [bucket_stack()[1]],
        "restrictPublicBuckets",
    ),
    Case(
        "bucket-policy-public",
        "no-public-blob-or-bucket-access",
        [_public_bucket_policy()],
        [bucket_stack()[3]],
        "allows any principal",
    ),
    Case(
        "storage-tls-1-0",
        "tls-1-2-minimum",
        [changed(storage_account(), "minimumTlsVersion", "TLS1_0")],
        [storage_account()],
        "minimumTlsVersion",
    ),
    Case(
        "storage-http",
        "tls-1-2-minimum",
        [changed(storage_account(), "enableHttpsTrafficOnly", False)],
        [storage_account()],
        "plain HTTP",
    ),
    Case(
        "blob-encryption-off",
        "encryption-at-rest",
        [changed(storage_account(), "encryption.services.blob.enabled", False)],
        [storage_account()],
        "blob service",
    ),
    Case("kms-no-rotation", "encryption-at-rest", [_kms_key(False)], [_kms_key(True)], "enableKeyRotation"),
    Case(
        "bucket-without-encryption",
        "s3-bucket-guards",
        bucket_stack(encryption=False),
        bucket_stack(),
        "BucketServerSideEncryptionConfiguration",
    ),
    Case(
        "bucket-without-block", "s3-bucket-guards", bucket_stack(block=False), bucket_stack(), "BucketPublicAccessBlock"
    ),
    Case(
        "bucket-without-tls-policy",
        "s3-bucket-guards",
        bucket_stack(tls_policy=False),
        bucket_stack(),
        "aws:SecureTransport",
    ),
    Case(
        "aml-gpu-warm-node",
        "gpu-training-scale-to-zero",
        [aml_compute(min_nodes=1.0)],
        [aml_compute(), aml_compute("Standard_DS3_v2", min_nodes=1.0)],
        "minNodeCount=1",
    ),
    Case(
        "aks-gpu-pool-floor",
        "gpu-training-scale-to-zero",
        [_aks_gpu_pool(minCount=1.0)],
        [_aks_gpu_pool()],
        "minCount=1",
    ),
    Case(
        "aml-gpu-dedicated",
        "gpu-training-spot",
        [aml_compute(priority="Dedicated")],
        [aml_compute(), aml_compute("Standard_DS3_v2", priority="Dedicated")],
        "Dedicated",
    ),
    Case(
        "sagemaker-on-demand",
        "gpu-training-spot",
        [_sagemaker_profile(False)],
        [_sagemaker_profile(True)],
        "managed spot",
    ),
    Case(
        "no-budget",
        "budget-with-notifications",
        [storage_account()],
        [storage_account(), azure_budget()],
        "declares no budget",
    ),
    Case(
        "budget-without-recipients",
        "budget-with-notifications",
        [azure_budget(emails=[])],
        [azure_budget()],
        "no notification",
    ),
    Case(
        "hpa-inverted",
        "autoscaler-has-maximum",
        [hpa(min_replicas=5.0, max_replicas=2.0)],
        [hpa()],
        "below its minimum",
    ),
    Case("azure-autoscale-no-max", "autoscaler-has-maximum", [_autoscale(None)], [_autoscale()], "no maximum"),
    Case(
        "scaling-target-inverted",
        "autoscaler-has-maximum",
        [_scaling_target(4.0, 2.0)],
        [_scaling_target()],
        "below its minimum",
    ),
    Case(
        "k8s-deployment-unscaled",
        "endpoints-autoscale",
        [k8s_deployment()],
        [k8s_deployment(), hpa(), k8s_deployment("churn-green", replicas=0.0)],
        "no HorizontalPodAutoscaler",
    ),
    Case(
        "azure-deployment-unscaled",
        "endpoints-autoscale",
        [_azure_deployment()],
        [_azure_deployment(), _autoscale()],
        "no autoscale setting",
    ),
    Case(
        "sagemaker-endpoint-unscaled",
        "endpoints-autoscale",
        [_sagemaker_endpoint()],
        [_sagemaker_endpoint(), _scaling_target()],
        "no scalable target",
    ),
    Case(
        "missing-cost-center",
        "required-tags",
        [changed(storage_account(), "tags.cost-center", None)],
        [storage_account(), resource("azure-native:storage:BlobContainer", "c", {"publicAccess": "None"})],
        "cost-center",
    ),
    Case(
        "prod-unprotected",
        "prod-protect-stateful",
        [PROD_STORAGE],
        [changed(PROD_STORAGE, "accountName", "x", protect=True)],
        "not protected",
    ),
    Case(
        "prod-public-storage",
        "prod-no-public-network",
        [changed(PROD_STORAGE, "publicNetworkAccess", "Enabled")],
        [PROD_STORAGE],
        "publicNetworkAccess",
    ),
    Case(
        "prod-public-deployment-egress",
        "prod-no-public-network",
        [changed(PROD_DEPLOYMENT, "properties.egressPublicNetworkAccess", "Enabled")],
        [PROD_DEPLOYMENT],
        "egressPublicNetworkAccess",
    ),
    Case(
        "prod-deployment-without-capture",
        "prod-captures-and-expires",
        [changed(capture_deployment(PROD_TAGS), "properties.dataCollector", None), capture_expiry()],
        [capture_deployment(PROD_TAGS), capture_expiry()],
        "data collector does not collect",
    ),
]


def test_every_guardrail_has_a_case() -> None:
    assert {g.name for g in GUARDRAILS} == {c.policy for c in CASES}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_violating_resources_are_reported(case: Case) -> None:
    findings = guardrail(case.policy).findings(case.violating, {})
    assert findings, f"{case.policy} found nothing in {case.violating}"
    assert any(case.expected in f.message for f in findings), [f.message for f in findings]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_passing_resources_are_not_reported(case: Case) -> None:
    assert guardrail(case.policy).findings(case.passing, {}) == []


@pytest.mark.parametrize("policy", ["prod-protect-stateful", "prod-no-public-network"])
def test_production_rules_skip_a_dev_stack_and_follow_config(policy: str) -> None:
    """The same unprotected, public account is fine in dev, and a violation once config calls dev production."""
    dev_account = changed(storage_account(), "publicNetworkAccess", "Enabled")
    assert guardrail(policy).findings([dev_account], {}) == []
    assert guardrail(policy).findings([dev_account], {"productionEnvironments": ["dev"]})
