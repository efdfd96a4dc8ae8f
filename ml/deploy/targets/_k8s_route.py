"""The HTTPRoute rule the Kubernetes target writes: weighted backendRefs, and session persistence for A/B tests.

Why a module of pure functions: what a rule *means* (weights as percentages, which colour a backend
is, whether the gateway applied it, how a user is pinned to one arm) is decided here once and tested
without a cluster; `ml.deploy.targets.kubernetes` only reads, patches and waits.

Session persistence (Gateway API GEP-1619, ``HTTPRouteRule.sessionPersistence``): ``type: Cookie``
(Core support within the feature) or ``type: Header`` (Extended), ``sessionName`` the cookie or
header that carries the session. The field is in the Gateway API **experimental** channel (since
v1.1, still experimental in v1.2/v1.3); a cluster with the standard-channel CRDs prunes it silently,
like every unknown field of a structural schema. `pruned_persistence` tells that case apart, so
the target refuses before anything changes (a server-side dry run) and never reports a sticky split
that the API server dropped.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ml.deploy.spec_decide import StickyAssignment

PERSISTENCE = "sessionPersistence"
EXPERIMENTAL_CRDS = (
    "kubectl apply --server-side -f "
    "https://github.com/kubernetes-sigs/gateway-api/releases/download/v1.2.1/experimental-install.yaml"
)


def session_persistence(sticky: StickyAssignment | None) -> dict[str, str] | None:
    """The rule's ``sessionPersistence`` for a sticky assignment (None: random per request, no field)."""
    if sticky is None:
        return None
    if sticky.cookie is not None:
        return {"type": "Cookie", "sessionName": sticky.cookie}
    assert sticky.header is not None  # StickyAssignment holds exactly one of them
    return {"type": "Header", "sessionName": sticky.header}


def rule_with(rule: dict[str, Any], refs: list[dict[str, Any]], persistence: dict[str, str] | None) -> dict[str, Any]:
    """``rule`` with these backendRefs and this session persistence (absent when None); matches, filters kept."""
    updated = copy.deepcopy(rule)
    updated["backendRefs"] = refs
    if persistence is None:
        updated.pop(PERSISTENCE, None)
    else:
        updated[PERSISTENCE] = dict(persistence)
    return updated


def pruned_persistence(route: dict[str, Any], persistence: dict[str, str] | None) -> bool:
    """True when ``persistence`` was asked for but the API server's answer has no such field on rule 0."""
    if persistence is None:
        return False
    rules = route.get("spec", {}).get("rules") or [{}]
    found = rules[0].get(PERSISTENCE) or {}
    return any(found.get(key) != value for key, value in persistence.items())


def percentages(raw: dict[str, int]) -> dict[str, int]:
    """Gateway weights are relative; the engine speaks percent (largest remainder, sum 100)."""
    total = sum(raw.values())
    if total in (0, 100):
        return dict(raw) if total else {}
    exact = {colour: 100 * weight / total for colour, weight in raw.items()}
    result = {colour: int(value) for colour, value in exact.items()}
    for colour in sorted(exact, key=lambda c: exact[c] - result[c], reverse=True)[: 100 - sum(result.values())]:
        result[colour] += 1
    return result


def weighted_refs(
    refs: list[dict[str, Any]], weights: dict[str, int], services: dict[str, str]
) -> list[dict[str, Any]]:
    """The full backendRefs list with every colour's new weight (0 when absent); other fields kept."""
    by_name = {ref.get("name"): ref for ref in refs}
    port = next((ref["port"] for ref in refs if "port" in ref), 80)
    wanted = []
    for colour, service in services.items():
        ref = dict(by_name.get(service) or {"group": "", "kind": "Service", "name": service, "port": port})
        ref["weight"] = int(weights.get(colour, 0))
        wanted.append(ref)
    return wanted


def route_problems(parents: list[dict[str, Any]], generation: int) -> tuple[list[str], list[str]]:
    """(conditions not yet reported for ``generation``, conditions reported False) over all parents."""
    pending, failed = [], []
    for parent in parents:
        gateway = parent.get("parentRef", {}).get("name", "?")
        conditions = {c.get("type"): c for c in parent.get("conditions") or []}
        for kind in ("Accepted", "ResolvedRefs"):
            condition = conditions.get(kind)
            if condition is None or int(condition.get("observedGeneration") or 0) < generation:
                pending.append(f"Gateway '{gateway}': {kind} not yet reported for generation {generation}")
            elif condition.get("status") != "True":
                reason = f"{condition.get('reason', '')}: {condition.get('message', '')}".strip(": ")
                failed.append(f"Gateway '{gateway}': {kind} False ({reason or 'no reason given'})")
    return pending, failed


def fmt_weights(weights: dict[str, int]) -> str:
    return ", ".join(f"{colour} {weight}%" for colour, weight in weights.items()) or "no live colour"
