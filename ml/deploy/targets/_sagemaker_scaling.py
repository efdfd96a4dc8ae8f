"""Application Auto Scaling around a SageMaker update that changes the instance type.

Why: SageMaker refuses to update an autoscaled variant to another instance type, yet the stack's
scaling target and policies must survive the rollout. So the target and its policies are saved and
removed before such an update and restored after it, whatever its outcome; a model-only change keeps
them, as SageMaker allows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ml.deploy.targets._sagemaker_configs import call

SCALABLE_DIMENSION = "sagemaker:variant:DesiredInstanceCount"


@dataclass
class SavedScaling:
    """An Application Auto Scaling target and its policies, removed for an instance-type change."""

    target: dict[str, Any]
    policies: list[dict[str, Any]] = field(default_factory=list)


def suspend_scaling(autoscaling: Any, endpoint: str, variant: str, events: list[dict[str, Any]]) -> SavedScaling | None:
    """SageMaker refuses an instance-type change on an autoscaled variant: save and remove its scaling."""
    resource = f"endpoint/{endpoint}/variant/{variant}"
    keys = {"ServiceNamespace": "sagemaker", "ResourceId": resource, "ScalableDimension": SCALABLE_DIMENSION}
    targets = call(
        f"read the autoscaling of {resource}",
        autoscaling.describe_scalable_targets,
        ServiceNamespace="sagemaker",
        ResourceIds=[resource],
        ScalableDimension=SCALABLE_DIMENSION,
    ).get("ScalableTargets", [])
    if not targets:
        return None
    policies = call(f"read the scaling policies of {resource}", autoscaling.describe_scaling_policies, **keys).get(
        "ScalingPolicies", []
    )
    saved = SavedScaling(targets[0], policies)
    for policy in policies:
        call(
            f"delete scaling policy {policy['PolicyName']}",
            autoscaling.delete_scaling_policy,
            PolicyName=policy["PolicyName"],
            **keys,
        )
    call(f"deregister {resource} from autoscaling", autoscaling.deregister_scalable_target, **keys)
    events.append(
        {
            "message": f"the instance type changes: deregistered {resource} from autoscaling "
            f"({len(policies)} policies saved) for the update, as SageMaker requires"
        }
    )
    return saved


def restore_scaling(autoscaling: Any, saved: SavedScaling, events: list[dict[str, Any]]) -> None:
    """Re-register the saved target and put back each of its policies as it was."""
    target = saved.target
    keys = {
        "ServiceNamespace": target["ServiceNamespace"],
        "ResourceId": target["ResourceId"],
        "ScalableDimension": target["ScalableDimension"],
    }
    call(
        f"re-register {target['ResourceId']} for autoscaling",
        autoscaling.register_scalable_target,
        MinCapacity=target["MinCapacity"],
        MaxCapacity=target["MaxCapacity"],
        **keys,
    )
    for policy in saved.policies:
        settings = {
            key: policy[key]
            for key in ("TargetTrackingScalingPolicyConfiguration", "StepScalingPolicyConfiguration")
            if key in policy
        }
        call(
            f"restore scaling policy {policy['PolicyName']}",
            autoscaling.put_scaling_policy,
            PolicyName=policy["PolicyName"],
            PolicyType=policy["PolicyType"],
            **keys,
            **settings,
        )
    events.append(
        {
            "message": f"re-registered {target['ResourceId']} for autoscaling "
            f"({target['MinCapacity']}..{target['MaxCapacity']}) with {len(saved.policies)} policies"
        }
    )
