"""A test-side ``ListServiceQuotas`` for moto's Service Quotas API (SageMaker's and EC2's quotas), one test at a time.

Why: moto 5.2.5's Service Quotas knows only the ``vpc`` defaults (``ListAWSDefaultServiceQuotas``,
``GetServiceQuota``) and has no ``ListServiceQuotas`` at all (HTTP 500). `sagemaker_quotas`
(fixture, needs `moto_server`) registers it on moto's response class for the test, answering the
quotas the test sets with `SageMakerQuotas.set(name, value)` for ``ServiceCode=sagemaker``, and
with ``set(name, value, service="ec2")`` for ``ServiceCode=ec2`` (an EKS GPU node group's vCPU
quotas); ``NoSuchResourceException`` for other services; paginated with ``MaxResults``/``NextToken`` like
the service. Same pattern as `tests.fakes.moto_server.endpoint_updates`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.fakes.moto_server import ACCOUNT_ID, REGION, MotoServer

SERVICES = {"sagemaker": "Amazon SageMaker", "ec2": "Amazon Elastic Compute Cloud (Amazon EC2)"}


class SageMakerQuotas:
    def __init__(self) -> None:
        self.quotas: dict[str, float] = {}
        self.by_service: dict[str, dict[str, float]] = {"sagemaker": self.quotas, "ec2": {}}
        self.calls = 0

    def set(self, name: str, value: float, *, service: str = "sagemaker") -> None:
        self.by_service[service][name] = value

    def listed(self, service: str = "sagemaker") -> list[dict[str, Any]]:
        return [
            {
                "ServiceCode": service,
                "ServiceName": SERVICES[service],
                "QuotaArn": f"arn:aws:servicequotas:{REGION}:{ACCOUNT_ID}:{service}/L-{index:08X}",
                "QuotaCode": f"L-{index:08X}",
                "QuotaName": name,
                "Value": value,
                "Unit": "None",
                "Adjustable": True,
                "GlobalQuota": False,
            }
            for index, (name, value) in enumerate(sorted(self.by_service[service].items()), start=1)
        ]


@pytest.fixture
def sagemaker_quotas(moto_server: MotoServer) -> Iterator[SageMakerQuotas]:
    """Teach moto's Service Quotas API ListServiceQuotas (SageMaker, EC2) for this test only."""
    from moto.servicequotas.responses import ServiceQuotasResponse

    store = SageMakerQuotas()
    attribute = "list_service_quotas"
    assert not hasattr(ServiceQuotasResponse, attribute), "moto implements ListServiceQuotas now; drop this"

    def list_service_quotas(self: Any) -> Any:
        params = json.loads(self.body or "{}")
        store.calls += 1
        service = params.get("ServiceCode")
        if service not in store.by_service:
            return 400, {}, json.dumps({"__type": "NoSuchResourceException", "message": "no such service"})
        quotas = store.listed(service)
        start = int(params.get("NextToken") or 0)
        size = int(params.get("MaxResults") or 100)
        answer: dict[str, Any] = {"Quotas": quotas[start : start + size]}
        if start + size < len(quotas):
            answer["NextToken"] = str(start + size)
        return json.dumps(answer)

    setattr(ServiceQuotasResponse, attribute, list_service_quotas)
    try:
        yield store
    finally:
        delattr(ServiceQuotasResponse, attribute)
