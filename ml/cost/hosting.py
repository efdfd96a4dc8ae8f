"""Hourly prices of what serves models and runs Kubernetes nodes: SageMaker hosting, EC2, pods.

Why separate from the training table (`ml/cost/prices.py`): SageMaker bills real-time hosting
per `ml.*` instance-hour at its own list price (close to, not equal to, training), EKS nodes are
plain EC2 instance types without the `ml.` prefix, and a pod on an existing cluster is billed as
the share of a node its requests reserve. Azure needs no table here: managed online endpoints
and AKS node pools bill the VM price, which `prices.py` already has.

Sources (approximate list prices as published in 2025, compiled on 2026-11-22 without fetching
the pages from this machine; Linux, pay-as-you-go, no discounts, USD):

- SageMaker real-time inference: https://aws.amazon.com/sagemaker/pricing/ (tab "On-Demand
  Pricing", "Real-Time Inference"), us-east-1.
- EC2 (EKS node groups): https://aws.amazon.com/ec2/pricing/on-demand/, us-east-1; spot assumed
  70 % off on-demand, the same typical saving `prices.py` assumes for SageMaker spot training
  (real spot prices float: https://aws.amazon.com/ec2/spot/pricing/).
- Pod basis: a general-purpose node with 4 vCPU and 16 GiB costs 0.192 USD/h on both clouds
  (Azure Standard_D4s_v3, East US; EC2 m5.xlarge, us-east-1); half of it is attributed to CPU
  and half to memory, giving 0.024 USD per requested vCPU-hour and 0.006 USD per GiB-hour.

Example::

    >>> find_hosting_price("ml.m5.large").on_demand_per_hour
    0.115
    >>> POD_BASIS.per_hour(cpu=0.5, memory_gib=1.0)
    0.018
"""

from __future__ import annotations

from dataclasses import dataclass

from ml.cost.prices import CURRENCY, RETRIEVED, InstancePrice, PriceSource

SAGEMAKER_HOSTING = PriceSource(
    cloud="aws",
    url="https://aws.amazon.com/sagemaker/pricing/",
    region="us-east-1",
    retrieved=RETRIEVED,
    note="approximate SageMaker real-time inference on-demand list prices (2025 page), USD",
)
EC2 = PriceSource(
    cloud="aws",
    url="https://aws.amazon.com/ec2/pricing/on-demand/",
    region="us-east-1",
    retrieved=RETRIEVED,
    note="approximate EC2 Linux on-demand list prices (2025 page); spot assumed 70% off, USD",
)
POD_SOURCE = PriceSource(
    cloud="azure",
    url="https://azure.microsoft.com/en-us/pricing/details/virtual-machines/linux/",
    region="eastus",
    retrieved=RETRIEVED,
    note="approximate: a 4 vCPU / 16 GiB node (D4s_v3, or EC2 m5.xlarge) at 0.192 USD/h split half CPU, half memory",
)

# SageMaker real-time hosting, USD per instance-hour (no spot for hosting).
_HOSTING: dict[str, float] = {
    "ml.t2.medium": 0.056,
    "ml.m5.large": 0.115,
    "ml.m5.xlarge": 0.23,
    "ml.m5.2xlarge": 0.461,
    "ml.c5.large": 0.102,
    "ml.c5.xlarge": 0.204,
    "ml.c5.2xlarge": 0.408,
    "ml.g4dn.xlarge": 0.736,
    "ml.g4dn.2xlarge": 1.052,
    "ml.g5.xlarge": 1.408,
    "ml.g5.2xlarge": 1.515,
    "ml.p3.2xlarge": 3.825,
    "ml.inf2.xlarge": 0.99,
}

_SPOT_FACTOR = 0.3
"""EC2 spot as a fraction of on-demand (the 70 % typical saving the training table also assumes)."""

# EC2 instance types for EKS node groups, USD per instance-hour on demand.
_EC2: dict[str, float] = {
    "m5.large": 0.096,
    "m5.xlarge": 0.192,
    "g4dn.xlarge": 0.526,
    "g4dn.2xlarge": 0.752,
    "g5.xlarge": 1.006,
    "g5.2xlarge": 1.212,
    "g6.xlarge": 0.805,
    "p3.2xlarge": 3.06,
}


@dataclass(frozen=True)
class PodBasis:
    """What one pod costs per hour on an existing cluster, from the CPU and memory it requests."""

    per_vcpu_hour: float
    per_gib_hour: float
    currency: str
    source: PriceSource

    def per_hour(self, *, cpu: float, memory_gib: float) -> float:
        """The hourly price of one pod requesting `cpu` vCPUs and `memory_gib` GiB."""
        return round(cpu * self.per_vcpu_hour + memory_gib * self.per_gib_hour, 6)


POD_BASIS = PodBasis(per_vcpu_hour=0.024, per_gib_hour=0.006, currency=CURRENCY, source=POD_SOURCE)


def find_hosting_price(instance_type: str) -> InstancePrice | None:
    """A SageMaker real-time hosting instance's hourly price (spot = on-demand), or None if unknown."""
    price = _HOSTING.get(instance_type.strip())
    if price is None:
        return None
    return InstancePrice(instance_type, "aws", price, price, CURRENCY, SAGEMAKER_HOSTING)


def find_ec2_price(instance_type: str) -> InstancePrice | None:
    """An EC2 instance type's hourly price on demand and on spot (for EKS node groups), or None."""
    price = _EC2.get(instance_type.strip())
    if price is None:
        return None
    return InstancePrice(instance_type, "aws", price, round(price * _SPOT_FACTOR, 4), CURRENCY, EC2)


def known_hosting_types() -> list[str]:
    """SageMaker hosting instance types the table prices."""
    return list(_HOSTING)


def known_ec2_types() -> list[str]:
    """EC2 instance types (EKS nodes) the table prices."""
    return list(_EC2)
