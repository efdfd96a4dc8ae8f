"""Blue/green MLflow model serving in a namespace of its own, with its cluster-side budget.

Why this shape: a rollout on Kubernetes is a sequence of config changes. Both colours always
exist as a Deployment and a Service, so a canary step only changes the HTTPRoute's backend
weights and a new model only changes the idle colour's `MODEL_URI`. A colour at weight 0 has 0
replicas and no HPA, so it costs nothing while it waits. The namespace carries the budget
(ResourceQuota: CPU, memory, GPU and pod caps; LimitRange: per-container defaults and maxima),
enforces the `restricted` Pod Security Standard, and denies all traffic except the gateway's
ingress on the serving port and the egress the server needs (DNS, HTTPS to model storage).

Pulumi owns the weights, model URIs and replica floor: the Deployments and the route carry
`pulumi.com/patchForce`, so a `pulumi up` reasserts the config over manual edits, and an HPA
that owned `spec.replicas` does not block scaling a colour to 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from infra.common import child_options
from infra.config import GPU_RESOURCE, ColourSettings, ServingColours, ServingQuota, ServingSettings
from infra.kubernetes.pod import model_server_pod
from ml.contract.monitoring import capture_env

GATEWAY_API_VERSION = "gateway.networking.k8s.io/v1"
SERVICE_PORT = 80
PATCH_FORCE = {"pulumi.com/patchForce": "true"}
DNS_PORTS = [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]


@dataclass(frozen=True)
class ModelServingArgs:
    serving: ServingSettings
    colours: ServingColours
    quota: ServingQuota
    tracking_uri: pulumi.Input[str] | None = None
    capture_uri: pulumi.Input[str] | None = None
    """Where the pods write capture records (`mlops:monitoring`); None: they capture nothing."""
    sampling_percent: float = 100.0
    node_selector: dict[str, str] = field(default_factory=dict)
    tolerations: list[dict[str, str]] = field(default_factory=list)


def colour_name(serving: ServingSettings, colour: str) -> str:
    """The Deployment, Service, HPA and PDB name of one colour: `<name>-<colour>`."""
    return f"{serving.name}-{colour}"


class ModelServing(pulumi.ComponentResource):
    """Namespace, quota, limits, identity, policies, two colours and the weighted route."""

    namespace: str
    route_name: str
    service_names: dict[str, str]
    deployment_names: dict[str, str]

    def __init__(self, name: str, args: ModelServingArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:kubernetes:ModelServing", name, None, opts)
        serving = args.serving
        self._common = {
            "app.kubernetes.io/name": "mlflow-model-server",
            "app.kubernetes.io/instance": serving.name,
            "app.kubernetes.io/part-of": "mlops-platform",
            "app.kubernetes.io/managed-by": "pulumi",
        }
        self._instance = {k: self._common[k] for k in ("app.kubernetes.io/name", "app.kubernetes.io/instance")}

        namespace = k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata={
                "name": serving.namespace,
                "labels": {
                    **self._common,
                    # Admission rejects any pod here that is not non-root, seccomp'd, capability-free.
                    "pod-security.kubernetes.io/enforce": "restricted",
                    "pod-security.kubernetes.io/enforce-version": "latest",
                },
            },
            opts=child_options(self),
        )
        # Children read the name from the Namespace so Pulumi creates it first and deletes it last.
        self._ns: pulumi.Output[str] = namespace.metadata.name
        budget = [self._quota(name, args.quota), self._limit_range(name, serving)]
        account = self._service_account(name, serving)
        self._network_policies(name, serving)

        services: dict[str, k8s.core.v1.Service] = {}
        for colour, settings in args.colours.items():
            deployment = self._deployment(name, colour, settings, args, depends_on=[*budget, account])
            if settings.active:
                self._autoscaler(name, colour, settings, serving, deployment)
            self._disruption_budget(name, colour, serving)
            services[colour] = self._service(name, colour, serving)
        self._route(name, args, services)

        self.namespace = serving.namespace
        self.route_name = serving.name
        self.service_names = {colour: colour_name(serving, colour) for colour in services}
        self.deployment_names = dict(self.service_names)
        self.register_outputs(
            {"namespace": self.namespace, "route_name": self.route_name, "service_names": self.service_names}
        )

    def _metadata(self, name: str, **extra: Any) -> dict[str, Any]:
        return {"name": name, "namespace": self._ns, "labels": dict(self._common), **extra}

    def _selector(self, colour: str) -> dict[str, str]:
        return {**self._instance, "mlops/colour": colour}

    def _quota(self, name: str, quota: ServingQuota) -> k8s.core.v1.ResourceQuota:
        return k8s.core.v1.ResourceQuota(
            f"{name}-quota",
            metadata=self._metadata("serving-quota"),
            spec={
                "hard": {
                    "requests.cpu": quota.cpu,
                    "limits.cpu": quota.cpu,
                    "requests.memory": quota.memory,
                    "limits.memory": quota.memory,
                    f"requests.{GPU_RESOURCE}": str(quota.gpu),
                    "pods": str(quota.pods),
                    # Traffic enters through the gateway only: no LoadBalancer or NodePort bypass.
                    "services.loadbalancers": "0",
                    "services.nodeports": "0",
                }
            },
            opts=child_options(self),
        )

    def _limit_range(self, name: str, serving: ServingSettings) -> k8s.core.v1.LimitRange:
        requests, limits = serving.resources.requests, serving.resources.limits
        return k8s.core.v1.LimitRange(
            f"{name}-limits",
            metadata=self._metadata("serving-limits"),
            spec={
                "limits": [
                    {
                        "type": "Container",
                        "defaultRequest": {"cpu": requests.cpu, "memory": requests.memory},
                        "default": {"cpu": limits.cpu, "memory": limits.memory},
                        "max": {"cpu": limits.cpu, "memory": limits.memory},
                    }
                ]
            },
            opts=child_options(self),
        )

    def _service_account(self, name: str, serving: ServingSettings) -> k8s.core.v1.ServiceAccount:
        return k8s.core.v1.ServiceAccount(
            f"{name}-identity",
            metadata=self._metadata(serving.name, annotations=dict(serving.service_account_annotations)),
            automount_service_account_token=False,
            opts=child_options(self),
        )

    def _network_policies(self, name: str, serving: ServingSettings) -> None:
        gateway = serving.gateway
        proxy_namespace = gateway.proxy_namespace or gateway.namespace
        peer: dict[str, Any] = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": proxy_namespace}}}
        if gateway.proxy_labels:
            peer["podSelector"] = {"matchLabels": dict(gateway.proxy_labels)}
        policies: dict[str, dict[str, Any]] = {
            # Everything in the namespace, both directions, denied unless a policy below allows it.
            "default-deny": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
            "allow-gateway-ingress": {
                "podSelector": {"matchLabels": self._instance},
                "policyTypes": ["Ingress"],
                "ingress": [{"from": [peer], "ports": [{"protocol": "TCP", "port": serving.port}]}],
            },
            "allow-model-egress": {
                "podSelector": {"matchLabels": self._instance},
                "policyTypes": ["Egress"],
                "egress": [
                    {
                        "to": [
                            {
                                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                                "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                            }
                        ],
                        "ports": DNS_PORTS,
                    },
                    # Model artifacts and the tracking server are reached over HTTPS only.
                    {
                        "to": [{"ipBlock": {"cidr": cidr}} for cidr in serving.egress_cidrs],
                        "ports": [{"protocol": "TCP", "port": 443}],
                    },
                ],
            },
        }
        for policy, spec in policies.items():
            k8s.networking.v1.NetworkPolicy(
                f"{name}-{policy}", metadata=self._metadata(policy), spec=spec, opts=child_options(self)
            )

    def _deployment(
        self,
        name: str,
        colour: str,
        settings: ColourSettings,
        args: ModelServingArgs,
        *,
        depends_on: list[pulumi.Resource],
    ) -> k8s.apps.v1.Deployment:
        serving = args.serving
        selector = self._selector(colour)
        spec: dict[str, Any] = {
            "selector": {"matchLabels": selector},
            "revisionHistoryLimit": 5,
            # Never below the serving capacity during a model change: surge one, then retire one.
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "template": model_server_pod(
                serving,
                model_uri=settings.model_uri,
                labels=selector,
                service_account=serving.name,
                tracking_uri=args.tracking_uri,
                capture=self._capture(serving, colour, settings, args),
                node_selector=args.node_selector,
                tolerations=args.tolerations,
            ),
        }
        if not settings.active:
            # Weight 0: no pods, no HPA. Active colours leave replicas to their HPA (min..max).
            spec["replicas"] = 0
        return k8s.apps.v1.Deployment(
            f"{name}-{colour}",
            metadata=self._metadata(
                colour_name(serving, colour),
                labels={**self._common, "mlops/colour": colour},
                annotations={**PATCH_FORCE, "mlops/model-uri": settings.model_uri or ""},
            ),
            spec=spec,
            opts=child_options(self, depends_on=depends_on),
        )

    def _capture(
        self, serving: ServingSettings, colour: str, settings: ColourSettings, args: ModelServingArgs
    ) -> dict[str, Any] | None:
        """The colour's capture environment, the same `capture_env` the rollout target patches in."""
        if args.capture_uri is None:
            return None
        model = (settings.model_uri or "").removeprefix("models:/").split("/")
        return capture_env(
            args.capture_uri,  # type: ignore[arg-type]  # an Output on real stacks; a string value either way
            sampling_percent=args.sampling_percent,
            endpoint=serving.name,
            deployment=colour,
            model_name=model[0] if len(model) == 2 else None,
            model_version=model[1] if len(model) == 2 else None,
        )

    def _autoscaler(
        self,
        name: str,
        colour: str,
        settings: ColourSettings,
        serving: ServingSettings,
        deployment: k8s.apps.v1.Deployment,
    ) -> None:
        target = colour_name(serving, colour)
        k8s.autoscaling.v2.HorizontalPodAutoscaler(
            f"{name}-{colour}-hpa",
            metadata=self._metadata(target),
            spec={
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
                "minReplicas": settings.min_replicas,
                "maxReplicas": settings.max_replicas,
                "metrics": [
                    {
                        "type": "Resource",
                        "resource": {
                            "name": "cpu",
                            "target": {"type": "Utilization", "averageUtilization": serving.target_cpu_percent},
                        },
                    }
                ],
                "behavior": {
                    # Up fast (double every 30 s), down one pod a minute after a quiet window.
                    "scaleUp": {
                        "stabilizationWindowSeconds": 0,
                        "policies": [{"type": "Percent", "value": 100, "periodSeconds": 30}],
                    },
                    "scaleDown": {
                        "stabilizationWindowSeconds": serving.scale_down_stabilization_seconds,
                        "policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}],
                    },
                },
            },
            opts=child_options(self, depends_on=[deployment]),
        )

    def _disruption_budget(self, name: str, colour: str, serving: ServingSettings) -> None:
        k8s.policy.v1.PodDisruptionBudget(
            f"{name}-{colour}-pdb",
            metadata=self._metadata(colour_name(serving, colour)),
            spec={
                # One pod at a time in drains and upgrades; never blocks a drain forever (1 replica).
                "maxUnavailable": 1,
                "selector": {"matchLabels": self._selector(colour)},
                "unhealthyPodEvictionPolicy": "AlwaysAllow",
            },
            opts=child_options(self),
        )

    def _service(self, name: str, colour: str, serving: ServingSettings) -> k8s.core.v1.Service:
        return k8s.core.v1.Service(
            f"{name}-{colour}-service",
            metadata=self._metadata(colour_name(serving, colour), labels={**self._common, "mlops/colour": colour}),
            spec={
                "type": "ClusterIP",
                "selector": self._selector(colour),
                "ports": [{"name": "http", "port": SERVICE_PORT, "targetPort": "http", "protocol": "TCP"}],
            },
            opts=child_options(self),
        )

    def _route(self, name: str, args: ModelServingArgs, services: dict[str, k8s.core.v1.Service]) -> None:
        serving, gateway = args.serving, args.serving.gateway
        spec: dict[str, Any] = {
            "parentRefs": [
                {
                    "group": "gateway.networking.k8s.io",
                    "kind": "Gateway",
                    "name": gateway.name,
                    "namespace": gateway.namespace,
                }
            ],
            "rules": [
                {
                    "matches": [{"path": {"type": "PathPrefix", "value": gateway.path_prefix}}],
                    "backendRefs": [
                        {
                            "group": "",
                            "kind": "Service",
                            "name": colour_name(serving, colour),
                            "port": SERVICE_PORT,
                            "weight": settings.weight,
                        }
                        for colour, settings in args.colours.items()
                    ],
                }
            ],
        }
        if gateway.hostnames:
            spec["hostnames"] = list(gateway.hostnames)
        k8s.apiextensions.CustomResource(
            f"{name}-route",
            api_version=GATEWAY_API_VERSION,
            kind="HTTPRoute",
            metadata=self._metadata(serving.name, annotations=dict(PATCH_FORCE)),
            spec=spec,
            opts=child_options(self, depends_on=list(services.values())),
        )
