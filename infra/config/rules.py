"""The rules that span sections: which SKUs a cloud accepts, what holds only on AWS, AKS vs EKS.

Why apart from the sections: each rule needs more than one section (the stack's `cloud` with a
section's instance type, a region in `location` with S3 tier days ...), so it cannot live in any
one of them. `StackSettings` runs them as its validators, before any resource is declared.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import ValidationInfo
from pydantic.alias_generators import to_camel

from infra.config.aws import (
    AWS_CPU_FAMILIES,
    AWS_GPU_FAMILIES,
    AWS_MAX_BUDGET_NOTIFICATIONS,
    AWS_MAX_EMAIL_SUBSCRIBERS,
    AWS_REGION,
    AWS_SECURITY_GROUP_ID,
    AWS_SUBNET_ID,
    MODEL_ARCHIVE_KEY,
    S3_IA_CLASSES,
    S3_IA_MIN_DAYS,
)
from infra.config.azure import AZURE_CPU_FAMILIES, AZURE_GPU_FAMILIES
from infra.config.base import NAMESPACE
from infra.config.kubernetes import EC2_GPU_FAMILIES, IAM_ROLE_ARN, KubernetesSettings

if TYPE_CHECKING:
    from infra.config.stack import StackSettings

ALLOWED_SKUS = {
    ("azure", "gpu"): (AZURE_GPU_FAMILIES, "an Azure GPU VM size (Standard_NC*, Standard_ND*, Standard_NV*)"),
    ("azure", "cpu"): (
        AZURE_CPU_FAMILIES,
        "an Azure general-purpose VM size (Standard_D*, Standard_DS*, Standard_E*, Standard_F*)",
    ),
    ("aws", "gpu"): (AWS_GPU_FAMILIES, "a SageMaker GPU instance type (ml.g4dn/g5/g6/p3/p4d/p5.*)"),
    ("aws", "cpu"): (AWS_CPU_FAMILIES, "a SageMaker CPU instance type (ml.m5/m6i/c5/c6i/r5/t3.*)"),
}
"""(cloud, gpu|cpu) -> the instance types allowed and how a message names them."""


def check_skus(stack: StackSettings) -> None:
    """Training, CPU and endpoint instance types must be ones the stack's cloud offers."""
    checks = [("trainingCluster.instanceType", stack.training_cluster.instance_type, "gpu")]
    if stack.training_cluster.cpu_cluster is not None:
        checks.append(
            ("trainingCluster.cpuCluster.instanceType", stack.training_cluster.cpu_cluster.instance_type, "cpu")
        )
    for key, sku, kind in checks:
        pattern, allowed = ALLOWED_SKUS[(stack.cloud, kind)]
        if not pattern.match(sku):
            raise ValueError(f"{key}: unknown SKU '{sku}' for cloud {stack.cloud}; allowed: {allowed}")
    endpoint_ok = any(
        ALLOWED_SKUS[(stack.cloud, kind)][0].match(stack.endpoint.instance_type) for kind in ("cpu", "gpu")
    )
    if not endpoint_ok:
        raise ValueError(
            f"endpoint.instanceType: unknown SKU '{stack.endpoint.instance_type}' for cloud {stack.cloud}; "
            f"allowed: {ALLOWED_SKUS[(stack.cloud, 'cpu')][1]} or {ALLOWED_SKUS[(stack.cloud, 'gpu')][1]}"
        )


