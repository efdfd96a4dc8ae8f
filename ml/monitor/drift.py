"""Drift: does a window of live inputs (and predictions) still look like the reference?

Why these tests (Evidently's defaults, computed with scipy.stats, which Evidently itself calls;
Evidently 0.7 does not import with pandas 3, see the commit that chose scipy):

- numeric column, reference and window both over 1,000 rows: Wasserstein distance divided by the
  reference's standard deviation, drift at >= 0.1 (an effect size: with 100,000 rows every test
  is "significant", a tenth of a standard deviation is what matters);
- numeric column otherwise: two-sample Kolmogorov-Smirnov, drift when p < the corrected alpha;
- categorical column (text, or at most 5 distinct reference values): chi-square on the
  reference-vs-window contingency table, drift when p < the corrected alpha.

One p-value test per column at alpha 0.05 over 30 columns raises a false alarm in most windows
(1 - 0.95**30 = 79%). So the dataset-level decision uses a Bonferroni correction: each p-value
test is judged at alpha / (number of p-value tests), which keeps the chance of any false alarm
at or below alpha. A window with fewer than ``min_samples`` rows is "not enough data", never a
pass; so is a column with fewer non-missing values.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

DRIFT = "drift"
NO_DRIFT = "no drift"
NOT_ENOUGH = "not enough data"

WASSERSTEIN_MIN_ROWS = 1000
WASSERSTEIN_THRESHOLD = 0.1
_EXACT_ROWS = 20_000


@dataclass(frozen=True)
class DriftOptions:
    """How drift is judged; the defaults are the documented ones."""

    alpha: float = 0.05
    min_samples: int = 100
    wasserstein_threshold: float = WASSERSTEIN_THRESHOLD
    wasserstein_min_rows: int = WASSERSTEIN_MIN_ROWS


@dataclass(frozen=True)
class ColumnDrift:
    """One column's verdict with everything needed to check it by hand."""

    column: str
    role: str
    """``feature`` or ``prediction``."""
    kind: str
    test: str
    statistic: float | None
    p_value: float | None
    threshold: float
    """The corrected alpha for p-value tests; the distance threshold for Wasserstein."""
    reference_size: int
    current_size: int
    outcome: str

    @property
    def drifted(self) -> bool | None:
        return None if self.outcome == NOT_ENOUGH else self.outcome == DRIFT

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "drifted": self.drifted}


@dataclass(frozen=True)
class DriftResult:
    """The window's verdict: per column, and one dataset-level outcome."""

    outcome: str
    columns: list[ColumnDrift]
    current_size: int
    reference_size: int
    options: DriftOptions
    correction: str
    tests: int
    """How many p-value tests share the alpha (the Bonferroni family)."""

    @property
    def drifted_columns(self) -> list[ColumnDrift]:
        return [column for column in self.columns if column.outcome == DRIFT]

    @property
    def message(self) -> str:
        if self.outcome == NOT_ENOUGH:
            return f"not enough data: {self.current_size} of {self.options.min_samples} rows needed"
        if self.outcome == DRIFT:
            names = ", ".join(column.column for column in self.drifted_columns)
            return f"drift in {len(self.drifted_columns)} of {len(self.columns)} columns: {names}"
        return f"no drift in {len(self.columns)} columns ({self.current_size} rows)"

    def to_dict(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "message": self.message,
            "current_size": self.current_size,
            "reference_size": self.reference_size,
            "alpha": self.options.alpha,
            "correction": self.correction,
            "p_value_tests": self.tests,
            "min_samples": self.options.min_samples,
            "wasserstein_threshold": self.options.wasserstein_threshold,
            "columns": [column.to_dict() for column in self.columns],
        }


def _numeric(values: pd.Series) -> np.ndarray:
    return np.asarray(pd.to_numeric(values, errors="coerce").dropna(), dtype=float)


def wasserstein(reference: np.ndarray, current: np.ndarray) -> float:
    """The 1-D Wasserstein distance: scipy's exact one up to 20,000 rows a side, else on 20,000 quantiles.

    Why the quantile form above that size: W1 is the mean gap between the two quantile functions;
    evaluated at 20,000 evenly spaced levels it differs from the exact value far below the 0.1 sd
    threshold, and costs one sort per column instead of scipy's merge of both samples (the
    100,000-row window of the benchmark).
    """
    from scipy import stats  # type: ignore[import-untyped]  # lazily: 0.6 s that every ml start paid

    if max(len(reference), len(current)) <= _EXACT_ROWS:
        return float(stats.wasserstein_distance(reference, current))
    levels = (np.arange(_EXACT_ROWS) + 0.5) / _EXACT_ROWS

    def quantiles(values: np.ndarray) -> np.ndarray:  # the inverse empirical CDF at each level
        return np.sort(values)[(levels * len(values)).astype(int)]

    return float(np.mean(np.abs(quantiles(reference) - quantiles(current))))


