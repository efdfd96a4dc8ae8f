"""The estimate of the committed stacks, asserted from their Pulumi.<stack>.yaml values."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable

import pytest
from rich.console import Console

from ml.cost.assumptions import Assumptions
from ml.cost.estimate import estimate_plan
from ml.cost.hosting import POD_BASIS, find_hosting_price
from ml.cost.model import BudgetLimit, CostLine, StackCost
from ml.cost.prices import price_for
from ml.cost.services import service_price
from ml.plan.offline import OfflinePlan, run_offline
from ml.plan.render import plan_as_json, render_cost
from ml.plan.report import assumptions_for
from tests.infra.helpers import stack_config, with_changes

H = 730
Planned = Callable[[str], tuple[OfflinePlan, StackCost]]


def line(cost: StackCost, name: str) -> CostLine:
    found = [x for x in cost.lines if x.resource == name]
    assert len(found) == 1, [x.key for x in cost.lines]
    return found[0]


def mlops(stack: str) -> dict:
    return stack_config(stack).namespace("mlops")


def test_dev_training_is_free_idle_and_max_nodes_x_spot_price_x_730_at_max(planned: Planned) -> None:
    _, cost = planned("dev")
    training = mlops("dev")["trainingCluster"]
    assert training["minNodes"] == 0 and training["priority"] == "LowPriority"
    price = price_for(training["instanceType"])
    gpu = line(cost, "training-gpu")
    assert gpu.idle == 0
    assert gpu.max == pytest.approx(training["maxNodes"] * price.spot_per_hour * H)
    cpu = line(cost, "training-cpu")
    cpu_price = price_for(training["cpuCluster"]["instanceType"])
    assert cpu.max == pytest.approx(training["cpuCluster"]["maxNodes"] * cpu_price.spot_per_hour * H)
    saving = {s.resource: s for s in cost.spot}["training-gpu"]
    assert saving.on_demand == pytest.approx(training["maxNodes"] * price.on_demand_per_hour * H)
    assert saving.saving == pytest.approx(training["maxNodes"] * (price.on_demand_per_hour - price.spot_per_hour) * H)
    assert cost.spot_saving == pytest.approx(sum(s.on_demand - s.spot for s in cost.spot))


def test_dev_endpoint_without_a_deployment_is_priced_as_the_first_ml_deploy(planned: Planned) -> None:
    _, cost = planned("dev")
    endpoint = mlops("dev")["endpoint"]
    hourly = price_for(endpoint["instanceType"]).on_demand_per_hour
    serving = line(cost, "serving-endpoint")
    assert serving.idle == pytest.approx(endpoint["minInstances"] * hourly * H)
    assert serving.max == pytest.approx(endpoint["maxInstances"] * hourly * H)
    assert "first `ml deploy`" in serving.note


def test_dev_totals_fixed_items_and_budget(planned: Planned) -> None:
    _, cost = planned("dev")
    assert line(cost, "workspace-acr").max == service_price("azure:acr:Basic").amount
    assert line(cost, "workspace-storage").idle == pytest.approx(100 * service_price("azure:blob:Standard_LRS").amount)
    assert cost.idle_total == pytest.approx(sum(x.idle or 0 for x in cost.lines))
    assert cost.max_total == pytest.approx(sum(x.max or 0 for x in cost.lines))
    budget = mlops("dev")["budget"]
    assert cost.budget == BudgetLimit("budget-mlopsdev", budget["amount"], budget["currency"])
    assert cost.idle_total < budget["amount"] < cost.max_total
    assert cost.max_over_budget and not cost.idle_over_budget
    assert any("over budget 'budget-mlopsdev'" in w for w in cost.warnings())
    assert not cost.unpriced
    assert any(f.startswith("azure-native:consumption:Budget") for f in cost.free)


def test_prod_deployment_scales_between_its_autoscale_bounds(planned: Planned) -> None:
    _, cost = planned("prod")
    endpoint = mlops("prod")["endpoint"]
    hourly = price_for(endpoint["instanceType"]).on_demand_per_hour
    blue = line(cost, "serving-blue")
    assert (blue.idle, blue.max) == (
        pytest.approx(endpoint["minInstances"] * hourly * H),
        pytest.approx(endpoint["maxInstances"] * hourly * H),
    )
    assert line(cost, "serving-endpoint").max == 0  # billed through its deployment, not twice
    assert line(cost, "workspace-acr").max == service_price("azure:acr:Premium").amount
    training = mlops("prod")["trainingCluster"]
    assert line(cost, "training-gpu").max == pytest.approx(
        training["maxNodes"] * price_for(training["instanceType"]).spot_per_hour * H
    )
    assert cost.budget is not None and cost.budget.amount == mlops("prod")["budget"]["amount"]


def test_aws_training_jobs_tracking_server_and_endpoint(planned: Planned) -> None:
    _, cost = planned("dev-aws")
    config = mlops("dev-aws")
    training = config["trainingCluster"]
    jobs = line(cost, "mlopsdevaws-gpu-spot (jobs)")
    price = price_for(training["instanceType"])
    assert jobs.idle == 0 and jobs.max == pytest.approx(training["maxNodes"] * price.spot_per_hour * H)
    assert line(cost, "workspace-mlflow").idle == pytest.approx(service_price("aws:mlflow:Small").amount * H)
    endpoint = config["endpoint"]
    hosting = find_hosting_price(endpoint["instanceType"])
    assert hosting is not None
    serving = line(cost, "serving-config")
    assert serving.idle == pytest.approx(endpoint["minInstances"] * hosting.on_demand_per_hour * H)
    assert serving.max == pytest.approx(endpoint["maxInstances"] * hosting.on_demand_per_hour * H)
    assert line(cost, "artifacts-key").max == 1.0
    # the budget covers the always-on managed MLflow server; a smaller one would be exceeded at idle
    assert cost.budget is not None and not cost.idle_over_budget
    tight = dataclasses.replace(cost, budget=dataclasses.replace(cost.budget, amount=cost.idle_total / 2))
    assert tight.idle_over_budget and "idle cost" in tight.warnings()[0]


def test_kubernetes_spot_gpu_pool_and_pods_on_the_existing_cluster(planned: Planned) -> None:
    _, cost = planned("dev-k8s")
    k8s = mlops("dev-k8s")["kubernetes"]
    pool = k8s["gpuNodePool"]
    gpu = line(cost, "gpu-pool-aks")
    assert gpu.idle == 0 and gpu.max == pytest.approx(
        pool["maxNodes"] * price_for(pool["instanceType"]).spot_per_hour * H
    )
    assert "gpu-pool-aks" in {s.resource for s in cost.spot}
    requests = k8s["serving"]["resources"]["requests"]
    assert (requests["cpu"], requests["memory"]) == ("500m", "1Gi")
    per_pod = POD_BASIS.per_hour(cpu=0.5, memory_gib=1)
    blue, green = line(cost, "model-serving-blue"), line(cost, "model-serving-green")
    colours = k8s["colours"]
    assert blue.idle == pytest.approx(colours["blue"]["minReplicas"] * per_pod * H)
    assert blue.max == pytest.approx(colours["blue"]["maxReplicas"] * per_pod * H)
    assert colours["green"]["weight"] == 0 and green.max == 0  # a colour at weight 0 runs no pods


def test_unknown_instance_type_is_an_explicit_no_price_line() -> None:
    # A size the project does not know yet is refused unless the stack lists it (the documented way).
    config = with_changes(
        stack_config("dev"),
        {"trainingCluster.instanceType": "Standard_ND96asr_v4", "allowUnknownSizes": ["Standard_ND96asr_v4"]},
    )
    cost = estimate_plan(run_offline(config), assumptions_for(config))
    gpu = line(cost, "training-gpu")
    assert gpu.idle is None and gpu.max is None and not gpu.priced
    assert "'Standard_ND96asr_v4' is not in ml/cost/prices.py" in gpu.note
    assert cost.lines[0] is gpu  # unpriced lines come first
    assert cost.max_total == pytest.approx(sum(x.max or 0 for x in cost.lines if x.priced))
    assert any(
        w.startswith("no price for azure-native:machinelearningservices:Compute training-gpu") for w in cost.warnings()
    )
    assert "training-gpu" not in {s.resource for s in cost.spot}


def test_assumed_volumes_come_from_the_stacks_cost_keys(planned: Planned) -> None:
    plan, _ = planned("dev")
    config = with_changes(stack_config("dev"), {"cost:storageGb": 1000})
    cost = estimate_plan(plan, assumptions_for(config))
    assert line(cost, "workspace-storage").max == pytest.approx(1000 * service_price("azure:blob:Standard_LRS").amount)


def test_budget_in_another_currency_is_not_compared() -> None:
    lines = (CostLine("a", "t", "b", 10.0, 9000.0),)
    cost = StackCost("x", lines, (), (), BudgetLimit("b", 100.0, "EUR"), assumptions=Assumptions())
    assert not cost.comparable and not cost.max_over_budget and cost.warnings() == []
    assert "not compared: no currency conversion" in cost.budget_summary()


def test_json_and_rich_output_carry_the_cost(planned: Planned) -> None:
    plan, cost = planned("prod")
    document = json.loads(json.dumps(plan_as_json(plan, cost)))
    assert document["cost"]["max"] == round(cost.max_total, 2)
    assert document["cost"]["budget"] == {"name": "budget-mlopsprod", "amount": 5000.0, "currency": "USD"}
    assert document["cost"]["max_over_budget"] is True
    assert {s["url"] for s in document["cost"]["sources"]} >= {
        "https://azure.microsoft.com/en-us/pricing/details/virtual-machines/linux/"
    }
    console = Console(record=True, width=200)
    render_cost(cost, console)
    text = console.export_text()
    assert "estimated monthly cost, stack prod (USD)" in text
    assert f"{cost.max_total:,.2f}" in text and "spot saving, training-gpu" in text
    assert "warning: at maximum scale" in text and "2026-11-22" in text
