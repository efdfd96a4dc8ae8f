"""`ml monitor --labels FILE --ab-feedback`: the monitor's labels become an A/B test's outcomes.

Two arms answered the endpoint (their rows are in the capture, as the model servers write them):
``blue`` predicts like the trained model, ``green`` (another version) answers every third request
wrongly. The labels file is the one `ml monitor --labels` reads; with ``--ab-feedback`` each
labelled request's outcome (prediction right = 1) lands in the endpoint's feedback store, and the
experiment's join (`JoinedFeedback`) gives each arm its live accuracy.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ml.deploy.decide import SequentialTest
from ml.deploy.feedback import FeedbackStore, JoinedFeedback
from tests.monitor.conftest import ENDPOINT, Cancer, Platform, records_for, write_capture
from tests.monitor.test_cli import ml


class CapturedAssignments:
    """Which deployment served each request id, as the capture records it (the local proxy's log says the same)."""

    def __init__(self, served: dict[str, str]) -> None:
        self.served = served

    def read_assignments(self, since: float) -> dict[str, str]:
        return self.served


def test_labels_fed_to_the_ab_store_rank_the_arms_by_live_accuracy(
    platform: Platform,
    cancer: Cancer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    good = cancer.predict(cancer.x_test)
    wrong = np.where(np.arange(len(good)) % 3 == 0, 1 - good, good)  # every third answer flipped
    blue = records_for(cancer.x_test, good, version=platform.version, prefix="b")
    green = records_for(cancer.x_test, wrong, version="99", deployment="green", prefix="g")
    write_capture(platform.capture, blue + green)
    labels = tmp_path / "labels.csv"
    rows = [f"{arm}{i},{y}\n" for arm in "bg" for i, y in enumerate(cancer.y_test)]
    labels.write_text("request_id,label\n" + "".join(rows))
    code, _, err = ml(
        monkeypatch,
        capsys,
        "monitor",
        "--labels",
        str(labels),
        "--ab-feedback",
        "--json",
        "--report-dir",
        str(tmp_path),
    )
    assert code == 0, err
    assert f"A/B feedback: {2 * len(good)} labelled request(s) of endpoint '{ENDPOINT}'" in " ".join(err.split())
    store = FeedbackStore.for_endpoint(platform.home, ENDPOINT)
    values = store.values()
    assert set(values.values()) == {0.0, 1.0} and len(values) == 2 * len(good)
    served = {r.request_id: r.deployment for r in blue + green}
    joined = JoinedFeedback(store, CapturedAssignments(served))
    arms = [joined.arm_stats("blue", 0.0), joined.arm_stats("green", 0.0)]
    assert None not in arms
    assert arms[0].n == arms[1].n == len(good) and arms[0].is_binary
    assert arms[0].mean > 0.9 and arms[1].mean < arms[0].mean - 0.2  # live accuracy per arm
    decision = SequentialTest(goal="maximize", min_samples=50).decide(arms, champion="blue")
    assert decision.comparisons[0].state == "worse"


def test_ab_feedback_without_labels_is_one_clear_error(
    platform: Platform, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = ml(monkeypatch, capsys, "monitor", "--ab-feedback")
    assert code == 2 and "--ab-feedback needs --labels FILE" in err
    assert not FeedbackStore.for_endpoint(platform.home, ENDPOINT).path.exists()
