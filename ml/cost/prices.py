"""Hourly prices of the instance types the platform trains on: on-demand and spot / low-priority.

Why a static table: a sweep must be refused *before* it is submitted when its worst case exceeds
the cap or the stack's budget, offline and in tests, without a pricing API call. The table says
where its numbers come from; treat them as approximate list prices for one region, good enough to
bound a worst case (the usual error is well under the factor-of-several a cap protects against),
not as a bill. Update them by editing `_TABLE` and `SOURCES`.

Sources (public list-price pages, Linux, pay-as-you-go, no discounts):

- Azure: https://azure.microsoft.com/en-us/pricing/details/virtual-machines/linux/ and
  https://azure.microsoft.com/en-us/pricing/details/machine-learning/ (Azure ML adds no surcharge
  on compute), region East US. Azure ML low-priority / spot prices float; the table uses the
  typical published discount (~80 % for general-purpose and ~60-70 % for GPU sizes).
- AWS: https://aws.amazon.com/sagemaker/pricing/ (tab "On-Demand Pricing", "Training"), region
  us-east-1. SageMaker managed spot training bills the spot price, advertised as "up to 90 %" off;
  the table assumes a typical 70 % saving.

The values were compiled on 2026-11-22 from list prices as published in 2025, without fetching the
pages from this machine (it has no access to them): they are approximate. `local` costs nothing.

The Azure rows are VM prices, so the same rows also price AKS node pools and Azure ML managed
online endpoint instances (Azure ML adds no surcharge on either). What else the platform bills
(SageMaker hosting, EC2 nodes, registries, tracking servers, storage, logs) lives next to this
table in `ml/cost/hosting.py` and `ml/cost/services.py`; `ml/cost/estimate.py` prices a plan.

Example::

    >>> price_for("ml.g4dn.xlarge").on_demand_per_hour
    0.736
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ml.contract.errors import UserError

PriceCloud = Literal["azure", "aws", "local"]


@dataclass(frozen=True)
class PriceSource:
    """Where a cloud's prices come from, for which region, and when they were compiled."""

    cloud: PriceCloud
    url: str
    region: str
    retrieved: str
    note: str


@dataclass(frozen=True)
class InstancePrice:
    """One instance type's hourly price (per instance), on demand and on spot / low-priority capacity."""

    instance_type: str
    cloud: PriceCloud
    on_demand_per_hour: float
    spot_per_hour: float
    currency: str
    source: PriceSource

    def per_hour(self, *, spot: bool) -> float:
        """The hourly price for the chosen capacity."""
        return self.spot_per_hour if spot else self.on_demand_per_hour


RETRIEVED = "2026-11-22"
SOURCES: dict[PriceCloud, PriceSource] = {
    "azure": PriceSource(
        cloud="azure",
        url="https://azure.microsoft.com/en-us/pricing/details/virtual-machines/linux/",
        region="eastus",
        retrieved=RETRIEVED,
        note="approximate pay-as-you-go and spot/low-priority list prices (2025 pages), Linux, USD",
    ),
    "aws": PriceSource(
        cloud="aws",
        url="https://aws.amazon.com/sagemaker/pricing/",
        region="us-east-1",
        retrieved=RETRIEVED,
        note="approximate SageMaker training on-demand list prices (2025 page); spot assumed 70% off, USD",
    ),
    "local": PriceSource(
        cloud="local",
        url="n/a",
        region="localhost",
        retrieved=RETRIEVED,
        note="processes on this machine cost nothing extra",
    ),
}

# instance type -> (cloud, on-demand USD/h, spot USD/h)
_TABLE: dict[str, tuple[PriceCloud, float, float]] = {
    # Azure GPU sizes (NC T4 v3, NC V100 v3, NC A100 v4)
    "Standard_NC4as_T4_v3": ("azure", 0.526, 0.158),
    "Standard_NC8as_T4_v3": ("azure", 0.752, 0.226),
    "Standard_NC6s_v3": ("azure", 3.06, 0.918),
    "Standard_NC24ads_A100_v4": ("azure", 3.673, 1.469),
    # Azure CPU sizes (training clusters, AKS nodes, managed online endpoint instances)
    "Standard_DS2_v2": ("azure", 0.114, 0.023),
    "Standard_DS3_v2": ("azure", 0.229, 0.046),
    "Standard_DS4_v2": ("azure", 0.458, 0.092),
    "Standard_D2s_v3": ("azure", 0.096, 0.019),
    "Standard_D4s_v3": ("azure", 0.192, 0.038),
    "Standard_D8s_v3": ("azure", 0.384, 0.077),
    "Standard_F2s_v2": ("azure", 0.085, 0.017),
    "Standard_E4s_v3": ("azure", 0.252, 0.050),
    "Standard_F4s_v2": ("azure", 0.169, 0.034),
    # SageMaker training instances
    "ml.g4dn.xlarge": ("aws", 0.736, 0.221),
    "ml.g4dn.2xlarge": ("aws", 1.052, 0.316),
    "ml.g5.xlarge": ("aws", 1.408, 0.422),
    "ml.g5.2xlarge": ("aws", 1.515, 0.455),
    "ml.p3.2xlarge": ("aws", 3.825, 1.148),
    "ml.p4d.24xlarge": ("aws", 37.688, 11.306),
    "ml.m5.large": ("aws", 0.115, 0.035),
    "ml.m5.xlarge": ("aws", 0.23, 0.069),
    "ml.c5.xlarge": ("aws", 0.204, 0.061),
    # the embedded platform
    "local": ("local", 0.0, 0.0),
}
CURRENCY = "USD"
_BY_LOWER = {name.lower(): name for name in _TABLE}


def known_instance_types(cloud: PriceCloud | None = None) -> list[str]:
    """Instance types the table prices, optionally for one cloud."""
    return [name for name, (where, _, _) in _TABLE.items() if cloud is None or where == cloud]


def find_price(instance_type: str) -> InstancePrice | None:
    """The price of one instance type, or None when the table does not know it.

    Why a second lookup: a plan estimate reports an unknown type as an explicit "no price" line
    and goes on with the other resources, where a sweep's cost check must stop (`price_for`).
    """
    name = _BY_LOWER.get(instance_type.strip().lower())
    if name is None:
        return None
    cloud, on_demand, spot = _TABLE[name]
    return InstancePrice(
        instance_type=name,
        cloud=cloud,
        on_demand_per_hour=on_demand,
        spot_per_hour=spot,
        currency=CURRENCY,
        source=SOURCES[cloud],
    )


def price_for(instance_type: str) -> InstancePrice:
    """The price of one instance type; Azure SKU names match case-insensitively, as Azure does.

    An unknown type is a `UserError` that lists the known ones: a cost check must not guess.
    """
    found = find_price(instance_type)
    if found is None:
        by_cloud = "; ".join(
            f"{cloud}: {', '.join(known_instance_types(cloud))}" for cloud in ("azure", "aws", "local")
        )
        raise UserError(
            f"no price for instance type '{instance_type}'. Known types ({by_cloud}). Use one of them "
            f"(compute.instance_type in the sweep spec, or the stack's training instance type), or add "
            f"it to ml/cost/prices.py with its source."
        )
    return found
