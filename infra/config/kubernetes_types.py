"""Kubernetes value types: CPU and memory quantities and DNS labels, read the way Kubernetes reads them.

Why apart from the sections: the quota check (`KubernetesSettings`) and the serving resources
compare quantities ('500m' vs '2', '512Mi' vs '1G'), so parsing lives in one place.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_CPU = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(m?)$")
_MEMORY = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$")
_MEMORY_UNITS = {
    "": 1,
    **{unit: 1000**power for power, unit in enumerate(("k", "M", "G", "T", "P", "E"), start=1)},
    **{unit: 1024**power for power, unit in enumerate(("Ki", "Mi", "Gi", "Ti", "Pi", "Ei"), start=1)},
}


def cpu_millicores(value: str) -> int:
    """'2' -> 2000, '0.5' -> 500, '250m' -> 250: how Kubernetes reads a CPU quantity."""
    match = _CPU.match(value)
    if match is None:
        raise ValueError(f"'{value}' is not a CPU quantity; use cores ('2', '0.5') or millicores ('500m')")
    number, milli = float(match.group(1)), match.group(2)
    return round(number if milli else number * 1000)


def memory_bytes(value: str) -> int:
    """'512Mi' -> 536870912, '1G' -> 10**9: how Kubernetes reads a memory quantity."""
    match = _MEMORY.match(value)
    if match is None:
        raise ValueError(f"'{value}' is not a memory quantity; use e.g. '512Mi', '2Gi' or '1G'")
    return round(float(match.group(1)) * _MEMORY_UNITS[match.group(2) or ""])


def _cpu_quantity(value: Any) -> Any:
    """YAML gives `cpu: 2` as a number; Kubernetes quantities are strings."""
    text = str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value
    if isinstance(text, str):
        cpu_millicores(text)
    return text


def _memory_quantity(value: Any) -> Any:
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if isinstance(text, str):
        memory_bytes(text)
    return text


CpuQuantity = Annotated[str, BeforeValidator(_cpu_quantity)]
MemoryQuantity = Annotated[str, BeforeValidator(_memory_quantity)]


def _dns_label(value: str) -> str:
    if not DNS_LABEL.match(value):
        raise ValueError(f"'{value}' must be a DNS label: lowercase letters, digits and '-', at most 63 characters")
    return value


DnsLabel = Annotated[str, AfterValidator(_dns_label)]
