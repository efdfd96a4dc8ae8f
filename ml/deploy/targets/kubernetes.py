"""The Kubernetes rollout target: blue/green Deployments behind one weighted Gateway API HTTPRoute.

Why through the API and not through `pulumi up`: a canary step is one route patch that the gateway
applies in about a second, while an `up` per step needs the Pulumi CLI and state backend in the
loop and takes minutes. The stack declares both colours (Deployment, Service, PDB always; an HPA
while a colour takes traffic) and this target only moves what a rollout moves -- the idle colour's
model and replicas, the route's weights -- as docs/kubernetes.md ("B. Through the Kubernetes API")
specifies. Config stays the source of truth: when the rollout ends (`close`), the final weights and
model URIs are written back to ``Pulumi.<stack>.yaml`` (`ml.deploy.targets._stack_file_colours`).

What each engine call does here:

- ``create_deployment``: strategic-merge patch of the colour's Deployment (container
  ``model-server`` env ``MODEL_URI`` and annotation ``mlops/model-uri``), scale it to its floor
  and create/patch its autoscaling/v2 HPA with the contract's ``min..max`` (metrics and behaviour
  copied from the serving colour's HPA, so Pulumi's next apply finds the same spec);
- ``wait_healthy``: the `kubectl rollout status` rule plus pod restarts and waiting reasons
  (`_k8s_health`), failing with the pod's reason (CrashLoopBackOff, image pull, ...);
- ``set_traffic``: JSON merge patch of the route with the full ``rules`` list (merge patches replace
  lists) guarded by ``resourceVersion``, then -- when the gateway reports route status -- waits for
  ``Accepted`` and ``ResolvedRefs`` True at the route's new generation;
- ``read_metrics``: the gateway's per-colour counts and latency from Prometheus (`_prometheus`);
- ``set_assignment`` (A/B): the same patch with the rule's ``sessionPersistence`` (Cookie or Header,
  `_k8s_route`) for a sticky split; ``preflight`` dry-runs it, since standard-channel CRDs prune it;
- ``read_assignments`` (A/B feedback): request id -> colour from the pods' capture records
  (`_capture_assignments`); needs ``serving.server: platform`` and ``mlops:monitoring``;
- ``delete_deployment``: scale to 0 and delete the HPA; the Deployment and Service stay (free);
- ``supports_mirror = False``: Gateway API's ``RequestMirror`` filter is Extended support, mirrors a
  whole rule rather than a percentage on most gateways (``percent`` is newer than v1.0), would add
  a rule-level filter the stack does not declare, and mirrored requests are counted under another
  Envoy cluster than the gates read. A blue/green rollout therefore goes warm-up -> switch -> bake
  with instant switch-back; the engine records that it skipped the mirror phase.
"""

from __future__ import annotations

import copy
import sys
import time
from pathlib import Path
from typing import Any

from ml.contract import KubernetesServingRef, PlatformOutputs
from ml.contract.errors import UserError
from ml.contract.monitoring import capture_env
from ml.deploy.decide import ColourWindow
from ml.deploy.spec import Gates, RolloutSpec
from ml.deploy.spec_decide import ABTest, StickyAssignment
from ml.deploy.target import (
    DEFAULT_COLOURS,
    DeploymentError,
    DeploymentInfo,
    DeploymentMetrics,
    DeploymentTarget,
    ModelRef,
    Traffic,
)
from ml.deploy.targets._capture_assignments import CaptureAssignments
from ml.deploy.targets._k8s_api import KubeApi
from ml.deploy.targets._k8s_health import colour_health
from ml.deploy.targets._k8s_hpa import COLOUR_LABEL, INSTANCE_LABEL, ensure_hpa
from ml.deploy.targets._k8s_route import (
    EXPERIMENTAL_CRDS,
    fmt_weights,
    percentages,
    pruned_persistence,
    route_problems,
    rule_with,
    session_persistence,
    weighted_refs,
)
from ml.deploy.targets._prometheus import PrometheusMetrics
from ml.deploy.targets._stack_file_colours import PersistResult, persist_colours

