"""A SageMaker sweep's utilisation from CloudWatch, when its trials recorded none in MLflow.

Why a fallback and not the source: every backend's utilisation is read from the trials' MLflow
system metrics (`ml.sweep.backends.utilization`); a SageMaker stack without an MLflow tracking
server (or an image without MLflow) leaves none. SageMaker itself publishes each training
instance's ``CPUUtilization``, ``MemoryUtilization`` and ``GPUUtilization`` in the CloudWatch
namespace ``/aws/sagemaker/TrainingJobs`` (dimension ``Host`` = ``<job>/algo-<n>``). CPU and GPU
there are summed over the instance's cores and GPUs (0-400 % on 4 vCPUs), so they are divided by
the instance type's vCPU and GPU counts (EC2 DescribeInstanceTypes for the type without ``ml.``);
memory is already a percentage. A trial's mean is the mean of its instance's per-minute averages
over its training time; the sweep's is weighted by those times, as for MLflow.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from ml.aws import client as aws_client
from ml.contract import PlatformOutputs
from ml.sweep.backends._sagemaker_status import training_jobs

NAMESPACE = "/aws/sagemaker/TrainingJobs"
METRICS = {"cpu": "CPUUtilization", "memory": "MemoryUtilization", "gpu": "GPUUtilization"}


def instance_counts(ec2: Any, instance_type: str) -> tuple[int | None, int | None]:
    """(vCPUs, GPUs) of a SageMaker instance type (``ml.g5.xlarge`` -> EC2 ``g5.xlarge``), None where unknown."""
    try:
        found = ec2.describe_instance_types(InstanceTypes=[instance_type.removeprefix("ml.")])["InstanceTypes"]
    except Exception:  # a SageMaker-only type has no EC2 twin: its summed metrics cannot be normalised
        return None, None
    if not found:
        return None, None
    vcpus = found[0].get("VCpuInfo", {}).get("DefaultVCpus")
    gpus = sum(gpu.get("Count", 0) for gpu in found[0].get("GpuInfo", {}).get("Gpus", [])) or None
    return vcpus, gpus


def _mean(cloudwatch: Any, metric: str, host: str, start: datetime, end: datetime) -> float | None:
    points = cloudwatch.get_metric_statistics(
        Namespace=NAMESPACE,
        MetricName=metric,
        Dimensions=[{"Name": "Host", "Value": host}],
        StartTime=start,
        EndTime=end + timedelta(minutes=1),
        Period=60,
        Statistics=["Average"],
    ).get("Datapoints", [])
    values = [float(point["Average"]) for point in points if "Average" in point]
    return sum(values) / len(values) if values else None


def cloudwatch_utilization(outputs: PlatformOutputs, sweep_id: str) -> dict[str, float] | None:
    """Time-weighted mean CPU, memory and GPU percent over the sweep's training jobs; None: CloudWatch has none."""
    from ml.sweep.backends.utilization import weighted_mean

    sagemaker = aws_client("sagemaker", outputs.region)
    description = sagemaker.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=sweep_id)
    instance = description.get("TrainingJobDefinition", {}).get("ResourceConfig", {}).get("InstanceType", "")
    vcpus, gpus = instance_counts(aws_client("ec2", outputs.region), instance)
    divisors = {"cpu": vcpus, "memory": 1, "gpu": gpus}
    summaries, _ = training_jobs(sagemaker, sweep_id)
    cloudwatch = aws_client("cloudwatch", outputs.region)
    now = datetime.now(UTC)
    per_trial: list[tuple[float, dict[str, float]]] = []
    for summary in summaries or []:
        start = summary.get("TrainingStartTime")
        if not isinstance(start, datetime):
            continue
        ended = summary.get("TrainingEndTime")
        end: datetime = ended if isinstance(ended, datetime) else now
        host = f"{summary['TrainingJobName']}/algo-1"
        means: dict[str, float] = {}
        for resource, metric in METRICS.items():
            divisor = divisors[resource]
            value = _mean(cloudwatch, metric, host, start, end) if divisor else None
            if value is not None and divisor:
                means[resource] = value / divisor
        if means:
            per_trial.append((max((end - start).total_seconds(), 1.0), means))
    if not per_trial:
        return None
    result = {
        resource: weighted_mean((seconds, means.get(resource)) for seconds, means in per_trial) for resource in METRICS
    }
    return {resource: value for resource, value in result.items() if value is not None}