def _chi_square(reference: pd.Series, current: pd.Series) -> float:
    from scipy import stats  # lazily: 0.6 s that every ml start paid

    ref_counts = reference.dropna().astype(str).value_counts()
    cur_counts = current.dropna().astype(str).value_counts()
    categories = sorted(set(ref_counts.index) | set(cur_counts.index))
    if len(categories) < 2:
        return 1.0  # one category on both sides: nothing can differ
    table = np.array([[ref_counts.get(c, 0) for c in categories], [cur_counts.get(c, 0) for c in categories]])
    return float(stats.chi2_contingency(table)[1])


def detect_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    features: list[str],
    categorical: list[str],
    prediction: str | None = None,
    options: DriftOptions | None = None,
) -> DriftResult:
    """Compare ``current`` with ``reference`` column by column (features, then the prediction column)."""
    from scipy import stats  # lazily: 0.6 s that every ml start paid

    options = options or DriftOptions()
    columns = [(name, "feature") for name in features]
    if prediction is not None and prediction in reference.columns and prediction in current.columns:
        columns.append((prediction, "prediction"))
    planned: list[dict[str, Any]] = []
    for name, role in columns:
        kind = "categorical" if name in categorical else "numeric"
        ref = reference[name] if name in reference.columns else pd.Series(dtype=float)
        cur = current[name] if name in current.columns else pd.Series(dtype=float)
        ref_values = ref.dropna() if kind == "categorical" else _numeric(ref)
        cur_values = cur.dropna() if kind == "categorical" else _numeric(cur)
        ref_n, cur_n = len(ref_values), len(cur_values)
        if kind == "categorical":
            test = "chi-square"
        elif ref_n > options.wasserstein_min_rows and cur_n > options.wasserstein_min_rows:
            test = "wasserstein (normed)"
        else:
            test = "kolmogorov-smirnov"
        planned.append({"name": name, "role": role, "kind": kind, "test": test, "ref": ref_values, "cur": cur_values})
    enough = len(current) >= options.min_samples
    p_tests = [p for p in planned if p["test"] != "wasserstein (normed)" and len(p["cur"]) >= options.min_samples]
    family = max(1, len(p_tests))
    corrected = options.alpha / family
    results: list[ColumnDrift] = []
    for plan in planned:
        ref_values, cur_values = plan["ref"], plan["cur"]
        threshold = options.wasserstein_threshold if plan["test"].startswith("wasserstein") else corrected
        statistic: float | None = None
        p_value: float | None = None
        if not enough or len(cur_values) < options.min_samples or len(ref_values) < 2:
            outcome = NOT_ENOUGH
        elif plan["test"] == "chi-square":
            p_value = _chi_square(pd.Series(ref_values), pd.Series(cur_values))
            outcome = DRIFT if p_value < threshold else NO_DRIFT
        elif plan["test"] == "kolmogorov-smirnov":
            found = stats.ks_2samp(ref_values, cur_values, method="asymp")
            statistic, p_value = float(found.statistic), float(found.pvalue)
            outcome = DRIFT if p_value < threshold else NO_DRIFT
        else:
            scale = max(float(np.std(ref_values, ddof=1)), 1e-3)
            statistic = wasserstein(ref_values, cur_values) / scale
            outcome = DRIFT if statistic >= threshold else NO_DRIFT
        results.append(
            ColumnDrift(
                column=plan["name"],
                role=plan["role"],
                kind=plan["kind"],
                test=plan["test"],
                statistic=statistic,
                p_value=p_value,
                threshold=threshold,
                reference_size=len(ref_values),
                current_size=len(cur_values),
                outcome=outcome,
            )
        )
    judged = [column for column in results if column.outcome != NOT_ENOUGH]
    if not enough or not judged:
        overall = NOT_ENOUGH
    elif any(column.outcome == DRIFT for column in judged):
        overall = DRIFT
    else:
        overall = NO_DRIFT
    return DriftResult(
        outcome=overall,
        columns=results,
        current_size=len(current),
        reference_size=len(reference),
        options=options,
        correction=f"bonferroni over {family} p-value tests (alpha {options.alpha:g} -> {corrected:.2g})",
        tests=family,
    )
