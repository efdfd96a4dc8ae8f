"""Monthly and per-unit prices of the platform's managed services: the bills that are not instances.

Why a table of named items: each resource type the platform declares maps to one of these keys
(`ml/cost/estimate.py`), so a reviewer sees which list price a line used and where it comes from.
Units are explicit: `month` is a flat monthly fee, `hour` is billed around the clock (730 h a
month), `GB-month` is storage and needs an assumed data volume, `GB` is per GB ingested, and
`10k operations` is per 10,000 requests. Those volumes are assumptions (`ml/cost/assumptions.py`).

Every price is an approximate list price as published in 2025 (US East regions: Azure eastus,
AWS us-east-1), compiled on 2026-11-22 without fetching the pages from this machine, USD, no
free tiers or discounts applied. The stacks run in westeurope / eu-west-1, which list 5-15 %
higher for most items: treat the estimate as an order of magnitude for a budget, not a bill.

Example::

    >>> service_price("azure:acr:Premium").amount
    50.0
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ml.cost.prices import CURRENCY, RETRIEVED, PriceCloud, PriceSource

Unit = Literal["month", "hour", "GB-month", "GB", "10k operations"]


def _source(cloud: PriceCloud, url: str, region: str, what: str) -> PriceSource:
    return PriceSource(cloud=cloud, url=url, region=region, retrieved=RETRIEVED, note=f"approximate {what}, USD")


_ACR = _source(
    "azure", "https://azure.microsoft.com/en-us/pricing/details/container-registry/", "eastus", "registry tier"
)
_AKS = _source("azure", "https://azure.microsoft.com/en-us/pricing/details/kubernetes-service/", "eastus", "AKS tier")
_KV = _source("azure", "https://azure.microsoft.com/en-us/pricing/details/key-vault/", "eastus", "vault operations")
_MONITOR = _source(
    "azure", "https://azure.microsoft.com/en-us/pricing/details/monitor/", "eastus", "Log Analytics ingestion"
)
_BLOB = _source(
    "azure", "https://azure.microsoft.com/en-us/pricing/details/storage/blobs/", "eastus", "Blob hot tier capacity"
)
_MLFLOW = _source(
    "aws", "https://aws.amazon.com/sagemaker/pricing/", "us-east-1", "SageMaker managed MLflow tracking server"
)
_KMS = _source("aws", "https://aws.amazon.com/kms/pricing/", "us-east-1", "customer managed key")
_EKS = _source("aws", "https://aws.amazon.com/eks/pricing/", "us-east-1", "EKS control plane (standard support)")
_S3 = _source("aws", "https://aws.amazon.com/s3/pricing/", "us-east-1", "S3 Standard capacity")
_CLOUDWATCH = _source("aws", "https://aws.amazon.com/cloudwatch/pricing/", "us-east-1", "standard-resolution alarm")
_PRIVATE_LINK = _source(
    "azure", "https://azure.microsoft.com/en-us/pricing/details/private-link/", "eastus", "private endpoint"
)
_PRIVATE_DNS = _source("azure", "https://azure.microsoft.com/en-us/pricing/details/dns/", "eastus", "private DNS zone")
_METRIC_ALERT = _source(
    "azure", "https://azure.microsoft.com/en-us/pricing/details/monitor/", "eastus", "metric alert rule"
)
_AWS_PRIVATE_LINK = _source("aws", "https://aws.amazon.com/privatelink/pricing/", "us-east-1", "interface VPC endpoint")


@dataclass(frozen=True)
class ServicePrice:
    """One billed item: its amount per unit, the unit, and where the number comes from."""

    key: str
    amount: float
    unit: Unit
    currency: str
    source: PriceSource


_TABLE: dict[str, tuple[float, Unit, PriceSource]] = {
    # Azure Container Registry: flat daily fee per tier (0.167 / 0.667 / 1.667 USD a day).
    "azure:acr:Basic": (5.0, "month", _ACR),
    "azure:acr:Standard": (20.0, "month", _ACR),
    "azure:acr:Premium": (50.0, "month", _ACR),
    # AKS control plane, when a stack creates the cluster (the platform's stacks attach to one).
    "azure:aks:Free": (0.0, "hour", _AKS),
    "azure:aks:Standard": (0.10, "hour", _AKS),
    "azure:aks:Premium": (0.60, "hour", _AKS),
    # Key Vault standard: no monthly fee, 0.03 USD per 10,000 operations.
    "azure:keyvault:standard": (0.03, "10k operations", _KV),
    "azure:keyvault:premium": (0.03, "10k operations", _KV),
    # Log Analytics pay-as-you-go (PerGB2018, Analytics logs); workspace-based App Insights bills here.
    "azure:loganalytics:PerGB2018": (2.30, "GB", _MONITOR),
    # Blob storage, hot tier, per GB-month by redundancy.
    "azure:blob:Standard_LRS": (0.0184, "GB-month", _BLOB),
    "azure:blob:Standard_ZRS": (0.023, "GB-month", _BLOB),
    "azure:blob:Standard_GRS": (0.0368, "GB-month", _BLOB),
    "azure:blob:Standard_RAGRS": (0.046, "GB-month", _BLOB),
    # SageMaker managed MLflow tracking servers, billed per hour while they exist.
    "aws:mlflow:Small": (0.60, "hour", _MLFLOW),
    "aws:mlflow:Medium": (1.40, "hour", _MLFLOW),
    "aws:mlflow:Large": (3.00, "hour", _MLFLOW),
    "aws:kms:key": (1.0, "month", _KMS),
    "aws:eks:control-plane": (0.10, "hour", _EKS),
    "aws:s3:STANDARD": (0.023, "GB-month", _S3),
    "aws:cloudwatch:alarm": (0.10, "month", _CLOUDWATCH),
    # Azure Private Link: each private endpoint bills by the hour while it exists, plus data processed
    # (0.01 USD per GB inbound and again per GB outbound, first 1 PB tier).
    "azure:privatelink:endpoint": (0.01, "hour", _PRIVATE_LINK),
    "azure:privatelink:data": (0.01, "GB", _PRIVATE_LINK),
    # Azure DNS private zone: 0.50 USD per zone-month (first 25 zones); queries 0.40 USD per million
    # (not modelled). Virtual network links without autoregistration are not billed.
    "azure:privatedns:zone": (0.50, "month", _PRIVATE_DNS),
    # Azure Monitor metric alert rule: 0.10 USD per monitored time series per month (10 free not applied).
    "azure:monitor:metric-alert": (0.10, "month", _METRIC_ALERT),
    # AWS PrivateLink interface endpoint: 0.01 USD per hour per AZ (one ENI per subnet) and 0.01 USD per
    # GB processed (first 1 PB); gateway endpoints (S3, DynamoDB) are free.
    "aws:privatelink:interface-az": (0.01, "hour", _AWS_PRIVATE_LINK),
    "aws:privatelink:data": (0.01, "GB", _AWS_PRIVATE_LINK),
}


def find_service_price(key: str) -> ServicePrice | None:
    """The price of one billed item (`azure:acr:Premium`, `aws:mlflow:Small`, ...), or None."""
    found = _TABLE.get(key)
    if found is None:
        return None
    amount, unit, source = found
    return ServicePrice(key=key, amount=amount, unit=unit, currency=CURRENCY, source=source)


def service_price(key: str) -> ServicePrice:
    """Like `find_service_price`, for keys the code names itself: a missing key is a bug, not input."""
    found = find_service_price(key)
    if found is None:
        raise KeyError(f"no service price '{key}' in ml/cost/services.py; known: {', '.join(_TABLE)}")
    return found


def known_service_keys() -> list[str]:
    """Every billed item the table prices."""
    return list(_TABLE)
