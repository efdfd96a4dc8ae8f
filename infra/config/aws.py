"""AWS-only config: `mlops:aws` (SageMaker, S3 storage classes, endpoint alarms) and AWS's limits.

Why apart from the shared sections: these keys mean nothing on cloud azure (the stack refuses
`mlops:aws` there); the rules that span this and the shared sections are in `infra.config.rules`.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from infra.config.base import Section

AWS_GPU_FAMILIES = re.compile(r"^ml\.(g4dn|g5|g6|g6e|p3|p3dn|p4d|p4de|p5)\.[0-9]*x?large$")
AWS_CPU_FAMILIES = re.compile(r"^ml\.(m5|m6i|m7i|c5|c6i|c7i|r5|t3)\.[0-9]*x?large$")
AWS_REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]$")
AWS_VPC_ID = re.compile(r"^vpc-[0-9a-f]{8,17}$")
AWS_SUBNET_ID = re.compile(r"^subnet-[0-9a-f]{8,17}$")
AWS_SECURITY_GROUP_ID = re.compile(r"^sg-[0-9a-f]{8,17}$")
SNS_TOPIC_ARN = re.compile(r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,256}$")
ECR_IMAGE = re.compile(
    r"^[0-9]{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(\.cn)?/[a-z0-9][a-z0-9._/-]*"
    r"(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}|@sha256:[0-9a-f]{64})$"
)
MODEL_ARCHIVE_KEY = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9!_.*'()=/-]*\.tar\.gz$")
S3_STORAGE_WATERFALL = ("STANDARD_IA", "INTELLIGENT_TIERING", "ONEZONE_IA", "GLACIER_IR", "GLACIER", "DEEP_ARCHIVE")
"""S3 lifecycle moves objects only down this list (warmer to colder)."""
S3_IA_CLASSES = frozenset({"STANDARD_IA", "ONEZONE_IA"})
S3_IA_MIN_DAYS = 30
AWS_MAX_BUDGET_NOTIFICATIONS = 5
AWS_MAX_EMAIL_SUBSCRIBERS = 10


class AwsStorageClasses(Section):
    """Which S3 storage class a tier's `coolAfterDays` and `archiveAfterDays` move objects to."""

    cool: Literal["STANDARD_IA", "INTELLIGENT_TIERING", "ONEZONE_IA", "GLACIER_IR"] = "INTELLIGENT_TIERING"
    archive: Literal["GLACIER_IR", "GLACIER", "DEEP_ARCHIVE"] = "GLACIER"

    @model_validator(mode="after")
    def _downhill(self) -> AwsStorageClasses:
        if S3_STORAGE_WATERFALL.index(self.archive) <= S3_STORAGE_WATERFALL.index(self.cool):
            raise ValueError(
                f"archive class {self.archive} must be colder than cool class {self.cool}; "
                f"S3 lifecycle only moves objects down: {' -> '.join(S3_STORAGE_WATERFALL)}"
            )
        return self


class AwsEndpointAlarms(Section):
    """CloudWatch alarms on the serving variant; rollouts name them for automatic rollback.

    An alarm fires when the statistic breaches its threshold in `evaluationPeriods` consecutive
    periods: more than `max5xxErrors` 5XX responses per period, or the model latency statistic
    above `maxModelLatencyMs` (SageMaker reports ModelLatency in microseconds; we convert).
    """

    max_5xx_errors: int = Field(default=5, ge=0, le=1_000_000, alias="max5xxErrors")
    max_model_latency_ms: float = Field(default=1000, gt=0, le=60_000)
    latency_statistic: Literal["p50", "p90", "p95", "p99", "Average"] = "p99"
    period_seconds: int = Field(default=60, ge=60, le=3600)
    evaluation_periods: int = Field(default=3, ge=1, le=60)

    @field_validator("period_seconds")
    @classmethod
    def _whole_minutes(cls, value: int) -> int:
        if value % 60:
            raise ValueError(f"{value} must be a multiple of 60: SageMaker publishes endpoint metrics per minute")
        return value


class AwsSettings(Section):
    """SageMaker-specific choices (`mlops:aws`); every key is optional, secure and cheap by default."""

    sagemaker_domain: bool = False
    vpc_id: str | None = None
    mlflow_server_size: Literal["Small", "Medium", "Large"] = "Small"
    mlflow_version: str | None = Field(default=None, pattern=r"^[0-9]+\.[0-9]+(\.[0-9]+)?$")
    mlflow_maintenance_window: str = Field(
        default="SUN:03:00", pattern=r"^(MON|TUE|WED|THU|FRI|SAT|SUN):([01][0-9]|2[0-3]):[0-5][0-9]$"
    )
    serving_image: str | None = None
    budget_sns_topic_arn: str | None = None
    activate_cost_allocation_tag: bool = False
    storage_classes: AwsStorageClasses = Field(default_factory=AwsStorageClasses)
    endpoint_alarms: AwsEndpointAlarms = Field(default_factory=AwsEndpointAlarms)

    @field_validator("vpc_id")
    @classmethod
    def _vpc(cls, value: str | None) -> str | None:
        if value is not None and not AWS_VPC_ID.match(value):
            raise ValueError(f"'{value}' is not a VPC id (vpc-0123456789abcdef0)")
        return value

    @field_validator("serving_image")
    @classmethod
    def _image(cls, value: str | None) -> str | None:
        if value is not None and not ECR_IMAGE.match(value):
            raise ValueError(
                f"'{value}' must be a pinned ECR image: <account>.dkr.ecr.<region>.amazonaws.com/<repo>:<tag> "
                f"or @sha256:<digest> (SageMaker pulls serving images from ECR only)"
            )
        if value is not None and value.endswith(":latest"):
            raise ValueError(f"'{value}' uses the moving tag 'latest'; pin a version or digest")
        return value

    @field_validator("budget_sns_topic_arn")
    @classmethod
    def _topic(cls, value: str | None) -> str | None:
        if value is not None and not SNS_TOPIC_ARN.match(value):
            raise ValueError(f"'{value}' is not an SNS topic ARN (arn:aws:sns:<region>:<account>:<name>)")
        return value