CONTAINER = "model-server"
MODEL_ANNOTATION = "mlops/model-uri"
METRICS_KEY = "mlops:kubernetes.metricsUrl"


def gates_need_metrics(gates: Gates) -> bool:
    """False only when a spec lets a step pass on no traffic at all.

    That is: no latency limits, ``min_requests: 0``, and either ``max_error_rate: 1`` (judge nothing) or
    ``insufficient_traffic: pass`` -- what `ml rollback` uses to return to a known-good model, which must
    not be blocked by a missing metrics source.
    """
    if gates.min_requests > 0 or gates.max_p95_latency_ms is not None or gates.max_p99_latency_ms is not None:
        return True
    return gates.max_error_rate < 1 and gates.insufficient_traffic != "pass"


class KubernetesTarget(DeploymentTarget):
    """The stack's HTTPRoute and its two colours, driven through the Kubernetes API."""

    kind = "kubernetes"
    supports_mirror = False
    latency_evidence = "histogram"  # the gateway's request-time buckets via Prometheus (`_prometheus`)
    assignments = frozenset({"random", "cookie", "header"})  # the route rule's sessionPersistence (experimental CRDs)
    request_log = True  # the pods' capture records name each request id's colour (serving.server: platform)
    max_arms_reason = (  # an HTTPRoute holds N backendRefs, but only the stack's colours have a Deployment
        "the stack declares exactly two colours (a Deployment and Service each) and an arm beyond them would "
        "have no Deployment for this target to patch; declare more colours in the stack first"
    )

    def __init__(
        self,
        outputs: PlatformOutputs,
        endpoint: str,
        *,
        api: KubeApi | None = None,
        metrics: PrometheusMetrics | None = None,
        poll_interval: float = 2.0,
        route_timeout: float = 60.0,
        project_dir: Path | None = None,
        capture_client: Any = None,
    ) -> None:
        super().__init__(outputs, endpoint)
        ref = outputs.kubernetes
        if ref is None:
            raise UserError(
                f"stack '{outputs.stack}' exports no kubernetes serving; set mlops:kubernetes and `pulumi up`"
            )
        accepted = {ref.route_name, *([outputs.endpoint.name] if outputs.endpoint else [])}
        if endpoint not in accepted:
            raise UserError(
                f"stack '{outputs.stack}' serves Kubernetes traffic through HTTPRoute '{ref.route_name}' in namespace "
                f"'{ref.namespace}'; got endpoint '{endpoint}'. Leave `endpoint:` out of the rollout spec or set it "
                f"to '{ref.route_name}'"
            )
        self.ref: KubernetesServingRef = ref
        self.poll_interval = poll_interval
        self.route_timeout = route_timeout
        self.project_dir = project_dir
        self._changed = False
        self._capture_client = capture_client  # a boto3 S3 client or a blob ContainerClient (default: built as used)
        self._assignments: CaptureAssignments | None = None
        self.api = api or KubeApi.connect(ref)
        try:
            self._require_route()
            if metrics is None and ref.metrics_url:
                metrics = PrometheusMetrics(ref.metrics_url)
        except BaseException:
            self.api.close()
            raise
        self.metrics = metrics

    # --- names ---------------------------------------------------------------------------------------

    def colours(self) -> tuple[str, str]:
        names = tuple(self.ref.services)
        if len(names) != 2:
            raise UserError(
                f"the stack's kubernetes serving exports colours {list(names)}; a rollout needs exactly two"
            )
        return (names[0], names[1]) if set(names) != set(DEFAULT_COLOURS) else DEFAULT_COLOURS

    def _deployment(self, colour: str) -> str:
        if colour not in self.ref.services:
            raise UserError(f"'{colour}' is not a colour of this stack; colours: {', '.join(self.ref.services)}")
        return self.ref.deployments.get(colour, self.ref.services[colour])

    def _selector(self, colour: str) -> dict[str, str]:
        return {INSTANCE_LABEL: self.ref.route_name, COLOUR_LABEL: colour}

    def default_instance(self) -> tuple[str, int]:
        """Pods at the stack's HPA floor (``min_replicas``); a spec's ``instance_count`` raises it."""
        return ("pods", max(self.ref.min_replicas.values(), default=1))

    # --- the route -----------------------------------------------------------------------------------

    def _require_route(self) -> dict[str, Any]:
        route = self.api.get_route(self.ref.route_name)
        if route is not None:
            return route
        namespace = self.api.namespace_exists()
        if namespace is False:
            raise UserError(
                f"namespace '{self.ref.namespace}' does not exist on {self.api.host}: run `pulumi up` for stack "
                f"'{self.outputs.stack}' (mlops:kubernetes.serving.namespace), or check the kubeconfig context"
            )
        raise UserError(
            f"HTTPRoute '{self.ref.route_name}' not found in namespace '{self.ref.namespace}' on {self.api.host}: run "
            f"`pulumi up` for stack '{self.outputs.stack}' (it creates the route), and check that the Gateway API "
            f"CRDs (gateway.networking.k8s.io/v1) are installed"
        )

    def _backend_refs(self, route: dict[str, Any]) -> list[dict[str, Any]]:
        rules = route.get("spec", {}).get("rules") or []
        if not rules:
            raise UserError(f"HTTPRoute '{self.ref.route_name}' has no rules; run `pulumi up` to restore it")
        return list(rules[0].get("backendRefs") or [])

    def _colour_of(self, service: str) -> str | None:
        return next((colour for colour, name in self.ref.services.items() if name == service), None)

    def get_traffic(self) -> Traffic:
        raw: dict[str, int] = {}
        for backend in self._backend_refs(self._require_route()):
            colour = self._colour_of(str(backend.get("name")))
            if colour is None:
                raise UserError(
                    f"HTTPRoute '{self.ref.route_name}' sends traffic to Service '{backend.get('name')}', which is not "
                    f"one of the stack's colours ({', '.join(self.ref.services.values())}); `pulumi up` restores it"
                )
            raw[colour] = raw.get(colour, 0) + int(backend.get("weight", 1))
        return Traffic(weights=percentages(raw))

    def set_traffic(self, weights: dict[str, int], mirror: dict[str, int] | None = None) -> None:
        """The weighted split the stack declares: random per request (any session persistence removed)."""
        if mirror:
            raise UserError("the kubernetes target does not mirror traffic (supports_mirror is False)")
        self._write_rule(weights, None)

    def set_assignment(self, weights: dict[str, int], sticky: StickyAssignment | None) -> None:
        """The A/B split; a sticky assignment becomes the rule's ``sessionPersistence`` (Cookie or Header)."""
        self._write_rule(weights, session_persistence(sticky))

    def _write_rule(self, weights: dict[str, int], persistence: dict[str, str] | None) -> None:
        unknown = sorted(set(weights) - set(self.ref.services))
        if unknown or (weights and sum(weights.values()) != 100):
            raise ValueError(f"weights must name colours {list(self.ref.services)} and sum to 100, got {weights}")
        for attempt in (1, 2):
            route = self._require_route()
            rules = copy.deepcopy(route.get("spec", {}).get("rules") or [])
            refs = self._backend_refs(route)
            wanted = rule_with(rules[0], weighted_refs(refs, weights, self.ref.services), persistence)
            if wanted == rules[0]:
                return  # idempotent: already there, nothing to confirm
            rules[0] = wanted
            body = {"metadata": {"resourceVersion": route["metadata"].get("resourceVersion")}, "spec": {"rules": rules}}
            try:
                patched = self.api.patch_route(self.ref.route_name, body)
            except UserError as exc:
                if attempt == 1 and "conflict" in str(exc):
                    continue  # someone changed the route between our read and write: read it again
                raise
            self._changed = True
            if pruned_persistence(patched, persistence):
                raise DeploymentError(self._pruned_message(persistence))
            self._confirm_route(int(patched.get("metadata", {}).get("generation") or 0), weights)
            return

    def _pruned_message(self, persistence: dict[str, str] | None) -> str:
        return (
            f"the API server dropped rules[0].sessionPersistence ({persistence}) from HTTPRoute "
            f"'{self.ref.route_name}' on {self.api.host}: its HTTPRoute CRD is the Gateway API standard channel, "
            f"where session persistence does not exist (it is experimental since v1.1). Install the experimental "
            f"channel (`{EXPERIMENTAL_CRDS}`) and use a gateway that supports it, or use `assignment: random`"
        )

    def _confirm_route(self, generation: int, weights: dict[str, int]) -> None:
        """Wait until every parent Gateway reports Accepted and ResolvedRefs True for ``generation``."""
        deadline = time.monotonic() + self.route_timeout
        while True:
            route = self._require_route()
            parents = route.get("status", {}).get("parents") or []
            if not parents:
                return  # the gateway reports no route status at all: nothing to confirm against
            pending, failed = route_problems(parents, generation)
            if not pending and not failed:
                return
            if failed or time.monotonic() >= deadline:
                raise DeploymentError(
                    f"the gateway did not apply HTTPRoute '{self.ref.route_name}' generation {generation} "
                    f"({fmt_weights(weights)}): {'; '.join(failed + pending)}"
                )
            time.sleep(self.poll_interval)

    # --- colours -------------------------------------------------------------------------------------

    def preflight(self, spec: RolloutSpec, *, instance_type: str, instance_count: int) -> None:
        """Refuse gates that nothing could judge (no Prometheus), and A/B tests this cluster cannot run."""
        if self.metrics is None and gates_need_metrics(spec.gates):
            raise UserError(
                f"the rollout spec has gates (error rate, latency, min_requests) but stack '{self.outputs.stack}' "
                f"exports no Prometheus URL to judge them: set `{METRICS_KEY}` (e.g. `pulumi config set --path "
                f"{METRICS_KEY} http://prometheus.example:9090`) and run `pulumi up`, or judge nothing explicitly "
                f"with `gates: {{max_error_rate: 1, min_requests: 0}}`"
            )
        if isinstance(spec.strategy, ABTest):
            if isinstance(spec.strategy.assignment, StickyAssignment):
                self._require_session_persistence(session_persistence(spec.strategy.assignment))
            if spec.strategy.outcome == "feedback" and (missing := self._capture_missing()):
                raise UserError(
                    f"strategy.outcome feedback on the kubernetes target joins fed-back request ids to the colour "
                    f"that served them through the pods' capture records, and {missing}; or use outcome errors "
                    f"or latency"
                )

    def _require_session_persistence(self, persistence: dict[str, str] | None) -> None:
        """A server-side dry run of the sticky rule: nothing is stored, and a pruned field is a refusal now."""
        route = self._require_route()
        rules = copy.deepcopy(route.get("spec", {}).get("rules") or [])
        rules[0] = rule_with(rules[0], self._backend_refs(route), persistence)
        answer = self.api.patch_route(self.ref.route_name, {"spec": {"rules": rules}}, dry_run=True)
        if pruned_persistence(answer, persistence):
            raise UserError(self._pruned_message(persistence))

    def _capture_missing(self) -> str | None:
        """Why the pods write no capture records a request id can be joined on (None: they do)."""
        monitoring = self.outputs.monitoring
        if monitoring is None or not monitoring.enabled or not monitoring.platform_capture_uri:
            return (
                f"stack '{self.outputs.stack}' captures nothing: enable `mlops:monitoring` (its platform capture "
                f"root) and run `pulumi up`"
            )
        plain = [colour for colour in self.ref.services if not self._serves_platform(self._deployment(colour))]
        if plain:
            return (
                f"colour(s) {', '.join(plain)} run `mlflow models serve`, which records no request ids: set "
                f"`mlops:kubernetes.serving.server: platform` and run `pulumi up`"
            )
        return None

    def _serves_platform(self, deployment: str) -> bool:
        """Whether the Deployment runs `ml.platform.serve` (capture, request ids), not `mlflow models serve`."""
        found = self.api.get_deployment(deployment) or {}
        containers = found.get("spec", {}).get("template", {}).get("spec", {}).get("containers", [])
        return any("ml.platform.serve" in (c.get("command") or []) for c in containers if c.get("name") == CONTAINER)

    def read_assignments(self, since: float) -> dict[str, str]:
        """Request id -> colour, from the capture records the pods wrote since ``since``."""
        if self._assignments is None:
            monitoring = self.outputs.monitoring
            missing = self._capture_missing()
            if missing or monitoring is None or not monitoring.platform_capture_uri:
                raise UserError(f"the kubernetes target cannot attribute request ids: {missing}")
            self._assignments = CaptureAssignments(
                monitoring.platform_capture_uri, endpoint=self.ref.route_name, deployments=self.ref.services,
                region=self.outputs.region, client=self._capture_client,
            )  # fmt: skip
        return self._assignments.read(since)

    def create_deployment(self, name: str, model: ModelRef, instance_type: str, count: int) -> None:
        deployment = self._deployment(name)
        if self.api.get_deployment(deployment) is None:
            raise UserError(
                f"Deployment '{deployment}' not found in namespace '{self.ref.namespace}': run `pulumi up` for stack "
                f"'{self.outputs.stack}' (both colours always exist)"
            )
        self._changed = True
        env = [{"name": "MODEL_URI", "value": model.uri}, *self._capture_env(deployment, name, model)]
        self.api.patch_deployment(
            deployment,
            {
                "metadata": {"annotations": {MODEL_ANNOTATION: model.uri}},
                "spec": {"template": {"spec": {"containers": [{"name": CONTAINER, "env": env}]}}},
            },
        )
        replicas = max(1, count)
        self.api.scale_deployment(deployment, replicas)
        ensure_hpa(self.api, self.ref, name, replicas, deployment_of=self._deployment)

    def _capture_env(self, deployment: str, colour: str, model: ModelRef) -> list[dict[str, str]]:
        """The colour's capture settings (`capture_env`, as the stack's pod template has them) for the new model.

        Why here too: the records name the model version that answered, so a colour that now serves
        another version must say so, and a colour created before capture was on starts capturing.
        """
        monitoring = self.outputs.monitoring
        if monitoring is None or not monitoring.enabled or not monitoring.platform_capture_uri:
            return []
        if not self._serves_platform(deployment):
            return []  # `mlflow models serve` (serving.server: mlflow) cannot capture
        env = capture_env(
            monitoring.platform_capture_uri,
            sampling_percent=monitoring.sampling_percent,
            endpoint=self.ref.route_name,
            deployment=colour,
            model_name=model.name,
            model_version=model.version,
        )
        return [{"name": key, "value": value} for key, value in sorted(env.items())]

    def wait_healthy(self, name: str, timeout: float) -> None:
        deployment = self._deployment(name)
        deadline = time.monotonic() + timeout
        while True:
            current = self.api.get_deployment(deployment)
            if current is None:
                raise DeploymentError(f"Deployment '{deployment}' disappeared from namespace '{self.ref.namespace}'")
            health = colour_health(current, self.api.list_pods(self._selector(name)))
            if health.state == "ready":
                return
            if health.state in ("failed", "stopped"):
                raise DeploymentError(f"colour '{name}' cannot serve: {health.reason}")
            if time.monotonic() >= deadline:
                raise DeploymentError(f"colour '{name}' was not ready within {timeout:g}s: {health.reason}")
            time.sleep(min(self.poll_interval, max(0.0, deadline - time.monotonic())))

    def is_healthy(self, name: str) -> bool:
        current = self.api.get_deployment(self._deployment(name))
        if current is None:
            return False
        status = current.get("status") or {}
        return int(status.get("availableReplicas") or 0) >= 1

    def read_metrics(self, name: str, since: float) -> DeploymentMetrics:
        """The gateway's numbers for ``name``; no traffic without Prometheus.

        Without ``metrics_url`` a rollout only gets here when its spec judges nothing
        (`preflight` refused every other spec before anything changed), so zeros decide nothing.
        """
        if self.metrics is None:
            return DeploymentMetrics(requests=0, errors=0)
        return self.metrics.read(self._query_values(name), since)

    def read_window(self, name: str, since: float) -> ColourWindow:
        """Counts and the gateway's latency buckets, for the relative gates; unmeasured without Prometheus."""
        if self.metrics is None:
            return ColourWindow(requests=0, errors=0, error=f"stack '{self.outputs.stack}' exports no Prometheus URL")
        return self.metrics.read_window(self._query_values(name), since)

    def _query_values(self, name: str) -> dict[str, object]:
        refs = self._backend_refs(self._require_route())
        service = self.ref.services[name]
        index = next((i for i, ref in enumerate(refs) if ref.get("name") == service), None)
        return {
            "namespace": self.ref.namespace,
            "route": self.ref.route_name,
            "service": service,
            "colour": name,
            "index": "" if index is None else index,
        }

    def delete_deployment(self, name: str) -> None:
        deployment = self._deployment(name)
        current = self.api.get_deployment(deployment)
        if current is None:
            return
        if (current.get("spec") or {}).get("replicas") != 0:
            self.api.scale_deployment(deployment, 0)
            self._changed = True
        if self.api.delete_hpa(deployment):
            self._changed = True

    def list_deployments(self) -> list[DeploymentInfo]:
        """Colours that run pods (a colour at 0 replicas is not deployed: it serves and costs nothing)."""
        infos = []
        for colour in self.ref.services:
            current = self.api.get_deployment(self._deployment(colour))
            if current is None or (current.get("spec") or {}).get("replicas") == 0:
                continue
            health = colour_health(current, self.api.list_pods(self._selector(colour)))
            state = {"ready": "healthy", "failed": "failed"}.get(health.state, "starting")
            infos.append(DeploymentInfo(name=colour, model=_model_of(current), state=state))
        return infos

    # --- the end of a rollout --------------------------------------------------------------------------

    def persist_state(self) -> PersistResult:
        """Write the route's weights and each colour's model URI to the stack config (or say how to)."""
        weights = self.get_traffic().weights
        changes: dict[str, dict[str, str | int]] = {}
        for colour in self.ref.services:
            values: dict[str, str | int] = {"weight": weights.get(colour, 0)}
            current = self.api.get_deployment(self._deployment(colour))
            model = _model_of(current) if current is not None else None
            if model:
                values["modelUri"] = model
            changes[colour] = values
        return persist_colours(self.outputs.stack, changes, project_dir=self.project_dir)

    def close(self) -> None:
        """After a rollout that changed the cluster, record its final state in the stack config."""
        try:
            if self._changed:
                self._changed = False
                print(self.persist_state().message(), file=sys.stderr)
        finally:
            self.api.close()
            if self.metrics is not None:
                self.metrics.close()


def _model_of(deployment: dict[str, Any]) -> str | None:
    annotation = (deployment.get("metadata", {}).get("annotations") or {}).get(MODEL_ANNOTATION)
    if annotation:
        return str(annotation)
    for container in deployment.get("spec", {}).get("template", {}).get("spec", {}).get("containers") or []:
        if container.get("name") == CONTAINER:
            for env in container.get("env") or []:
                if env.get("name") == "MODEL_URI" and env.get("value"):
                    return str(env["value"])
    return None


def create_target(outputs: PlatformOutputs, endpoint: str) -> DeploymentTarget:
    """The module-level factory `ml.deploy.target.target_for` calls."""
    return KubernetesTarget(outputs, endpoint)
