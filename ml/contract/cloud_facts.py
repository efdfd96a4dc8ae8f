"""The instance sizes and regions the project knows per cloud: what the stack config is checked against.

Why in the contract: the stack config (`infra/config/input_rules.py`) refuses a size or region not
listed here, and the cost model (`ml/cost/prices.py`) prices exactly these sizes; a test keeps the two
lists equal, so a size the config accepts always has a price. A size the list does not know yet is
allowed per stack with `mlops:allowUnknownSizes: [<size>, ...]` (and then shows as unpriced in
`ml plan`); add it here (and its price) to make it known for every stack.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

KNOWN_SIZES: dict[str, frozenset[str]] = {
    "azure": frozenset(
        {
            "Standard_NC4as_T4_v3",
            "Standard_NC8as_T4_v3",
            "Standard_NC6s_v3",
            "Standard_NC24ads_A100_v4",
            "Standard_DS2_v2",
            "Standard_DS3_v2",
            "Standard_DS4_v2",
            "Standard_D2s_v3",
            "Standard_D4s_v3",
            "Standard_D8s_v3",
            "Standard_F2s_v2",
            "Standard_F4s_v2",
            "Standard_E4s_v3",
        }
    ),
    "aws": frozenset(
        {
            "ml.g4dn.xlarge",
            "ml.g4dn.2xlarge",
            "ml.g5.xlarge",
            "ml.g5.2xlarge",
            "ml.p3.2xlarge",
            "ml.p4d.24xlarge",
            "ml.m5.large",
            "ml.m5.xlarge",
            "ml.c5.xlarge",
        }
    ),
}
"""Cloud -> the VM sizes (Azure) / SageMaker instance types (AWS) the platform is sized and priced for."""

KNOWN_NODE_SIZES: dict[str, frozenset[str]] = {
    "azure": KNOWN_SIZES["azure"],
    "aws": frozenset(
        {"m5.large", "m5.xlarge", "g4dn.xlarge", "g4dn.2xlarge", "g5.xlarge", "g5.2xlarge", "g6.xlarge", "p3.2xlarge"}
    ),
}
"""Cloud -> the node sizes of a `mlops:kubernetes.gpuNodePool`: AKS pools take the same Azure VM sizes,
EKS node groups plain EC2 instance types (no ``ml.`` prefix); exactly the EC2 types the cost model
prices (`ml.cost.hosting.known_ec2_types`, kept equal by a test)."""

KNOWN_REGIONS: dict[str, frozenset[str]] = {
    "azure": frozenset(
        [
            "australiaeast",
            "brazilsouth",
            "canadacentral",
            "canadaeast",
            "centralindia",
            "centralus",
            "eastasia",
            "eastus",
            "eastus2",
            "francecentral",
            "germanywestcentral",
            "italynorth",
            "japaneast",
            "japanwest",
            "koreacentral",
            "northcentralus",
            "northeurope",
            "norwayeast",
            "polandcentral",
            "qatarcentral",
            "southafricanorth",
            "southcentralus",
            "southeastasia",
            "southindia",
            "spaincentral",
            "swedencentral",
            "switzerlandnorth",
            "uaenorth",
            "uksouth",
            "ukwest",
            "westcentralus",
            "westeurope",
            "westus",
            "westus2",
            "westus3",
        ]
    ),
    "aws": frozenset(
        [
            "af-south-1",
            "ap-east-1",
            "ap-northeast-1",
            "ap-northeast-2",
            "ap-northeast-3",
            "ap-south-1",
            "ap-south-2",
            "ap-southeast-1",
            "ap-southeast-2",
            "ap-southeast-3",
            "ap-southeast-4",
            "ca-central-1",
            "eu-central-1",
            "eu-central-2",
            "eu-north-1",
            "eu-south-1",
            "eu-south-2",
            "eu-west-1",
            "eu-west-2",
            "eu-west-3",
            "il-central-1",
            "me-central-1",
            "me-south-1",
            "sa-east-1",
            "us-east-1",
            "us-east-2",
            "us-gov-east-1",
            "us-gov-west-1",
            "us-west-1",
            "us-west-2",
        ]
    ),
}
"""Cloud -> the regions Azure ML / SageMaker run in (public and US government partitions)."""


def closest_names(name: str, known: Iterable[str], *, count: int = 3) -> list[str]:
    """The known names a misspelt one most likely meant (case-insensitive), best first."""
    by_lower = {k.lower(): k for k in known}
    return [by_lower[m] for m in difflib.get_close_matches(name.lower(), list(by_lower), n=count, cutoff=0.6)]
