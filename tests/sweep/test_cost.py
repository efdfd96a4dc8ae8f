"""Price table and worst-case sweep cost: the arithmetic and the refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from ml.contract import BudgetRef, PlatformOutputs
from ml.contract.errors import UserError
from ml.cost.prices import SOURCES, known_instance_types, price_for
from ml.stack import default_local_outputs
from ml.sweep.cost import CostError, enforce, estimate, measured_cost
from ml.sweep.spec import SweepSpec, parse_spec


def spec_with(*, trials: int = 10, trial_timeout: str = "30m", extra: str = "", timeout: str = "") -> SweepSpec:
    limits = f"max_total_trials: {trials}, max_concurrent_trials: 2, trial_timeout: {trial_timeout}"
    if timeout:
        limits += f", timeout: {timeout}"
    return parse_spec(
        f"""
name: costly
command: python t.py --x ${{{{search_space.x}}}}
environment: {{image: my/image:1}}
search_space: {{x: {{type: uniform, min_value: 0, max_value: 1}}}}
objective: {{metric: m, goal: minimize}}
sampling: random
limits: {{{limits}}}
{extra}
"""
    )


def stack(instance_type: str, *, spot: bool, remaining: float | None = None, monthly: float = 500.0) -> PlatformOutputs:
    base = default_local_outputs(Path("/tmp/unused"))
    training = base.training.model_copy(update={"instance_type": instance_type, "spot": spot})
    budget = BudgetRef(
        name="dev-budget", monthly_amount=monthly, currency="USD", thresholds_percent=[80], remaining=remaining
    )
    return base.model_copy(update={"stack": "dev", "cloud": "azure", "training": training, "budget": budget})


def test_price_table_names_its_source_and_covers_both_clouds() -> None:
    for cloud in ("azure", "aws"):
        source = SOURCES[cloud]
        assert source.url.startswith("https://") and source.retrieved and "approximate" in source.note
    assert {"Standard_NC4as_T4_v3", "Standard_NC24ads_A100_v4", "Standard_F4s_v2"} <= set(known_instance_types("azure"))
    assert {"ml.g4dn.xlarge", "ml.p3.2xlarge", "ml.c5.xlarge"} <= set(known_instance_types("aws"))
    for name in known_instance_types():
        price = price_for(name)
        assert 0 <= price.spot_per_hour <= price.on_demand_per_hour and price.currency == "USD"
    assert price_for("local").on_demand_per_hour == 0.0


def test_price_lookup_is_case_insensitive_and_unknown_types_list_known_ones() -> None:
    assert price_for("standard_nc6s_v3").instance_type == "Standard_NC6s_v3"
    with pytest.raises(UserError) as caught:
        price_for("Standard_ND96asr_v4")
    message = str(caught.value)
    assert "no price for instance type 'Standard_ND96asr_v4'" in message
    assert "Standard_NC6s_v3" in message and "ml.g5.xlarge" in message and "local" in message


def test_worst_case_is_trials_times_trial_timeout_times_instances_times_price() -> None:
    price = price_for("Standard_NC6s_v3")
    spec = spec_with(trials=10, trial_timeout="30m", extra="compute: {instance_count: 2}")
    cost = estimate(spec, stack("Standard_NC6s_v3", spot=True))
    assert cost.machine_hours == pytest.approx(10 * 0.5 * 2)
    assert cost.on_demand == pytest.approx(10 * price.on_demand_per_hour)
    assert cost.spot == pytest.approx(10 * price.spot_per_hour)
    assert cost.applicable == cost.spot and cost.bound == "trials x trial_timeout"
    assert cost.per_trial == pytest.approx(0.5 * 2 * price.spot_per_hour)
    on_demand = estimate(spec_with(extra="spot: {enabled: false}"), stack("Standard_NC6s_v3", spot=True))
    assert on_demand.applicable == on_demand.on_demand


def test_a_sweep_timeout_can_bound_the_worst_case_lower() -> None:
    cost = estimate(spec_with(trials=10, trial_timeout="1h", timeout="2h"), stack("ml.g5.xlarge", spot=False))
    assert cost.bound == "timeout x max_concurrent_trials"
    assert cost.machine_hours == pytest.approx(2 * 2)  # 2 h x 2 concurrent < 10 trials x 1 h
    assert cost.applicable == pytest.approx(4 * price_for("ml.g5.xlarge").on_demand_per_hour)


def test_spec_cap_refuses_with_the_numbers_and_what_to_change() -> None:
    spec = spec_with(trials=20, trial_timeout="2h", extra="cost: {max_cost: 60, currency: USD}")
    with pytest.raises(CostError) as caught:
        enforce(spec, stack("Standard_NC24ads_A100_v4", spot=False))
    message = str(caught.value)
    assert "sweep 'costly' refused: worst case 146.92 USD (on-demand" in message
    assert "exceeds cost.max_cost 60.00 USD" in message
    assert "lower limits.max_total_trials" in message and "azure.microsoft.com" in message
    # on spot (58.76) the same sweep fits the cap
    assert enforce(spec, stack("Standard_NC24ads_A100_v4", spot=True)).applicable == pytest.approx(20 * 2 * 1.469)


def test_budget_left_on_the_stack_refuses_and_monthly_amount_is_the_fallback() -> None:
    spec = spec_with(trials=10, trial_timeout="1h")
    with pytest.raises(CostError, match=r"exceeds the budget left of stack 'dev' \(5.00 USD, budget 'dev-budget'\)"):
        enforce(spec, stack("ml.g4dn.xlarge", spot=False, remaining=5.0))
    with pytest.raises(CostError, match=r"exceeds the monthly budget of stack 'dev' \(3.00 USD"):
        enforce(spec, stack("ml.g4dn.xlarge", spot=False, monthly=3.0))
    assert enforce(spec, stack("ml.g4dn.xlarge", spot=False, remaining=100.0)).applicable == pytest.approx(7.36)


def test_currency_mismatches_are_refused_not_converted() -> None:
    with pytest.raises(CostError, match=r"cost\.currency is EUR but prices are in USD"):
        enforce(spec_with(extra="cost: {max_cost: 50, currency: EUR}"), stack("ml.m5.large", spot=False))
    outputs = stack("ml.m5.large", spot=False)
    euros = outputs.model_copy(update={"budget": outputs.budget.model_copy(update={"currency": "EUR"})})
    with pytest.raises(CostError, match="budget 'dev-budget' is in EUR"):
        enforce(spec_with(), euros)


def test_measured_cost_bills_seconds_on_the_chosen_capacity() -> None:
    spec = spec_with(extra="compute: {instance_count: 3}")
    outputs = stack("ml.p3.2xlarge", spot=True)
    cost = estimate(spec, outputs)
    assert measured_cost(1800, cost.compute, cost.price) == pytest.approx(
        0.5 * 3 * price_for("ml.p3.2xlarge").spot_per_hour
    )
