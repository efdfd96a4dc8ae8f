"""A/B experiments on the Kubernetes target: the HTTPRoute rule it writes, what it refuses, and feedback attribution.

The cluster is the fake Kubernetes API (`tests.fakes.kube_api`) reached through the real client;
the route it stores is what a gateway would be asked to apply. Session persistence is experimental
Gateway API (GEP-1619): ``gateway_channel="standard"`` makes the fake prune it as the
standard-channel CRD does, which the target must refuse before anything changes. Feedback is
attributed from capture records the real `ml.platform.capture.CaptureWriter` writes to S3 (moto on
127.0.0.1), as the pods of ``serving.server: platform`` do.
"""

from __future__ import annotations

import time

import pytest

from ml.contract import MonitoringRef
from ml.contract.errors import UserError
from ml.deploy.spec import RolloutSpec, parse_spec
from ml.deploy.spec_decide import StickyAssignment
from ml.platform.capture import CaptureWriter, Pending
from tests.deploy.test_kubernetes_target import BLUE, GREEN, HEALTHY, MODEL, NS, ROUTE, World, world  # noqa: F401
from tests.fakes.moto_server import MotoServer, moto_server  # noqa: F401

BUCKET = "mlops-artifacts"
CAPTURE_URI = f"s3://{BUCKET}/capture/"


def _rule(world: World) -> dict:  # noqa: F811
    return world.kube.routes[(NS, ROUTE)]["spec"]["rules"][0]


def _ab_spec(assignment: str, outcome: str = "errors") -> RolloutSpec:
    return parse_spec(
        f"model: models:/{MODEL}@challenger\nbake_time: 0\nhealth_timeout: 5s\ngates: {{min_requests: 0}}\n"
        f"strategy: {{type: ab, split: [50, 50], assignment: {assignment}, outcome: {outcome}, duration: 0.3, "
        f"look_every: 0.05}}\n"
    )


def _serve_platform(world: World) -> None:  # noqa: F811
    """Both colours run `ml.platform.serve` (serving.server: platform), which writes capture records."""
    for name in (BLUE, GREEN):
        container = world.kube.deployments[(NS, name)]["spec"]["template"]["spec"]["containers"][0]
        container["command"] = ["python", "-m", "ml.platform.serve"]


def test_sticky_cookie_and_header_become_the_rules_session_persistence(world: World) -> None:  # noqa: F811
    world.kube.route_status = True
    target = world.target()
    try:
        target.set_assignment({"blue": 50, "green": 50}, StickyAssignment(cookie="ml-arm"))
        assert _rule(world)["sessionPersistence"] == {"type": "Cookie", "sessionName": "ml-arm"}
        assert world.kube.route_weights(NS, ROUTE) == {BLUE: 50, GREEN: 50}
        target.set_assignment({"blue": 50, "green": 50}, StickyAssignment(header="X-Session"))
        assert _rule(world)["sessionPersistence"] == {"type": "Header", "sessionName": "X-Session"}
        target.set_assignment({"blue": 70, "green": 30}, None)  # random per request: plain weighted backendRefs
        assert "sessionPersistence" not in _rule(world)
        assert world.kube.route_weights(NS, ROUTE) == {BLUE: 70, GREEN: 30}
        target.set_assignment({"blue": 50, "green": 50}, StickyAssignment(cookie="ml-arm"))
        target.set_traffic({"blue": 100, "green": 0})  # the end of an experiment: the stack's plain split again
        assert "sessionPersistence" not in _rule(world)
        assert _rule(world)["matches"] == [{"path": {"type": "PathPrefix", "value": "/"}}]
    finally:
        target.close()


def test_an_ab_test_pins_by_header_and_leaves_the_plain_route_behind(world: World) -> None:  # noqa: F811
    world.prom.answers["backend/0"] = HEALTHY
    world.prom.answers["backend/1"] = HEALTHY
    target = world.target()
    try:
        result = world.engine(target).run(_ab_spec("{header: X-Session}"))
    finally:
        target.close()
    assert result.outcome == "unchanged", result.message  # no difference by the horizon: the champion stays
    dry, *written = [r for r in world.kube.calls("PATCH", "/httproutes/")]
    assert dry.query.get("dryRun") == ["All"]  # preflight asked what the CRD keeps, storing nothing
    assert written[0].body["spec"]["rules"][0]["sessionPersistence"] == {"type": "Header", "sessionName": "X-Session"}
    assert world.kube.route_patches()[0] == {BLUE: 50, GREEN: 50}
    assert world.kube.route_weights(NS, ROUTE) == {BLUE: 100, GREEN: 0}
    assert "sessionPersistence" not in _rule(world)


