"""The AWS platform's real resource inputs for the committed dev-aws and prod-aws stacks.

Every assertion reads what the recording mock monitor received (the inputs the provider would
get), so nothing here can pass while asserting inside an unresolved `Output.apply`.
"""

from __future__ import annotations

import json
from typing import Any

from ml.contract import PlatformOutputs
from ml.contract.declared import OfflinePlan, PlannedResource

ACCOUNT = "123456789012"
REGION = "eu-west-1"
PREFIX = {"dev-aws": "mlopsdevaws", "prod-aws": "mlopsprodaws"}
KEY = "aws:kms/key:Key"
BUCKET = "aws:s3/bucket:Bucket"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
STATEFUL = {KEY, BUCKET, "aws:sagemaker/mlflowTrackingServer:MlflowTrackingServer", "aws:sagemaker/domain:Domain"}
GLOBAL_SERVICES = {"iam", "budgets", "costexplorer"}
UNTAGGABLE = {
    "aws:sns/topicSubscription:TopicSubscription",
    # S3 bucket sub-resources, aliases, inline policies and scaling policies take no tags in AWS.
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
    "aws:s3/bucketVersioning:BucketVersioning",
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    "aws:s3/bucketPolicy:BucketPolicy",
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
    "aws:kms/alias:Alias",
    ROLE_POLICY,
    "aws:appautoscaling/policy:Policy",
}


def _parent_type(resource: PlannedResource) -> str:
    return resource.parent_urn.split("::")[2].split("$")[-1]


def _bucket_name(plan: OfflinePlan) -> str:
    return str(plan.one(BUCKET).inputs["bucket"])


def _key_arn(plan: OfflinePlan) -> str:
    return str(plan.one(KEY).state["arn"])


def _statements(resource: PlannedResource) -> list[dict[str, Any]]:
    document = json.loads(resource.inputs["policy"])
    assert document["Version"] == "2012-10-17"
    return list(document["Statement"])


def _by_sid(resource: PlannedResource) -> dict[str, dict[str, Any]]:
    return {s["Sid"]: s for s in _statements(resource)}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_every_resource_sits_in_its_capability_component(dev: OfflinePlan, prod: OfflinePlan) -> None:
    for plan in (dev, prod):
        components = {r.name: r.type for r in plan.resources if not r.custom}
        # prod (private) adds its VPC endpoints; dev (network.privateEndpoints: false) has none.
        network = {"network": "mlops:aws:VpcEndpoints"} if plan is prod else {}
        assert components == {
            "platform": "mlops:aws:Platform",
            "artifacts": "mlops:aws:ArtifactStore",
            "workspace": "mlops:aws:Workspace",
            "training": "mlops:aws:GpuTrainingCluster",
            "serving": "mlops:aws:InferenceEndpoint",
            "budget": "mlops:aws:Budget",
            "drift": "mlops:aws:DriftAlarm",
            **network,
        }
        for resource in plan.resources:
            if resource.type == "mlops:aws:Platform":
                continue
            expected = "mlops:aws:Platform" if not resource.custom else _component_of(resource.type, resource.name)
            assert _parent_type(resource) == expected, resource.name


def _component_of(type_token: str, name: str = "") -> str:
    service = type_token.split(":")[1].split("/")[0]
    if service in {"s3", "kms"}:
        return "mlops:aws:ArtifactStore"
    if service == "iam" or type_token.split(":")[-1] in {"MlflowTrackingServer", "Domain"}:
        return "mlops:aws:Workspace"
    if service == "ec2":
        return "mlops:aws:VpcEndpoints"
    if service == "sns" or (type_token == ALARM and name.endswith("drift-alarm")):
        return "mlops:aws:DriftAlarm"
    if service in {"sagemaker", "appautoscaling", "cloudwatch"}:
        return "mlops:aws:InferenceEndpoint"
    assert service == "budgets", type_token
    return "mlops:aws:Budget"


def test_resource_counts(dev: OfflinePlan, prod: OfflinePlan) -> None:
    # 9 artifact store + 6 workspace + 7 serving + 1 budget + 3 drift alarm (topic, alarm, one email);
    # prod adds the Studio domain, a second email and 7 VPC endpoints (S3; SageMaker API/runtime, ECR
    # api/dkr, CloudWatch Logs, STS).
    assert len(dev.custom_resources) == 23 + 3
    assert len(prod.custom_resources) == 24 + 4 + 7
    assert prod.of_type("aws:sagemaker/domain:Domain") and not dev.of_type("aws:sagemaker/domain:Domain")


