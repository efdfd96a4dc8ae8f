"""The IAM and bucket policy documents of the AWS platform, as plain dicts built from ARNs.

Why one module of pure functions: least privilege is what a reviewer must read line by line. Each
document is one function of the ARNs it is scoped to (no provider calls), rendered to JSON with
`pulumi.Output.json_dumps`, so the tests parse exactly what IAM receives and check that no S3 or
KMS action ever has `*` as its resource. The few `*` resources left are APIs without
resource-level permissions (ECR's GetAuthorizationToken, CloudWatch PutMetricData, the EC2
network-interface calls SageMaker makes in a VPC), each commented where it appears.
"""

from __future__ import annotations

from typing import Any

import pulumi

VERSION = "2012-10-17"
MLFLOW_PREFIX = "mlflow/"
"""Where the MLflow tracking server keeps run artifacts inside the stack's bucket."""

Statement = dict[str, Any]
Document = dict[str, Any]

_OBJECT_READ_WRITE = [
    "s3:GetObject",
    "s3:PutObject",
    "s3:DeleteObject",
    "s3:AbortMultipartUpload",
    "s3:ListMultipartUploadParts",
]
_BUCKET_READ = ["s3:ListBucket", "s3:GetBucketLocation", "s3:ListBucketMultipartUploads"]
_KEY_USE = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"]


def render(document: Document) -> pulumi.Output[str]:
    """The JSON IAM receives; nested Outputs (ARNs) are resolved first."""
    return pulumi.Output.json_dumps(document)


def _document(*statements: Statement) -> Document:
    return {"Version": VERSION, "Statement": list(statements)}


def service_trust_policy(service: str = "sagemaker.amazonaws.com") -> Document:
    """Who may assume a role: only the named AWS service (SageMaker for every role here)."""
    return _document({"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"})


def objects_arn(bucket_arn: pulumi.Input[str], prefix: str = "") -> pulumi.Output[str]:
    return pulumi.Output.concat(bucket_arn, "/", prefix, "*")


def bucket_policy(bucket_arn: pulumi.Input[str], key_arn: pulumi.Input[str]) -> Document:
    """TLS 1.2+ only, and objects encrypted with this stack's KMS key or the bucket default (the same key)."""
    everything = [bucket_arn, objects_arn(bucket_arn)]
    return _document(
        {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": everything,
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        },
        {
            "Sid": "DenyTlsBelow12",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": everything,
            "Condition": {"NumericLessThan": {"s3:TlsVersion": "1.2"}},
        },
        {
            "Sid": "DenyOtherEncryption",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:PutObject",
            "Resource": objects_arn(bucket_arn),
            "Condition": {"StringNotEqualsIfExists": {"s3:x-amz-server-side-encryption": "aws:kms"}},
        },
        {
            "Sid": "DenyOtherKmsKeys",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:PutObject",
            "Resource": objects_arn(bucket_arn),
            "Condition": {"StringNotEqualsIfExists": {"s3:x-amz-server-side-encryption-aws-kms-key-id": key_arn}},
        },
    )


def _bucket_statements(bucket_arn: pulumi.Input[str], key_arn: pulumi.Input[str], prefix: str = "") -> list[Statement]:
    return [
        {
            "Sid": "ArtifactObjects",
            "Effect": "Allow",
            "Action": _OBJECT_READ_WRITE,
            "Resource": objects_arn(bucket_arn, prefix),
        },
        {"Sid": "ArtifactBucket", "Effect": "Allow", "Action": _BUCKET_READ, "Resource": bucket_arn},
        {"Sid": "ArtifactKey", "Effect": "Allow", "Action": _KEY_USE, "Resource": key_arn},
    ]


def execution_role_policy(
    *,
    bucket_arn: pulumi.Input[str],
    key_arn: pulumi.Input[str],
    partition: pulumi.Input[str],
    region: str,
    account_id: pulumi.Input[str],
    in_vpc: bool,
) -> Document:
    """What training jobs, tuning jobs and models run with: this stack's bucket and key, images, logs."""
    log_group = pulumi.Output.concat(
        "arn:", partition, ":logs:", region, ":", account_id, ":log-group:/aws/sagemaker/*"
    )
    statements = [
        *_bucket_statements(bucket_arn, key_arn),
        {
            # SageMaker encrypts training volumes and endpoint storage with the key through grants.
            "Sid": "ArtifactKeyGrantsForSageMaker",
            "Effect": "Allow",
            "Action": "kms:CreateGrant",
            "Resource": key_arn,
            "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}},
        },
        {
            # Own repositories and the AWS Deep Learning Container accounts of this region.
            "Sid": "PullImages",
            "Effect": "Allow",
            "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"],
            "Resource": pulumi.Output.concat("arn:", partition, ":ecr:", region, ":*:repository/*"),
        },
        {
            # GetAuthorizationToken has no resource-level permissions: "*" is the only valid resource.
            "Sid": "EcrLogin",
            "Effect": "Allow",
            "Action": "ecr:GetAuthorizationToken",
            "Resource": "*",
        },
        {
            "Sid": "SageMakerLogs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
            "Resource": [log_group, pulumi.Output.concat(log_group, ":log-stream:*")],
        },
        {
            # PutMetricData has no resource-level permissions; the namespace condition scopes it.
            "Sid": "SageMakerMetrics",
            "Effect": "Allow",
            "Action": "cloudwatch:PutMetricData",
            "Resource": "*",
            "Condition": {"StringLike": {"cloudwatch:namespace": "/aws/sagemaker/*"}},
        },
    ]
    if in_vpc:
        statements.append(
            {
                # SageMaker attaches jobs and models to the stack's subnets with ENIs; these EC2 calls
                # have no resource-level permissions.
                "Sid": "VpcNetworkInterfaces",
                "Effect": "Allow",
                "Action": [
                    "ec2:CreateNetworkInterface",
                    "ec2:CreateNetworkInterfacePermission",
                    "ec2:DeleteNetworkInterface",
                    "ec2:DeleteNetworkInterfacePermission",
                    "ec2:DescribeNetworkInterfaces",
                    "ec2:DescribeVpcs",
                    "ec2:DescribeDhcpOptions",
                    "ec2:DescribeSubnets",
                    "ec2:DescribeSecurityGroups",
                ],
                "Resource": "*",
            }
        )
    return _document(*statements)


def tracking_access_policy(tracking_server_arn: pulumi.Input[str]) -> Document:
    """Jobs log runs and register models on this stack's MLflow tracking server, and on no other."""
    return _document(
        {
            "Sid": "StackTrackingServer",
            "Effect": "Allow",
            "Action": "sagemaker-mlflow:*",
            "Resource": tracking_server_arn,
        }
    )


def tracking_server_policy(bucket_arn: pulumi.Input[str], key_arn: pulumi.Input[str]) -> Document:
    """The MLflow tracking server's own role: its artifact prefix of the bucket and the key, nothing else."""
    return _document(*_bucket_statements(bucket_arn, key_arn, prefix=MLFLOW_PREFIX))