def aws_stack_problems(stack: StackSettings) -> list[str]:
    """Rules that hold only when SageMaker, S3 and AWS Budgets run the platform: one line per problem.

    Why here and not in the components: they span sections (a region in `location`, a metric in
    `endpoint`, storage classes against tier days) and must fail before any resource is declared.
    """
    aws, cluster, endpoint, budget = stack.aws, stack.training_cluster, stack.endpoint, stack.budget
    problems: list[str] = []
    if not AWS_REGION.match(stack.location):
        problems.append(
            f"mlops:location = {stack.location!r}: not an AWS region; use one such as eu-west-1 "
            f"(every regional resource of the stack is created there)"
        )
    if "key_vault" in stack.model_fields_set:
        problems.append(
            "mlops:keyVault configures Azure Key Vault; on cloud aws the artifact store's KMS key "
            "takes its place; remove it"
        )
    if stack.network.allowed_ip_ranges:
        problems.append("mlops:network.allowedIpRanges has no effect on cloud aws (access is by IAM); remove it")

    if cluster.min_nodes > 0:
        problems.append(
            f"mlops:trainingCluster.minNodes = {cluster.min_nodes}: SageMaker training has no standing cluster "
            f"(instances exist only while a job runs); use 0"
        )
    if cluster.cpu_cluster is not None:
        problems.append(
            "mlops:trainingCluster.cpuCluster is an Azure ML compute cluster; on cloud aws CPU steps are "
            "SageMaker jobs with their own instance type; remove it"
        )
    if "idle_seconds_before_scale_down" in cluster.model_fields_set:
        problems.append(
            "mlops:trainingCluster.idleSecondsBeforeScaleDown has no meaning on SageMaker (no idle cluster; warm "
            "pools do not work with managed spot); remove it"
        )
    if bool(cluster.subnet_ids) != bool(cluster.security_group_ids):
        problems.append(
            "mlops:trainingCluster.subnetIds and securityGroupIds: SageMaker's VpcConfig needs both or neither"
        )
    bad_subnets = [s for s in cluster.subnet_ids if not AWS_SUBNET_ID.match(s)]
    bad_groups = [g for g in cluster.security_group_ids if not AWS_SECURITY_GROUP_ID.match(g)]
    if bad_subnets:
        problems.append(f"mlops:trainingCluster.subnetIds = {bad_subnets}: not subnet ids (subnet-0123abcd...)")
    if bad_groups:
        problems.append(f"mlops:trainingCluster.securityGroupIds = {bad_groups}: not security group ids (sg-...)")

    if "auth_mode" in endpoint.model_fields_set:
        problems.append(
            f"mlops:endpoint.authMode = {endpoint.auth_mode!r}: SageMaker endpoints accept only IAM (SigV4) "
            f"callers, there are no keys or tokens to choose; remove it"
        )
    if endpoint.scale_rule.metric != "requests":
        problems.append(
            f"mlops:endpoint.scaleRule.metric = {endpoint.scale_rule.metric!r}: cloud aws scales on 'requests' "
            f"only (SageMakerVariantInvocationsPerInstance; target = invocations per instance per minute)"
        )
    model = endpoint.bootstrap_model
    if model is not None:
        if not MODEL_ARCHIVE_KEY.match(model) or ".." in model:
            problems.append(
                f"mlops:endpoint.bootstrapModel = {model!r}: on cloud aws give the key of a model.tar.gz in this "
                f"stack's artifact bucket, e.g. models/churn/1/model.tar.gz (no s3:// and no leading '/')"
            )
        if aws.serving_image is None:
            problems.append(
                "mlops:aws.servingImage is required with endpoint.bootstrapModel: the ECR image that serves it"
            )
    elif aws.serving_image is not None:
        problems.append("mlops:aws.servingImage is only used with endpoint.bootstrapModel; set both or remove it")

    if aws.sagemaker_domain:
        if aws.vpc_id is None:
            problems.append("mlops:aws.vpcId is required with aws.sagemakerDomain: the VPC the domain lives in")
        if not cluster.subnet_ids:
            problems.append(
                "mlops:trainingCluster.subnetIds is empty: aws.sagemakerDomain needs the private subnets "
                "(and securityGroupIds) it shares with training"
            )
    elif aws.vpc_id is not None and not stack.network.uses_private_endpoints:
        problems.append(
            "mlops:aws.vpcId is only used by the SageMaker domain and the VPC endpoints; set aws.sagemakerDomain "
            "or network.privateEndpoints, or remove it"
        )

    classes = aws.storage_classes
    for index, tier in enumerate(stack.artifacts.tiers):
        key = f"mlops:artifacts.tiers[{index}]"
        cool, archive = tier.cool_after_days, tier.archive_after_days
        if classes.cool in S3_IA_CLASSES and cool is not None and cool < S3_IA_MIN_DAYS:
            problems.append(
                f"{key}.coolAfterDays = {cool}: S3 moves objects to {classes.cool} only after {S3_IA_MIN_DAYS} "
                f"days; raise it or set aws.storageClasses.cool: INTELLIGENT_TIERING"
            )
        if (
            classes.cool in S3_IA_CLASSES
            and cool is not None
            and archive is not None
            and archive - cool < S3_IA_MIN_DAYS
        ):
            problems.append(
                f"{key}: archiveAfterDays ({archive}) must be at least {S3_IA_MIN_DAYS} days after coolAfterDays "
                f"({cool}): S3 keeps objects in {classes.cool} for {S3_IA_MIN_DAYS} days before moving them on"
            )

    if budget.currency != "USD":
        problems.append(f"mlops:budget.currency = {budget.currency!r}: AWS Budgets cost budgets are in USD")
    if len(budget.thresholds) > AWS_MAX_BUDGET_NOTIFICATIONS:
        problems.append(
            f"mlops:budget.thresholds has {len(budget.thresholds)} entries: AWS Budgets allows at most "
            f"{AWS_MAX_BUDGET_NOTIFICATIONS} notifications per budget"
        )
    if len(budget.contact_emails) > AWS_MAX_EMAIL_SUBSCRIBERS:
        problems.append(
            f"mlops:budget.contactEmails has {len(budget.contact_emails)} addresses: AWS Budgets allows at most "
            f"{AWS_MAX_EMAIL_SUBSCRIBERS} e-mail subscribers per notification (use aws.budgetSnsTopicArn)"
        )
    return problems