def test_tags_on_everything_taggable_include_the_cost_allocation_tag(plan: OfflinePlan) -> None:
    environment = plan.stack.removesuffix("-aws")
    tagged = [r for r in plan.custom_resources if r.type not in UNTAGGABLE]
    assert len(tagged) == {"dev-aws": 12 + 2, "prod-aws": 13 + 2 + 7}[plan.stack]  # drift topic+alarm; prod: 7 VPCEs
    for resource in tagged:
        tags = resource.inputs["tags"]
        assert tags["environment"] == environment, resource.name
        assert tags["cost-center"] == "ml-platform"
        assert tags["managed-by"] == "pulumi"
        assert tags["mlops-stack"] == PREFIX[plan.stack]


def test_every_regional_resource_is_pinned_to_the_stack_location(plan: OfflinePlan) -> None:
    for resource in plan.custom_resources:
        service = resource.type.split(":")[1].split("/")[0]
        if service in GLOBAL_SERVICES:
            assert "region" not in resource.inputs, resource.name
        else:
            assert resource.inputs["region"] == REGION, resource.name


def test_prod_protects_stateful_resources_and_dev_does_not(dev: OfflinePlan, prod: OfflinePlan) -> None:
    for resource in prod.custom_resources:
        assert resource.protect == (resource.type in STATEFUL), resource.name
    assert not any(r.protect for r in dev.resources)


def test_kms_key_rotates_and_has_a_deletion_window(dev: OfflinePlan, prod: OfflinePlan) -> None:
    for plan, window in ((dev, 7), (prod, 30)):
        key = plan.one(KEY).inputs
        assert key["enableKeyRotation"] is True
        assert key["deletionWindowInDays"] == window
    assert prod.one("aws:kms/alias:Alias").inputs["name"] == "alias/mlopsprodaws-artifacts"


def test_bucket_is_private_versioned_and_encrypted_with_the_stack_key(plan: OfflinePlan) -> None:
    bucket = _bucket_name(plan)
    assert bucket == f"{PREFIX[plan.stack]}-artifacts-{ACCOUNT}-{REGION}"
    assert plan.one(BUCKET).inputs["forceDestroy"] is (plan.stack == "dev-aws")
    block = plan.one("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock").inputs
    assert block == {
        "bucket": bucket,
        "blockPublicAcls": True,
        "blockPublicPolicy": True,
        "ignorePublicAcls": True,
        "restrictPublicBuckets": True,
        "region": REGION,
    }
    ownership = plan.one("aws:s3/bucketOwnershipControls:BucketOwnershipControls").inputs
    assert ownership["rule"] == {"objectOwnership": "BucketOwnerEnforced"}
    versioning = plan.one("aws:s3/bucketVersioning:BucketVersioning").inputs
    assert versioning["versioningConfiguration"] == {"status": "Enabled"}
    encryption = plan.one(
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
    ).inputs
    assert encryption["bucket"] == bucket
    assert encryption["rules"] == [
        {
            "applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": _key_arn(plan)},
            "bucketKeyEnabled": True,
        }
    ]


