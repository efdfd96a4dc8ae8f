"""boto3 clients and AWS errors as `UserError`s: the one way every AWS-facing module talks to AWS.

Why shared: the SageMaker sweep backend and the SageMaker rollout target must build clients the
same way (region from the stack, the endpoint from ``AWS_ENDPOINT_URL`` as boto3 reads it, the
timeouts and standard retries of `ml.cloud_waits`) and must turn the same user-fixable failures
(no credentials, no region, an ``AccessDenied``, no answer within the bound) into the same
one-line messages. boto3 is imported lazily: the CLI imports this
module on commands that never reach AWS.
"""

from __future__ import annotations

from typing import Any

from ml.cloud_waits import cloud_waits
from ml.contract import AwsWorkspaceRef, PlatformOutputs
from ml.contract.errors import UserError

CREDENTIALS_HELP = (
    "run `aws configure` / `aws sso login`, set AWS_PROFILE, or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
)


def client(service: str, region: str) -> Any:
    """A boto3 client for ``service`` in ``region``: timeouts and standard retries from `ml.cloud_waits`."""
    import boto3

    return boto3.client(service, region_name=region, config=cloud_waits().botocore_config())


def error_parts(exc: Exception) -> tuple[str, str, int | None]:
    """``(code, message, http status)`` of a botocore error (the exception's type name when it has no code)."""
    response = getattr(exc, "response", None) or {}
    error = response.get("Error", {})
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    message = str(error.get("Message") or exc)
    return str(error.get("Code") or type(exc).__name__), message, status


def user_error(what: str, exc: Exception) -> UserError:
    """``cannot <what>: ...`` naming the fix for missing credentials/region, else AWS's code and first line."""
    from botocore.exceptions import ConnectionError as BotoConnectionError
    from botocore.exceptions import HTTPClientError, NoCredentialsError, NoRegionError

    if isinstance(exc, BotoConnectionError | HTTPClientError):  # refused, timed out, closed: the bounded wait ran out
        endpoint = getattr(exc, "kwargs", {}).get("endpoint_url") or "its endpoint"
        return UserError(
            f"cannot {what}: AWS did not answer at {endpoint} ({type(exc).__name__}); {cloud_waits().statement()}"
        )
    if isinstance(exc, NoCredentialsError):
        return UserError(f"cannot {what}: no AWS credentials found; {CREDENTIALS_HELP}")
    if isinstance(exc, NoRegionError):
        return UserError(f"cannot {what}: no AWS region; set AWS_DEFAULT_REGION")
    code, message, _ = error_parts(exc)
    first = message.strip().splitlines()[0] if message.strip() else code
    return UserError(f"cannot {what}: AWS answered {code}: {first}")


def workspace_of(outputs: PlatformOutputs, *, needed_for: str) -> AwsWorkspaceRef:
    """``outputs.aws``, or a `UserError` saying the stack is not a SageMaker stack (``needed_for`` names who asks)."""
    if outputs.aws is None:
        raise UserError(
            f"stack '{outputs.stack}' (cloud '{outputs.cloud}') exports no 'aws' section (execution role, tracking "
            f"server, serving image, KMS key); {needed_for} needs an AWS stack: run `pulumi up` on it and pass "
            f"`--stack` or `--outputs` for that stack"
        )
    return outputs.aws
