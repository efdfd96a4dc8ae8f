"""AWS (pulumi-aws) for the offline plan: provider outputs, invoke answers, key inputs to show.

Why these fillers: the AWS program reads provider-filled outputs everywhere (the bucket's name and
ARN into IAM policies, the key ARN into encryption, the tracking server's ARN into the contract,
the endpoint's name into autoscaling and alarms). The filler answers with deterministic,
well-formed placeholders in account 123456789012, in the region the resource was given, and
mimics Pulumi's auto-naming (`<name>-<7 hex>`) where the program leaves a name to the provider.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable
from typing import Any

import pulumi

from ml.plan.providers.base import Summary, pick_paths

PACKAGE = "aws"
ACCOUNT_ID = "123456789012"
DEFAULT_REGION = "us-east-1"
"""Region of global services (IAM, Budgets) in ARNs that carry one, and of resources given none."""


def _digest(text: str, length: int) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def _auto_name(args: pulumi.runtime.MockResourceArgs, key: str = "name") -> str:
    """The physical name: the program's, else Pulumi's auto-name (logical name + 7 hex characters)."""
    given = args.inputs.get(key)
    return str(given) if given else f"{args.name}-{_digest(args.name, 7)}"


def _sagemaker(kind: str) -> Callable[[pulumi.runtime.MockResourceArgs, str], dict[str, Any]]:
    def fill(args: pulumi.runtime.MockResourceArgs, region: str) -> dict[str, Any]:
        name = _auto_name(args)
        return {"name": name, "id": name, "arn": f"arn:aws:sagemaker:{region}:{ACCOUNT_ID}:{kind}/{name.lower()}"}

    return fill


def _bucket(args: pulumi.runtime.MockResourceArgs, region: str) -> dict[str, Any]:
    name = _auto_name(args, "bucket")
    return {
        "bucket": name,
        "id": name,
        "arn": f"arn:aws:s3:::{name}",
        "bucketDomainName": f"{name}.s3.amazonaws.com",
        "bucketRegionalDomainName": f"{name}.s3.{region}.amazonaws.com",
    }


def _key(args: pulumi.runtime.MockResourceArgs, region: str) -> dict[str, Any]:
    key_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"kms:{args.name}"))
    return {"keyId": key_id, "id": key_id, "arn": f"arn:aws:kms:{region}:{ACCOUNT_ID}:key/{key_id}"}


def _alias(args: pulumi.runtime.MockResourceArgs, region: str) -> dict[str, Any]:
    name = _auto_name(args)
    return {"name": name, "id": name, "arn": f"arn:aws:kms:{region}:{ACCOUNT_ID}:{name}"}


def _role(args: pulumi.runtime.MockResourceArgs, region: str) -> dict[str, Any]:
    name = _auto_name(args)
    return {
        "name": name,
        "id": name,
        "arn": f"arn:aws:iam::{ACCOUNT_ID}:role/{name}",
        "uniqueId": f"AROA{_digest(name, 17).upper()}",
    }


def _role_policy(args: pulumi.runtime.MockResourceArgs, region: str) -> dict[str, Any]:
    name = _auto_name(args)
    return {"name": name, "id": f"{args.inputs.get('role')}:{name}"}


def _tracking_server(args: pulumi.runtime.MockResourceArgs, region: str) -> dict[str, Any]:
    name = args.inputs.get("trackingServerName", args.name)
    return {
        "id": name,
        "arn": f"arn:aws:sagemaker:{region}:{ACCOUNT_ID}:mlflow-tracking-server/{name}",
        "trackingServerUrl": f"https://t-{_digest(name, 12)}.{region}.experiments.sagemaker.aws",
    }


def _domain(args: pulumi.runtime.MockResourceArgs, region: str) -> dict[str, Any]:
    domain_id = f"d-{_digest(args.name, 12)}"
    return {
        "id": domain_id,
        "arn": f"arn:aws:sagemaker:{region}:{ACCOUNT_ID}:domain/{domain_id}",
        "url": f"https://{domain_id}.studio.{region}.sagemaker.aws",
        "homeEfsFileSystemId": f"fs-{_digest(args.name, 17)}",
    }


def _scalable_target(args: pulumi.runtime.MockResourceArgs, region: str) -> dict[str, Any]:
    return {
        "id": args.inputs.get("resourceId", args.name),
        "arn": f"arn:aws:application-autoscaling:{region}:{ACCOUNT_ID}:scalable-target/{_digest(args.name, 28)}",
    }


def _scaling_policy(args: pulumi.runtime.MockResourceArgs, region: str) -> dict[str, Any]:
    name = _auto_name(args)
    resource = args.inputs.get("resourceId", "")
    return {
        "name": name,
        "id": name,
        "arn": f"arn:aws:autoscaling:{region}:{ACCOUNT_ID}:scalingPolicy:{uuid.uuid5(uuid.NAMESPACE_URL, name)}:"
        f"resource/sagemaker/{resource}:policyName/{name}",
        "alarmArns": [],
    }


def _alarm(args: pulumi.runtime.MockResourceArgs, region: str) -> dict[str, Any]:
    name = _auto_name(args)
    return {"name": name, "id": name, "arn": f"arn:aws:cloudwatch:{region}:{ACCOUNT_ID}:alarm:{name}"}


def _budget(args: pulumi.runtime.MockResourceArgs, region: str) -> dict[str, Any]:
    name = _auto_name(args)
    return {
        "name": name,
        "id": f"{ACCOUNT_ID}:{name}",
        "arn": f"arn:aws:budgets::{ACCOUNT_ID}:budget/{name}",
        "accountId": ACCOUNT_ID,
    }


def _cost_tag(args: pulumi.runtime.MockResourceArgs, region: str) -> dict[str, Any]:
    return {"id": args.inputs.get("tagKey", args.name), "type": "UserDefined"}


_FILLERS: dict[str, Callable[[pulumi.runtime.MockResourceArgs, str], dict[str, Any]]] = {
    "aws:s3/bucket:Bucket": _bucket,
    "aws:kms/key:Key": _key,
    "aws:kms/alias:Alias": _alias,
    "aws:iam/role:Role": _role,
    "aws:iam/rolePolicy:RolePolicy": _role_policy,
    "aws:sagemaker/mlflowTrackingServer:MlflowTrackingServer": _tracking_server,
    "aws:sagemaker/domain:Domain": _domain,
    "aws:sagemaker/model:Model": _sagemaker("model"),
    "aws:sagemaker/endpointConfiguration:EndpointConfiguration": _sagemaker("endpoint-config"),
    "aws:sagemaker/endpoint:Endpoint": _sagemaker("endpoint"),
    "aws:appautoscaling/target:Target": _scalable_target,
    "aws:appautoscaling/policy:Policy": _scaling_policy,
    "aws:cloudwatch/metricAlarm:MetricAlarm": _alarm,
    "aws:budgets/budget:Budget": _budget,
    "aws:costexplorer/costAllocationTag:CostAllocationTag": _cost_tag,
}


def fill_outputs(args: pulumi.runtime.MockResourceArgs) -> dict[str, Any]:
    inputs = args.inputs
    region = str(inputs.get("region") or DEFAULT_REGION)
    filler = _FILLERS.get(args.typ)
    if filler is not None:
        filled = filler(args, region)
    elif "bucket" in inputs:
        # The bucket's sub-resources (versioning, encryption, policy, ...) are identified by the bucket.
        filled = {"id": inputs["bucket"]}
    else:
        service = args.typ.split(":")[1].split("/")[0]
        name = _auto_name(args)
        filled = {"id": name, "arn": f"arn:aws:{service}:{region}:{ACCOUNT_ID}:{name}"}
    state: dict[str, Any] = {**inputs, **filled}
    if "tags" in inputs:
        state["tagsAll"] = inputs["tags"]
    return state


INVOKES = {
    "aws:index/getCallerIdentity:getCallerIdentity": lambda _: {
        "accountId": ACCOUNT_ID,
        "arn": f"arn:aws:iam::{ACCOUNT_ID}:user/offline-plan",
        "id": ACCOUNT_ID,
        "userId": "AIDAOFFLINEPLANUSER0001",
    },
    "aws:index/getPartition:getPartition": lambda _: {
        "dnsSuffix": "amazonaws.com",
        "id": "aws",
        "partition": "aws",
        "reverseDnsPrefix": "com.amazonaws",
    },
    # The existing EKS cluster Kubernetes serving connects to (endpoint and CA for its kubeconfig).
    "aws:eks/getCluster:getCluster": lambda args: {
        "name": args.get("name"),
        "id": args.get("name"),
        "arn": f"arn:aws:eks:{args.get('region') or DEFAULT_REGION}:{ACCOUNT_ID}:cluster/{args.get('name')}",
        "endpoint": f"https://{_digest(str(args.get('name')), 32).upper()}.gr7.{args.get('region') or DEFAULT_REGION}"
        ".eks.amazonaws.com",
        "certificateAuthorities": [{"data": "T0ZGTElORS1QTEFOLVBMQUNFSE9MREVSLUNB"}],
        "status": "ACTIVE",
    },
}


def _policy(inputs: dict[str, Any], key: str = "policy") -> dict[str, Any]:
    """Each statement as `Effect action(s) on resource(s)`: what a reviewer checks in a policy."""
    document = inputs.get(key)
    if not isinstance(document, str):
        return {}
    statements = json.loads(document).get("Statement", [])
    summary = {}
    for index, statement in enumerate(statements):
        actions = statement.get("Action")
        resources = statement.get("Resource", statement.get("Principal"))
        label = statement.get("Sid") or f"statement{index}"
        condition = statement.get("Condition")
        when = f" when {json.dumps(condition)}" if condition else ""
        summary[label] = f"{statement['Effect']} {json.dumps(actions)} on {json.dumps(resources)}{when}"
    return summary


def _trust(inputs: dict[str, Any]) -> dict[str, Any]:
    document = json.loads(inputs.get("assumeRolePolicy") or "{}")
    principals = [s.get("Principal") for s in document.get("Statement", [])]
    summary = {"name": inputs.get("name"), "trust": principals, "maxSessionDuration": inputs.get("maxSessionDuration")}
    return {key: value for key, value in summary.items() if value is not None}


def _lifecycle(inputs: dict[str, Any]) -> dict[str, Any]:
    rules = {}
    for rule in inputs.get("rules", []):
        scope = (rule.get("filter") or {}).get("prefix") or "(whole bucket)"
        actions = [f"{t['storageClass']} at {t['days']:g}d" for t in rule.get("transitions", [])]
        expiration = rule.get("expiration") or {}
        if "days" in expiration:
            actions.append(f"delete at {expiration['days']:g}d")
        if expiration.get("expiredObjectDeleteMarker"):
            actions.append("drop expired delete markers")
        if "noncurrentVersionExpiration" in rule:
            actions.append(f"old versions deleted at {rule['noncurrentVersionExpiration']['noncurrentDays']:g}d")
        if "abortIncompleteMultipartUpload" in rule:
            days = rule["abortIncompleteMultipartUpload"]["daysAfterInitiation"]
            actions.append(f"incomplete uploads aborted at {days:g}d")
        rules[scope] = actions
    return {"rules": rules}


def _encryption(inputs: dict[str, Any]) -> dict[str, Any]:
    rule = (inputs.get("rules") or [{}])[0]
    default = rule.get("applyServerSideEncryptionByDefault", {})
    return {
        "sseAlgorithm": default.get("sseAlgorithm"),
        "kmsKey": default.get("kmsMasterKeyId"),
        "bucketKey": rule.get("bucketKeyEnabled"),
    }


def _variants(inputs: dict[str, Any]) -> dict[str, Any]:
    return {
        "variants": [
            f"{v['variantName']}: {v['instanceType']} x{v['initialInstanceCount']:g}"
            for v in inputs.get("productionVariants", [])
        ],
        "kmsKeyArn": inputs.get("kmsKeyArn", "(instance storage: hardware-encrypted)"),
        **({"dataCapture": _data_capture(inputs["dataCaptureConfig"])} if inputs.get("dataCaptureConfig") else {}),
    }


def _data_capture(config: dict[str, Any]) -> str:
    modes = "+".join(str(option.get("captureMode")) for option in config.get("captureOptions", []))
    return (
        f"{modes} at {config.get('initialSamplingPercentage', 0):g}% to {config.get('destinationS3Uri')} "
        f"(KMS {config.get('kmsKeyId', 'none')})"
    )


def _scaling_policy_summary(inputs: dict[str, Any]) -> dict[str, Any]:
    config = inputs.get("targetTrackingScalingPolicyConfiguration", {})
    metric = config.get("predefinedMetricSpecification", {}).get("predefinedMetricType")
    return {
        "rule": f"keep {metric} at {config.get('targetValue'):g}",
        "cooldowns": f"out {config.get('scaleOutCooldown'):g}s, in {config.get('scaleInCooldown'):g}s",
    }


def _alarm_summary(inputs: dict[str, Any]) -> dict[str, Any]:
    if inputs.get("metricQueries"):  # a metric-math alarm (the drift alarm's SEARCH)
        expression = next((q.get("expression") for q in inputs["metricQueries"] if q.get("returnData")), None)
        return {"name": inputs.get("name"), "when": f"{expression} > {inputs.get('threshold'):g}"}
    statistic = inputs.get("extendedStatistic") or inputs.get("statistic")
    return {
        "name": inputs.get("name"),
        "when": f"{statistic}({inputs.get('metricName')}) > {inputs.get('threshold'):.0f} "
        f"for {inputs.get('evaluationPeriods'):g} x {inputs.get('period'):g}s",
        "dimensions": inputs.get("dimensions"),
    }


def _budget_summary(inputs: dict[str, Any]) -> dict[str, Any]:
    notes = inputs.get("notifications", [])
    return {
        "amount": f"{inputs.get('limitAmount')} {inputs.get('limitUnit')} {inputs.get('timeUnit')}",
        "filter": [f"{f['name']}={','.join(f['values'])}" for f in inputs.get("costFilters", [])],
        "alerts": [f"{n['notificationType']} {n['threshold']:g}%" for n in notes],
        "to": sorted(
            {e for n in notes for e in n.get("subscriberEmailAddresses", [])}
            | {t for n in notes for t in n.get("subscriberSnsTopicArns", [])}
        ),
    }


KEY_INPUTS: dict[str, Summary] = {
    "aws:kms/key:Key": pick_paths("enableKeyRotation", "deletionWindowInDays"),
    "aws:kms/alias:Alias": pick_paths("name"),
    "aws:s3/bucket:Bucket": pick_paths("bucket", "forceDestroy", "region"),
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls": pick_paths("rule.objectOwnership"),
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": pick_paths(
        "blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"
    ),
    "aws:s3/bucketVersioning:BucketVersioning": pick_paths("versioningConfiguration.status"),
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": _encryption,
    "aws:s3/bucketPolicy:BucketPolicy": _policy,
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": _lifecycle,
    "aws:iam/role:Role": _trust,
    "aws:iam/rolePolicy:RolePolicy": _policy,
    "aws:sagemaker/mlflowTrackingServer:MlflowTrackingServer": pick_paths(
        "trackingServerName", "trackingServerSize", "artifactStoreUri", "mlflowVersion", "automaticModelRegistration"
    ),
    "aws:sagemaker/domain:Domain": pick_paths("domainName", "authMode", "appNetworkAccessType", "vpcId", "subnetIds"),
    "aws:sagemaker/model:Model": pick_paths("primaryContainer.image", "primaryContainer.modelDataUrl", "vpcConfig"),
    "aws:sagemaker/endpointConfiguration:EndpointConfiguration": _variants,
    "aws:sagemaker/endpoint:Endpoint": pick_paths("name"),
    "aws:appautoscaling/target:Target": pick_paths("resourceId", "minCapacity", "maxCapacity"),
    "aws:appautoscaling/policy:Policy": _scaling_policy_summary,
    "aws:cloudwatch/metricAlarm:MetricAlarm": _alarm_summary,
    "aws:budgets/budget:Budget": _budget_summary,
    "aws:costexplorer/costAllocationTag:CostAllocationTag": pick_paths("tagKey", "status"),
    "aws:ec2/vpcEndpoint:VpcEndpoint": pick_paths(
        "serviceName", "vpcEndpointType", "privateDnsEnabled", "subnetIds", "routeTableIds"
    ),
    "mlops:aws:GpuTrainingCluster": pick_paths("instanceType", "enableManagedSpotTraining", "vpcConfig.subnets"),
    "aws:eks/nodeGroup:NodeGroup": pick_paths(
        "capacityType",
        "amiType",
        "instanceTypes",
        "scalingConfig.minSize",
        "scalingConfig.maxSize",
        "scalingConfig.desiredSize",
        "taints",
        "labels",
    ),
}