def test_bucket_policy_refuses_plain_http_old_tls_and_other_keys(plan: OfflinePlan) -> None:
    bucket_arn = f"arn:aws:s3:::{_bucket_name(plan)}"
    statements = _by_sid(plan.one("aws:s3/bucketPolicy:BucketPolicy"))
    assert set(statements) == {"DenyInsecureTransport", "DenyTlsBelow12", "DenyOtherEncryption", "DenyOtherKmsKeys"}
    assert all(s["Effect"] == "Deny" and s["Principal"] == "*" for s in statements.values())
    transport = statements["DenyInsecureTransport"]
    assert transport["Action"] == "s3:*"
    assert transport["Resource"] == [bucket_arn, f"{bucket_arn}/*"]
    assert transport["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert statements["DenyTlsBelow12"]["Condition"] == {"NumericLessThan": {"s3:TlsVersion": "1.2"}}
    assert statements["DenyOtherEncryption"]["Condition"] == {
        "StringNotEqualsIfExists": {"s3:x-amz-server-side-encryption": "aws:kms"}
    }
    assert statements["DenyOtherKmsKeys"]["Resource"] == f"{bucket_arn}/*"
    assert statements["DenyOtherKmsKeys"]["Condition"] == {
        "StringNotEqualsIfExists": {"s3:x-amz-server-side-encryption-aws-kms-key-id": _key_arn(plan)}
    }


def test_lifecycle_rules_from_config(dev: OfflinePlan, prod: OfflinePlan) -> None:
    rules = {
        r["id"]: r for r in prod.one("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration").inputs["rules"]
    }
    assert list(rules) == [
        "tier-artifacts",
        "tier-experiments",
        "expire-temp",
        "clean-old-versions-and-uploads",
        "expire-capture",
    ]
    assert rules["tier-experiments"] == {
        "id": "tier-experiments",
        "status": "Enabled",
        "filter": {"prefix": "experiments/"},
        "transitions": [
            {"days": 90, "storageClass": "INTELLIGENT_TIERING"},
            {"days": 365, "storageClass": "GLACIER"},
        ],
        "expiration": {"days": 730},
    }
    assert rules["expire-temp"]["filter"] == {"prefix": "tmp/"}
    assert rules["expire-temp"]["expiration"] == {"days": 7}
    cleanup = rules["clean-old-versions-and-uploads"]
    assert cleanup["filter"] == {}  # the whole bucket
    assert cleanup["noncurrentVersionExpiration"] == {"noncurrentDays": 30}
    assert cleanup["abortIncompleteMultipartUpload"] == {"daysAfterInitiation": 7}
    assert cleanup["expiration"] == {"expiredObjectDeleteMarker": True}

    dev_rules = {
        r["id"]: r for r in dev.one("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration").inputs["rules"]
    }
    assert dev_rules["tier-checkpoints"] == {
        "id": "tier-checkpoints",
        "status": "Enabled",
        "filter": {"prefix": "checkpoints/"},
        "expiration": {"days": 14},
    }
    assert dev_rules["tier-experiments"]["transitions"] == [{"days": 14, "storageClass": "INTELLIGENT_TIERING"}]
    assert dev_rules["expire-temp"]["expiration"] == {"days": 3}
    assert dev_rules["clean-old-versions-and-uploads"]["abortIncompleteMultipartUpload"] == {"daysAfterInitiation": 3}


def test_no_s3_or_kms_action_anywhere_has_a_wildcard_resource(plan: OfflinePlan) -> None:
    """Across the bucket policy and every role policy: S3 and KMS actions reach only this stack's bucket and key."""
    bucket_arn = f"arn:aws:s3:::{_bucket_name(plan)}"
    key_arn = _key_arn(plan)
    documents = [plan.one("aws:s3/bucketPolicy:BucketPolicy"), *plan.of_type(ROLE_POLICY)]
    checked = 0
    for document in documents:
        for statement in _statements(document):
            actions = _as_list(statement["Action"])
            resources = _as_list(statement["Resource"])
            if any(a.startswith("s3:") for a in actions):
                assert "*" not in resources, statement
                assert all(r == bucket_arn or r.startswith(f"{bucket_arn}/") for r in resources), statement
                checked += 1
            if any(a.startswith("kms:") for a in actions):
                assert resources == [key_arn], statement
                checked += 1
    assert checked >= 9  # 4 in the bucket policy, 3 + grants on the execution role, 2 on the MLflow role


def test_execution_role_policy_is_scoped(dev: OfflinePlan, prod: OfflinePlan) -> None:
    for plan in (dev, prod):
        bucket_arn = f"arn:aws:s3:::{_bucket_name(plan)}"
        role = plan.one("aws:iam/role:Role", "workspace-execution-role").inputs
        assert role["name"] == f"{PREFIX[plan.stack]}-sagemaker-execution"
        trust = json.loads(role["assumeRolePolicy"])["Statement"]
        assert trust == [
            {"Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ]
        policy = plan.one(ROLE_POLICY, "workspace-execution-policy")
        assert policy.inputs["role"] == role["name"]
        statements = _by_sid(policy)
        assert statements["ArtifactObjects"]["Resource"] == f"{bucket_arn}/*"
        assert "s3:PutObject" in statements["ArtifactObjects"]["Action"]
        assert statements["ArtifactBucket"]["Resource"] == bucket_arn
        assert statements["ArtifactKey"]["Resource"] == _key_arn(plan)
        assert statements["ArtifactKeyGrantsForSageMaker"]["Condition"] == {
            "Bool": {"kms:GrantIsForAWSResource": "true"}
        }
        assert statements["PullImages"]["Resource"] == f"arn:aws:ecr:{REGION}:*:repository/*"
        assert statements["EcrLogin"] == {
            "Sid": "EcrLogin",
            "Effect": "Allow",
            "Action": "ecr:GetAuthorizationToken",
            "Resource": "*",
        }
        assert statements["SageMakerLogs"]["Resource"] == [
            f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/sagemaker/*",
            f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/sagemaker/*:log-stream:*",
        ]
        assert statements["SageMakerMetrics"]["Condition"] == {
            "StringLike": {"cloudwatch:namespace": "/aws/sagemaker/*"}
        }
        # Only the statements for APIs without resource-level permissions may use "*".
        wildcard = {sid for sid, s in statements.items() if "*" in _as_list(s["Resource"])}
        assert wildcard <= {"EcrLogin", "SageMakerMetrics", "VpcNetworkInterfaces"}
    assert "VpcNetworkInterfaces" in _by_sid(prod.one(ROLE_POLICY, "workspace-execution-policy"))
    assert "VpcNetworkInterfaces" not in _by_sid(dev.one(ROLE_POLICY, "workspace-execution-policy"))


def test_mlflow_server_has_its_own_role_limited_to_its_prefix(dev: OfflinePlan, prod: OfflinePlan) -> None:
    for plan, size in ((dev, "Small"), (prod, "Medium")):
        bucket, prefix = _bucket_name(plan), PREFIX[plan.stack]
        server = plan.one("aws:sagemaker/mlflowTrackingServer:MlflowTrackingServer").inputs
        assert server["trackingServerName"] == f"{prefix}-mlflow"
        assert server["trackingServerSize"] == size
        assert server["artifactStoreUri"] == f"s3://{bucket}/mlflow/"
        assert server["automaticModelRegistration"] is False
        assert server["weeklyMaintenanceWindowStart"] == "SUN:03:00"
        assert server["roleArn"] == f"arn:aws:iam::{ACCOUNT}:role/{prefix}-mlflow-server"
        statements = _by_sid(plan.one(ROLE_POLICY, "workspace-mlflow-policy"))
        assert statements["ArtifactObjects"]["Resource"] == f"arn:aws:s3:::{bucket}/mlflow/*"
        assert statements["ArtifactKey"]["Resource"] == _key_arn(plan)
        access = plan.one(ROLE_POLICY, "workspace-tracking-access")
        assert access.inputs["role"] == f"{prefix}-sagemaker-execution"
        assert _statements(access) == [
            {
                "Sid": "StackTrackingServer",
                "Effect": "Allow",
                "Action": "sagemaker-mlflow:*",
                "Resource": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:mlflow-tracking-server/{prefix}-mlflow",
            }
        ]


def test_studio_domain_only_in_prod_and_vpc_only(prod: OfflinePlan) -> None:
    domain = prod.one("aws:sagemaker/domain:Domain").inputs
    assert domain["domainName"] == "mlopsprodaws-studio"
    assert domain["authMode"] == "IAM"
    assert domain["appNetworkAccessType"] == "VpcOnly"
    assert domain["vpcId"] == "vpc-0d1e2f3a4b5c60721"
    assert domain["subnetIds"] == ["subnet-0a1b2c3d4e5f60718", "subnet-0b1c2d3e4f5a60719"]
    assert domain["kmsKeyId"] == _key_arn(prod)
    assert domain["defaultUserSettings"] == {
        "executionRole": f"arn:aws:iam::{ACCOUNT}:role/mlopsprodaws-sagemaker-execution",
        "securityGroups": ["sg-0c1d2e3f4a5b60720"],
    }
    assert domain["retentionPolicy"] == {"homeEfsFileSystem": "Retain"}


def test_budget_counts_only_this_stack_by_its_tag(dev: OfflinePlan, prod: OfflinePlan) -> None:
    budget = prod.one("aws:budgets/budget:Budget").inputs
    assert budget["name"] == "mlopsprodaws-monthly"
    assert (budget["budgetType"], budget["timeUnit"]) == ("COST", "MONTHLY")
    assert (budget["limitAmount"], budget["limitUnit"]) == ("5000.00", "USD")
    assert budget["timePeriodStart"] == "2026-12-01_00:00"
    assert budget["costFilters"] == [{"name": "TagKeyValue", "values": ["user:mlops-stack$mlopsprodaws"]}]
    # The tag the filter counts is on every tagged resource of the stack.
    assert prod.one(BUCKET).inputs["tags"]["mlops-stack"] == "mlopsprodaws"
    notes = budget["notifications"]
    assert [(n["notificationType"], n["threshold"]) for n in notes] == [
        ("ACTUAL", 50),
        ("ACTUAL", 80),
        ("ACTUAL", 100),
        ("FORECASTED", 100),
    ]
    for note in notes:
        assert (note["comparisonOperator"], note["thresholdType"]) == ("GREATER_THAN", "PERCENTAGE")
        assert note["subscriberEmailAddresses"] == ["ml-platform@example.com", "finops@example.com"]
        assert note["subscriberSnsTopicArns"] == [f"arn:aws:sns:{REGION}:{ACCOUNT}:ml-platform-budget"]
    dev_budget = dev.one("aws:budgets/budget:Budget").inputs
    assert dev_budget["limitAmount"] == "800.00"
    assert dev_budget["costFilters"][0]["values"] == ["user:mlops-stack$mlopsdevaws"]
    assert all("subscriberSnsTopicArns" not in n for n in dev_budget["notifications"])
    assert not dev.of_type("aws:costexplorer/costAllocationTag:CostAllocationTag")


def test_exports_exactly_the_contract(dev: OfflinePlan, prod: OfflinePlan) -> None:
    for plan in (dev, prod):
        prefix = PREFIX[plan.stack]
        outputs = PlatformOutputs.model_validate(plan.outputs)
        bucket = _bucket_name(plan)
        server_arn = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:mlflow-tracking-server/{prefix}-mlflow"
        assert (outputs.stack, outputs.cloud, outputs.region) == (plan.stack, "aws", REGION)
        assert outputs.tracking_uri == server_arn
        assert outputs.aws is not None
        assert outputs.aws.account_id == ACCOUNT
        assert outputs.aws.execution_role_arn == f"arn:aws:iam::{ACCOUNT}:role/{prefix}-sagemaker-execution"
        assert outputs.aws.mlflow_tracking_server_arn == server_arn
        assert outputs.aws.kms_key_arn == _key_arn(plan)
        # What `ml deploy` needs to build each new model and keep the variant the alarms/autoscaling watch.
        assert outputs.aws.serving_image == "123456789012.dkr.ecr.eu-west-1.amazonaws.com/mlflow-pyfunc:3.17.2"
        assert outputs.azure is None
        assert outputs.artifacts.name == bucket
        assert outputs.artifacts.uri == f"s3://{bucket}"
        training = outputs.training
        assert training.spot is True
        assert training.name == f"{prefix}-gpu-spot"
        assert training.min_nodes == 0
        assert training.checkpoint_uri == f"s3://{bucket}/checkpoints/"
        assert training.idle_seconds_before_scale_down is None
        assert training.cpu_cluster_name is None
        assert outputs.endpoint is not None
        assert outputs.endpoint.auth_mode == "iam"
        assert outputs.endpoint.scoring_uri == (
            f"https://runtime.sagemaker.{REGION}.amazonaws.com/endpoints/{prefix}-endpoint/invocations"
        )
        assert outputs.endpoint.autoscale.metric == "requests"
        assert outputs.endpoint.variant_name == "primary"
    dev_outputs = PlatformOutputs.model_validate(dev.outputs)
    assert dev_outputs.aws is not None and dev_outputs.aws.domain_id is None
    assert (dev_outputs.training.instance_type, dev_outputs.training.max_nodes) == ("ml.g5.xlarge", 2)
    assert (dev_outputs.training.max_run_seconds, dev_outputs.training.max_wait_seconds) == (4 * 3600, 8 * 3600)
    assert dev_outputs.training.subnet_ids == []
    prod_outputs = PlatformOutputs.model_validate(prod.outputs)
    assert prod_outputs.aws is not None
    assert prod_outputs.aws.domain_id == prod.one("aws:sagemaker/domain:Domain").state["id"]
    assert prod_outputs.training.subnet_ids == ["subnet-0a1b2c3d4e5f60718", "subnet-0b1c2d3e4f5a60719"]
    assert prod_outputs.training.security_group_ids == ["sg-0c1d2e3f4a5b60720"]
    assert (prod_outputs.training.max_run_seconds, prod_outputs.training.max_wait_seconds) == (86_400, 172_800)
    assert prod_outputs.endpoint is not None
    assert prod_outputs.endpoint.autoscale.max_instances == 10
    assert prod_outputs.budget.monthly_amount == 5000
    assert prod.secret_exports == frozenset()  # SageMaker endpoints have no keys to export