def test_a_standard_channel_crd_is_refused_before_anything_changes(world: World) -> None:  # noqa: F811
    world.kube.gateway_channel = "standard"
    target = world.target()
    try:
        with pytest.raises(UserError, match=r"experimental-install\.yaml") as refused:
            world.engine(target).run(_ab_spec("{cookie: ml-arm}"))
        assert "assignment: random" in str(refused.value)
        writes = [r for r in world.kube.requests if r.method != "GET" and r.query.get("dryRun") != ["All"]]
        assert writes == []  # the refused rollout wrote nothing: no deployment, HPA or route change
        with pytest.raises(UserError, match="standard channel"):  # called anyway: an error, never a random split
            target.set_assignment({"blue": 50, "green": 50}, StickyAssignment(cookie="ml-arm"))
    finally:
        target.close()


def test_a_gateway_that_rejects_header_persistence_rolls_the_experiment_back(world: World) -> None:  # noqa: F811
    world.kube.unsupported_persistence.add("Header")
    target = world.target()
    try:
        result = world.engine(target).run(_ab_spec("{header: X-Session}"))
    finally:
        target.close()
    assert result.outcome == "rolled_back", result.message
    assert "UnsupportedValue" in result.message and "Header session persistence" in result.message
    assert world.kube.route_weights(NS, ROUTE) == {BLUE: 100, GREEN: 0}
    assert "sessionPersistence" not in _rule(world)
    assert world.replicas(GREEN) == 0  # the challenger retired


def test_feedback_needs_the_pods_capture(world: World) -> None:  # noqa: F811
    target = world.target()
    try:
        with pytest.raises(UserError, match="enable `mlops:monitoring`"):
            world.engine(target).run(_ab_spec("random", outcome="feedback"))
        world.outputs = world.outputs.model_copy(update={"monitoring": _monitoring()})
        target.outputs = world.outputs
        with pytest.raises(UserError, match=r"serving\.server: platform"):
            world.engine(target).run(_ab_spec("random", outcome="feedback"))
    finally:
        target.close()
    assert [r for r in world.kube.requests if r.method != "GET"] == []


def _monitoring() -> MonitoringRef:
    return MonitoringRef(enabled=True, sampling_percent=100, capture_uri=CAPTURE_URI, platform_capture_uri=CAPTURE_URI)


def test_feedback_request_ids_are_attributed_from_the_pods_capture_records(
    world: World,  # noqa: F811
    moto_server: MotoServer,  # noqa: F811
) -> None:
    moto_server.client("s3").create_bucket(
        Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": moto_server.region}
    )
    _serve_platform(world)
    world.outputs = world.outputs.model_copy(update={"monitoring": _monitoring(), "region": moto_server.region})
    since = time.time() - 1
    for colour, ids in (("blue", ["r1", "r2"]), ("green", ["r3"])):
        writer = CaptureWriter(CAPTURE_URI, sampling_percent=100, endpoint=ROUTE, deployment=colour)
        for request_id in ids:
            body = b'{"inputs": [[1.0, 2.0], [3.0, 4.0]]}'
            writer.add(Pending(request_id, time.time(), 200, 3.0, body, "application/json", b"[0.1, 0.9]"))
        writer.close()
    other = CaptureWriter(CAPTURE_URI, sampling_percent=100, endpoint="another-route", deployment="blue")
    other.add(Pending("x1", time.time(), 200, 3.0, b'{"inputs": [[1.0]]}', "application/json", b"[1]"))
    other.close()
    target = world.target()
    try:
        served = target.read_assignments(since)
        assert {k: v for k, v in served.items() if "#" not in k} == {"r1": "blue", "r2": "blue", "r3": "green"}
        late = CaptureWriter(CAPTURE_URI, sampling_percent=100, endpoint=ROUTE, deployment="green")
        late.add(Pending("r4", time.time(), 200, 3.0, b'{"inputs": [[1.0, 2.0]]}', "application/json", b"[0.2]"))
        late.close()
        assert target.read_assignments(since)["r4"] == "green"  # the next look sees records written since
        assert "r1" not in target.read_assignments(time.time() + 5)  # a later window leaves earlier requests out
    finally:
        target.close()