def kubernetes_for_cloud(value: KubernetesSettings | None, info: ValidationInfo) -> KubernetesSettings | None:
    """Checks that need the stack's cloud: AKS vs EKS cluster references and GPU instance types."""
    cloud = info.data.get("cloud")
    if value is None or cloud is None:
        return value
    cluster, pool = value.cluster, value.gpu_node_pool
    problems = []
    if cloud == "azure":
        if cluster.resource_group is None:
            problems.append("cluster.resourceGroup is required: the AKS cluster's resource group")
        foreign = [k for k in ("node_role_arn", "subnet_ids") if k in cluster.model_fields_set]
        problems += [f"cluster.{to_camel(k)} applies to EKS (cloud aws), not AKS; remove it" for k in foreign]
        if pool is not None and "ami_type" in pool.model_fields_set:
            problems.append("gpuNodePool.amiType applies to EKS (cloud aws), not AKS; remove it")
        if pool is not None and not AZURE_GPU_FAMILIES.match(pool.instance_type):
            problems.append(
                f"gpuNodePool.instanceType: unknown GPU VM size '{pool.instance_type}' for AKS; allowed: "
                f"{ALLOWED_SKUS[('azure', 'gpu')][1]}"
            )
    else:
        if cluster.resource_group is not None:
            problems.append("cluster.resourceGroup applies to AKS (cloud azure), not EKS; remove it")
        if pool is not None:
            if cluster.node_role_arn is None or not IAM_ROLE_ARN.match(cluster.node_role_arn):
                problems.append(
                    f"cluster.nodeRoleArn = {cluster.node_role_arn!r}: the GPU node group needs the IAM role ARN "
                    f"its nodes join with (arn:aws:iam::<account>:role/<name>)"
                )
            if not cluster.subnet_ids:
                problems.append("cluster.subnetIds is empty: the GPU node group needs at least one subnet id")
            bad_subnets = [s for s in cluster.subnet_ids if not AWS_SUBNET_ID.match(s)]
            if bad_subnets:
                problems.append(f"cluster.subnetIds = {bad_subnets}: not subnet ids (subnet-0123abcd...)")
            if not EC2_GPU_FAMILIES.match(pool.instance_type):
                problems.append(
                    f"gpuNodePool.instanceType: unknown GPU instance type '{pool.instance_type}' for EKS; allowed: "
                    f"an EC2 GPU type (g4dn/g5/g6/g6e/p3/p4d/p5.*, without the 'ml.' prefix)"
                )
    if problems:
        raise ValueError(f"for cloud {cloud}:" + "".join(f"\n  - {NAMESPACE}:kubernetes.{p}" for p in problems))
    return value
