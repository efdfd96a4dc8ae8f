"""Stack config validation: every bad value stops the program with one message naming key, value, rule."""

from __future__ import annotations

from typing import Any

import pytest

from infra.config import ConfigError, load_settings
from ml.plan.offline import PlannedResource, run_offline
from tests.infra.helpers import stack_config, with_changes


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_committed_stacks_are_valid(stack: str) -> None:
    settings = load_settings(stack_config(stack).namespace("mlops"), source=stack)
    assert settings.environment == stack
    assert settings.training_cluster.min_nodes == 0
    assert settings.training_cluster.spot


BAD_VALUES: list[tuple[dict[str, Any], list[str]]] = [
    (
        {"trainingCluster.minNodes": 3, "trainingCluster.maxNodes": 2},
        ["mlops:trainingCluster", "minNodes (3)", "maxNodes (2)"],
    ),
    ({"trainingCluster.maxNodes": 0}, ["mlops:trainingCluster.maxNodes = 0", "greater than or equal to 1"]),
    (
        {"trainingCluster.instanceType": "Standard_Q99"},
        ["trainingCluster.instanceType", "Standard_Q99", "Standard_NC*"],
    ),
    ({"trainingCluster.instanceType": "Standard_DS3_v2"}, ["unknown SKU 'Standard_DS3_v2'", "GPU"]),
    ({"trainingCluster.priority": "Spotty"}, ["mlops:trainingCluster.priority = 'Spotty'", "LowPriority", "Dedicated"]),
    ({"trainingCluster.maxWaitHours": 1, "trainingCluster.maxRunHours": 4}, ["maxWaitHours (1", "maxRunHours (4"]),
    ({"budget.amount": 0}, ["mlops:budget.amount = 0", "greater than 0"]),
    ({"budget.amount": -10}, ["mlops:budget.amount = -10"]),
    (
        {"budget.thresholds.0.percent": 1500},
        ["mlops:budget.thresholds[0].percent = 1500", "less than or equal to 1000"],
    ),
    ({"budget.thresholds.0.kind": "guessed"}, ["budget.thresholds[0].kind = 'guessed'", "'actual' or 'forecasted'"]),
    ({"budget.contactEmails": ["not-an-email"]}, ["budget.contactEmails", "not e-mail addresses"]),
    ({"budget.startDate": "2026-12-15"}, ["budget.startDate", "first day of a month"]),
    ({"budget.currency": "dollars"}, ["budget.currency = 'dollars'"]),
    (
        {"artifacts.tiers.0.coolAfterDays": 200, "artifacts.tiers.0.deleteAfterDays": 100},
        ["mlops:artifacts.tiers[0]", "tiers out of order", "coolAfterDays=200", "deleteAfterDays=100"],
    ),
    ({"artifacts.tiers.0.prefix": "/artifacts"}, ["artifacts.tiers[0].prefix = '/artifacts'", "end with '/'"]),
    ({"artifacts.tempExpireDays": 0}, ["mlops:artifacts.tempExpireDays = 0"]),
    ({"endpoint.minInstances": 5, "endpoint.maxInstances": 2}, ["minInstances (5) is greater than maxInstances (2)"]),
    ({"endpoint.instanceCount": 9}, ["instanceCount (9)", "minInstances..maxInstances"]),
    ({"endpoint.authMode": "password"}, ["mlops:endpoint.authMode = 'password'", "'key'"]),
    ({"endpoint.scaleRule.target": 150}, ["target 150", "percentage"]),
    ({"endpoint.instanceType": "m5.large"}, ["endpoint.instanceType", "unknown SKU 'm5.large'"]),
    ({"cloud": "gcp"}, ["mlops:cloud = 'gcp'", "'azure' or 'aws'"]),
    ({"namePrefix": "My_Platform"}, ["mlops:namePrefix = 'My_Platform'", "lowercase"]),
    (
        {"keyVault.softDeleteRetentionDays": 3},
        ["mlops:keyVault.softDeleteRetentionDays = 3", "greater than or equal to 7"],
    ),
    ({"trainingCluster.vmSize": "Standard_NC6"}, ["mlops:trainingCluster.vmSize is not a known setting"]),
    ({"costCenter": None}, ["mlops:costCenter is required but not set"]),
]


@pytest.mark.parametrize(("changes", "fragments"), BAD_VALUES, ids=[next(iter(c)) for c, _ in BAD_VALUES])
def test_bad_value_gets_one_clear_message(changes: dict[str, Any], fragments: list[str]) -> None:
    config = with_changes(stack_config("dev"), changes)
    with pytest.raises(ConfigError) as caught:
        load_settings(config.namespace("mlops"), source="Pulumi.dev.yaml")
    message = str(caught.value)
    assert message.startswith("invalid stack config in Pulumi.dev.yaml")
    for fragment in fragments:
        assert fragment in message


def test_bad_config_registers_no_resource() -> None:
    """The program fails before the first registration, so nothing is half-declared."""
    config = with_changes(stack_config("prod"), {"budget.amount": 0})
    registered: dict[str, PlannedResource] = {}
    with pytest.raises(ConfigError, match=r"mlops:budget.amount = 0"):
        run_offline(config, record_into=registered)
    assert registered == {}


def test_required_tags_win_over_user_tags() -> None:
    config = with_changes(stack_config("dev"), {"tags": {"environment": "sneaky", "team": "ds"}})
    settings = load_settings(config.namespace("mlops"), source="dev")
    assert settings.resource_tags == {
        "team": "ds",
        "environment": "dev",
        "cost-center": "ml-platform",
        "managed-by": "pulumi",
    }
