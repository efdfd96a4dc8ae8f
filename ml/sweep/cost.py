"""A sweep's worst-case cost, checked against its cap and the stack's budget before it is submitted.

Why worst case: a sweep that is admitted must not be able to overspend, whatever its trials do.
Each trial is billed at most ``limits.trial_timeout`` on ``compute.instance_count`` instances (on
the local backend the timeout covers a trial's restarts after evictions too), so the machine time
is bounded by ``trials x trial_timeout``, and also by ``limits.timeout x max_concurrent_trials``
when the sweep has a timeout; the smaller bound times the hourly price is the worst case.

The price is the spot / low-priority price when the sweep runs on spot (the spec's ``spot.enabled``
or the stack's default) and on-demand otherwise; both are reported. The cap (``cost.max_cost``) and
the budget left (``budget.remaining``, or the monthly amount when the stack does not report what
is left) must be in the price table's currency: there is no currency conversion.
"""

from __future__ import annotations

from dataclasses import dataclass

from ml.contract import PlatformOutputs
from ml.contract.errors import UserError
from ml.cost.prices import InstancePrice, price_for
from ml.sweep.compute import ComputeChoice, resolve_compute
from ml.sweep.spec import SweepSpec


class CostError(UserError):
    """The sweep's worst case exceeds its cap or the stack's budget."""


@dataclass(frozen=True)
class CostEstimate:
    """The worst case of one sweep, per trial and in total, on spot and on demand."""

    compute: ComputeChoice
    price: InstancePrice
    trials: int
    machine_hours: float
    """Instance-hours across all trials in the worst case (already times instance_count)."""
    bound: str
    """Which limit bounds the machine time: 'trials x trial_timeout' or 'timeout x max_concurrent_trials'."""
    on_demand: float
    spot: float
    per_trial: float
    currency: str

    @property
    def applicable(self) -> float:
        """The worst case for the capacity the sweep actually uses (spot or on-demand)."""
        return self.spot if self.compute.spot else self.on_demand

    def describe(self) -> str:
        """One line for the CLI: what is assumed and what it costs."""
        capacity = "spot" if self.compute.spot else "on-demand"
        return (
            f"worst case {self.applicable:.2f} {self.currency} ({capacity}; on-demand {self.on_demand:.2f}, "
            f"spot {self.spot:.2f}) = {self.machine_hours:.2f} instance-hours ({self.bound}) on "
            f"{self.compute.instance_count} x {self.price.instance_type} at {self.price.on_demand_per_hour}/"
            f"{self.price.spot_per_hour} {self.currency}/h on-demand/spot "
            f"(prices: {self.price.source.url}, {self.price.source.region}, {self.price.source.retrieved}, approximate)"
        )


def estimate(spec: SweepSpec, outputs: PlatformOutputs, *, compute: ComputeChoice | None = None) -> CostEstimate:
    """The worst-case cost of ``spec`` on the stack ``outputs`` (``compute``: already resolved, if it was)."""
    compute = compute or resolve_compute(spec, outputs)
    price = price_for(compute.instance_type)
    trials = spec.trial_budget()
    trial_hours = spec.limits.trial_timeout / 3600
    by_trials = trials * trial_hours
    bound = "trials x trial_timeout"
    hours = by_trials
    if spec.limits.timeout is not None:
        by_timeout = spec.limits.timeout / 3600 * min(spec.limits.max_concurrent_trials, trials)
        if by_timeout < by_trials:
            hours, bound = by_timeout, "timeout x max_concurrent_trials"
    machine_hours = hours * compute.instance_count
    return CostEstimate(
        compute=compute,
        price=price,
        trials=trials,
        machine_hours=machine_hours,
        bound=bound,
        on_demand=machine_hours * price.on_demand_per_hour,
        spot=machine_hours * price.spot_per_hour,
        per_trial=trial_hours * compute.instance_count * price.per_hour(spot=compute.spot),
        currency=price.currency,
    )


def measured_cost(seconds: float, compute: ComputeChoice, price: InstancePrice) -> float:
    """What ``seconds`` of one trial cost on ``compute`` (billed per second, as both clouds do)."""
    return seconds / 3600 * compute.instance_count * price.per_hour(spot=compute.spot)


def enforce(spec: SweepSpec, outputs: PlatformOutputs, *, compute: ComputeChoice | None = None) -> CostEstimate:
    """The estimate, or a `CostError` when it exceeds the spec's cap or the budget left on the stack."""
    cost = estimate(spec, outputs, compute=compute)
    worst = cost.applicable
    cuts = (
        "lower limits.max_total_trials or limits.trial_timeout, set limits.timeout, use spot capacity "
        "(spot.enabled: true) or a cheaper compute.instance_type"
    )
    if spec.cost is not None:
        if spec.cost.currency != cost.currency:
            raise CostError(
                f"sweep '{spec.name}': cost.currency is {spec.cost.currency} but prices are in {cost.currency}; "
                f"give cost.max_cost in {cost.currency} (no currency conversion is done)"
            )
        if worst > spec.cost.max_cost:
            raise CostError(
                f"sweep '{spec.name}' refused: {cost.describe()} exceeds cost.max_cost "
                f"{spec.cost.max_cost:.2f} {spec.cost.currency}. To fit, {cuts}, or raise cost.max_cost."
            )
    budget = outputs.budget
    left = budget.remaining if budget.remaining is not None else budget.monthly_amount
    what = "budget left" if budget.remaining is not None else "monthly budget"
    if budget.currency != cost.currency:
        raise CostError(
            f"stack '{outputs.stack}' budget '{budget.name}' is in {budget.currency} but prices are in "
            f"{cost.currency}; the worst case ({worst:.2f} {cost.currency}) cannot be compared (no conversion)"
        )
    if worst > left:
        raise CostError(
            f"sweep '{spec.name}' refused: {cost.describe()} exceeds the {what} of stack '{outputs.stack}' "
            f"({left:.2f} {budget.currency}, budget '{budget.name}'). To fit, {cuts}."
        )
    return cost
