"""Small, realistic resources for the rule tests: the provider's type tokens and camelCase inputs.

Each factory returns a compliant resource; a test changes one property to make it violate, so the
pair differs in exactly the setting the policy is about.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from infra.guardrails import Resource

TAGS = {"environment": "dev", "cost-center": "ml-platform", "managed-by": "pulumi"}
PROD_TAGS = {**TAGS, "environment": "prod"}
BUCKET = "mlops-artifacts"


def resource(type_: str, name: str, props: dict[str, Any], *, protect: bool = False) -> Resource:
    return Resource(type_, name, props, protect, f"urn:pulumi:test::mlops::{type_}::{name}")


def changed(base: Resource, path: str, value: Any, *, protect: bool | None = None) -> Resource:
    """A copy of `base` with one (dotted) property set; None deletes it."""
    props = copy.deepcopy(dict(base.props))
    node = props
    *parents, last = path.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    if value is None:
        node.pop(last, None)
    else:
        node[last] = value
    return Resource(base.type, base.name, props, base.protect if protect is None else protect, base.urn)


def storage_account(tags: dict[str, str] = TAGS, **overrides: Any) -> Resource:
    props = {
        "accountName": "mlopsdevst",
        "allowBlobPublicAccess": False,
        "minimumTlsVersion": "TLS1_2",
        "enableHttpsTrafficOnly": True,
        "publicNetworkAccess": "Disabled",
        "networkRuleSet": {"defaultAction": "Deny"},
        "encryption": {"services": {"blob": {"enabled": True}, "file": {"enabled": True}}},
        "tags": dict(tags),
        **overrides,
    }
    return resource("azure-native:storage:StorageAccount", "workspace-storage", props)


def aml_compute(
    vm_size: str = "Standard_NC4as_T4_v3", *, min_nodes: float = 0.0, priority: str = "LowPriority"
) -> Resource:
    props = {
        "computeName": "gpu-cluster",
        "tags": dict(TAGS),
        "properties": {
            "computeType": "AmlCompute",
            "properties": {
                "vmSize": vm_size,
                "vmPriority": priority,
                "scaleSettings": {"minNodeCount": min_nodes, "maxNodeCount": 4.0},
                "enableNodePublicIp": False,
                "remoteLoginPortPublicAccess": "Disabled",
            },
        },
    }
    return resource("azure-native:machinelearningservices:Compute", "training-gpu", props)


def bucket_stack(*, block: bool = True, encryption: bool = True, tls_policy: bool = True) -> list[Resource]:
    """An S3 bucket with (or without) each of its guard resources."""
    found = [resource("aws:s3/bucket:Bucket", "artifacts-bucket", {"bucket": BUCKET, "tags": dict(TAGS)})]
    if block:
        flags = dict.fromkeys(
            ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"), True
        )
        found.append(
            resource("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "pab", {"bucket": BUCKET, **flags})
        )
    if encryption:
        rules = [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms"}, "bucketKeyEnabled": True}]
        found.append(
            resource(
                "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
                "sse",
                {"bucket": BUCKET, "rules": rules},
            )
        )
    if tls_policy:
        statements = [
            {
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
            {
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Condition": {"NumericLessThan": {"s3:TlsVersion": "1.2"}},
            },
        ]
        document = json.dumps({"Version": "2012-10-17", "Statement": statements})
        found.append(resource("aws:s3/bucketPolicy:BucketPolicy", "policy", {"bucket": BUCKET, "policy": document}))
    return found


def azure_budget(*, emails: list[str] | None = None, amount: float = 300.0) -> Resource:
    notification = {"enabled": True, "threshold": 80.0, "operator": "GreaterThanOrEqualTo", "thresholdType": "Actual"}
    notification["contactEmails"] = ["ml-platform@example.com"] if emails is None else emails
    props = {"amount": amount, "timeGrain": "Monthly", "notifications": {"Actual_80": notification}}
    return resource("azure-native:consumption:Budget", "budget-budget", props)


def hpa(target: str = "churn-blue", *, min_replicas: float = 1.0, max_replicas: float | None = 4.0) -> Resource:
    spec: dict[str, Any] = {
        "scaleTargetRef": {"kind": "Deployment", "apiVersion": "apps/v1", "name": target},
        "minReplicas": min_replicas,
    }
    if max_replicas is not None:
        spec["maxReplicas"] = max_replicas
    props = {"metadata": {"name": target, "namespace": "ml-serving"}, "spec": spec}
    return resource("kubernetes:autoscaling/v2:HorizontalPodAutoscaler", f"{target}-hpa", props)


def k8s_deployment(name: str = "churn-blue", *, replicas: float | None = None) -> Resource:
    spec: dict[str, Any] = {"selector": {"matchLabels": {"app": name}}}
    if replicas is not None:
        spec["replicas"] = replicas
    props = {"metadata": {"name": name, "namespace": "ml-serving"}, "spec": spec}
    return resource("kubernetes:apps/v1:Deployment", name, props)
