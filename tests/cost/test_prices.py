"""The one price table: every number names its source and date; lookups never guess."""

from __future__ import annotations

import pytest

from ml.contract.errors import UserError
from ml.cost.assumptions import Assumptions, assumptions_from_config
from ml.cost.hosting import POD_BASIS, find_ec2_price, find_hosting_price, known_ec2_types, known_hosting_types
from ml.cost.prices import RETRIEVED, find_price, price_for
from ml.cost.services import find_service_price, known_service_keys, service_price


def _check_source(url: str, retrieved: str, note: str) -> None:
    assert url.startswith("https://") and retrieved == RETRIEVED and "approximate" in note


def test_every_price_names_a_source_page_and_the_compile_date() -> None:
    for key in known_service_keys():
        price = service_price(key)
        _check_source(price.source.url, price.source.retrieved, price.source.note)
        assert price.amount >= 0 and price.currency == "USD"
    for name in known_hosting_types():
        hosting = find_hosting_price(name)
        assert hosting is not None and hosting.spot_per_hour == hosting.on_demand_per_hour > 0
        _check_source(hosting.source.url, hosting.source.retrieved, hosting.source.note)
    for name in known_ec2_types():
        ec2 = find_ec2_price(name)
        assert ec2 is not None and 0 < ec2.spot_per_hour < ec2.on_demand_per_hour
        assert ec2.source.url == "https://aws.amazon.com/ec2/pricing/on-demand/"
    _check_source(POD_BASIS.source.url, POD_BASIS.source.retrieved, POD_BASIS.source.note)


def test_the_table_covers_what_the_committed_stacks_bill() -> None:
    for vm in ("Standard_NC4as_T4_v3", "Standard_NC24ads_A100_v4", "Standard_DS3_v2", "Standard_D4s_v3"):
        assert find_price(vm) is not None, vm
    assert price_for("ml.p4d.24xlarge").spot_per_hour == pytest.approx(37.688 * 0.3, abs=0.01)
    assert find_hosting_price("ml.g5.2xlarge") is not None and find_hosting_price("ml.m5.large") is not None
    for key in ("azure:acr:Basic", "azure:acr:Premium", "aws:mlflow:Small", "aws:mlflow:Medium", "aws:kms:key"):
        assert find_service_price(key) is not None, key
    assert service_price("azure:aks:Standard").amount * 730 == pytest.approx(73.0)
    assert service_price("aws:eks:control-plane").unit == "hour"


def test_unknown_names_are_none_or_a_clear_error_never_zero() -> None:
    assert find_price("Standard_ND96asr_v4") is None
    assert find_hosting_price("ml.p5.48xlarge") is None and find_ec2_price("p5.48xlarge") is None
    assert find_service_price("azure:acr:Gold") is None
    with pytest.raises(KeyError, match="no service price 'azure:acr:Gold'"):
        service_price("azure:acr:Gold")
    with pytest.raises(UserError, match="no price for instance type 'Standard_ND96asr_v4'"):
        price_for("Standard_ND96asr_v4")


def test_pod_basis_prices_requested_cpu_and_memory() -> None:
    assert POD_BASIS.per_hour(cpu=4, memory_gib=16) == pytest.approx(0.192)  # one D4s_v3 / m5.xlarge node
    assert POD_BASIS.per_hour(cpu=0.5, memory_gib=1) == pytest.approx(0.5 * 0.024 + 1 * 0.006)


def test_assumptions_come_from_the_cost_namespace_and_are_validated() -> None:
    assert assumptions_from_config({}) == Assumptions()
    chosen = assumptions_from_config({"storageGb": 500, "logIngestionGb": 20})
    assert (chosen.storage_gb, chosen.log_ingestion_gb, chosen.key_vault_operations) == (500, 20, 100_000)
    with pytest.raises(UserError, match=r"unknown key 'cost:storageGB'; allowed: keyVaultOperations, logIngestionGb"):
        assumptions_from_config({"storageGB": 1}, source="Pulumi.dev.yaml")
    with pytest.raises(UserError, match=r"Pulumi.dev.yaml: cost:storageGb = -1; expected a number >= 0"):
        assumptions_from_config({"storageGb": -1}, source="Pulumi.dev.yaml")
