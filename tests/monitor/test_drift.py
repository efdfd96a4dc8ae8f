"""Drift on breast-cancer data: held-out rows from the training distribution pass, a shifted feature is found."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ml.monitor.drift import DRIFT, NO_DRIFT, NOT_ENOUGH, detect_drift
from ml.monitor.reference import PREDICTION, build_reference
from tests.monitor.conftest import Cancer, shifted


def _reference(cancer: Cancer) -> pd.DataFrame:
    sample, _ = build_reference(cancer.x_train, cancer.predict(cancer.x_train), target=cancer.y_train)
    return sample


def _current(cancer: Cancer, frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(**{PREDICTION: cancer.predict(frame)})


def test_rows_from_the_training_distribution_do_not_drift(cancer: Cancer) -> None:
    result = detect_drift(
        _reference(cancer),
        _current(cancer, cancer.x_test),
        features=list(cancer.x_train.columns),
        categorical=[],
        prediction=PREDICTION,
    )
    assert result.outcome == NO_DRIFT, result.message
    assert len(result.columns) == 31  # 30 features + the prediction
    ks = result.columns[0]
    assert ks.test == "kolmogorov-smirnov" and ks.current_size == len(cancer.x_test) and ks.reference_size == 398
    assert ks.threshold == 0.05 / 31  # Bonferroni over every p-value test
    assert ks.statistic is not None and ks.p_value is not None and ks.drifted is False


def test_a_shifted_feature_is_flagged_and_the_others_are_not(cancer: Cancer) -> None:
    current = _current(cancer, shifted(cancer.x_test, "7", 1.0))  # mean concave points, +1 sd
    current[PREDICTION] = cancer.predict(current.drop(columns=[PREDICTION]))
    result = detect_drift(
        _reference(cancer), current, features=list(cancer.x_train.columns), categorical=[], prediction=PREDICTION
    )
    assert result.outcome == DRIFT
    drifted = {column.column for column in result.drifted_columns}
    assert "7" in drifted
    assert drifted <= {"7", PREDICTION}, drifted
    assert "drift in" in result.message and "7" in result.message


def test_too_few_rows_is_not_enough_data_never_a_pass(cancer: Cancer) -> None:
    result = detect_drift(
        _reference(cancer),
        _current(cancer, cancer.x_test.head(40)),
        features=list(cancer.x_train.columns),
        categorical=[],
        prediction=PREDICTION,
    )
    assert result.outcome == NOT_ENOUGH
    assert result.message == "not enough data: 40 of 100 rows needed"
    assert all(column.drifted is None for column in result.columns)


def test_large_windows_use_the_normed_wasserstein_distance_and_categories_chi_square() -> None:
    rng = np.random.default_rng(0)
    reference = pd.DataFrame({"x": rng.normal(size=5000), "colour": rng.choice(["red", "blue"], 5000)})
    same = pd.DataFrame({"x": rng.normal(size=3000), "colour": rng.choice(["red", "blue"], 3000)})
    moved = pd.DataFrame({"x": rng.normal(0.3, 1, 3000), "colour": rng.choice(["red", "blue"], 3000, p=[0.8, 0.2])})
    calm = detect_drift(reference, same, features=["x", "colour"], categorical=["colour"])
    assert calm.outcome == NO_DRIFT
    x, colour = calm.columns
    assert x.test == "wasserstein (normed)" and x.threshold == 0.1 and x.statistic is not None and x.statistic < 0.1
    assert colour.test == "chi-square" and colour.threshold == 0.05  # one p-value test: no correction
    alarm = detect_drift(reference, moved, features=["x", "colour"], categorical=["colour"])
    assert [c.outcome for c in alarm.columns] == [DRIFT, DRIFT]
