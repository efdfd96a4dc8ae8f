"""The monitor report for people: a rich table, a PNG of the distributions, one self-contained HTML page.

Why here and not in the CLI: the PNG and HTML are logged to MLflow and rebuilt by the benchmark;
the CLI only prints. The PNG shows reference against window for the drifted columns first (then
the largest statistics), at most ``MAX_PANELS``, so it stays readable and quick to draw.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

import numpy as np
import pandas as pd
from rich.table import Table
from rich.text import Text

from ml.contract.capture import iso_utc
from ml.monitor.core import MonitorResult
from ml.monitor.drift import DRIFT, NOT_ENOUGH, ColumnDrift
from ml.monitor.reference import PREDICTION

MAX_PANELS = 6
_STYLE = {DRIFT: "bold red", NOT_ENOUGH: "yellow"}


def _number(value: float | None, digits: int = 4) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}g}" if abs(value) < 1e-3 and value != 0 else f"{value:.{digits}f}"


def _label(column: ColumnDrift) -> str:
    return "prediction" if column.column == PREDICTION else column.column


def drift_table(result: MonitorResult) -> Table:
    """One row per column: test, statistic, p-value, threshold, sample sizes, verdict."""
    model = result.model
    table = Table(
        title=f"drift: {model.name}/{model.version} ({iso_utc(result.since)} .. {iso_utc(result.until)})",
        title_justify="left",
    )
    for heading in ("column", "test", "statistic", "p-value", "threshold", "ref n", "window n", "verdict"):
        table.add_column(heading, justify="left" if heading in ("column", "test", "verdict") else "right")
    for column in result.drift.columns:
        table.add_row(
            _label(column),
            column.test,
            _number(column.statistic),
            _number(column.p_value),
            _number(column.threshold, 3),
            str(column.reference_size),
            str(column.current_size),
            Text(column.outcome, style=_STYLE.get(column.outcome, "green")),
        )
    return table


def traffic_lines(result: MonitorResult) -> list[str]:
    """Requests, error rate, latency; and the live metric when labels were given."""
    stats = result.stats
    rate = "-" if stats.error_rate is None else f"{stats.error_rate:.2%}"
    lines = [
        f"requests {stats.requests} ({stats.rows} rows), errors {stats.errors} ({rate}), "
        f"latency p50 {_number(stats.p50_ms, 1)} ms / p95 {_number(stats.p95_ms, 1)} ms",
        f"test correction: {result.drift.correction}",
    ]
    if stats.other_versions:
        lines.append(f"{stats.other_versions} rows answered by other model versions were left out")
    if result.live is not None:
        lines.append(result.live.message)
    return lines


def _panels(result: MonitorResult) -> list[ColumnDrift]:
    judged = [c for c in result.drift.columns if c.outcome != NOT_ENOUGH]
    ranked = sorted(judged, key=lambda c: (c.outcome != DRIFT, -(c.statistic or 0.0), c.p_value or 1.0))
    return ranked[:MAX_PANELS]


def write_png(result: MonitorResult, path: Path) -> Path:
    """Histograms (density) of reference vs window for the most telling columns."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    panels = _panels(result)
    count = max(1, len(panels))
    cols = min(3, count)
    rows = (count + cols - 1) // cols
    figure, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.0 * rows), squeeze=False)
    for axis in axes.flat[count:]:
        axis.set_visible(False)
    if not panels:
        axes[0][0].text(0.5, 0.5, result.drift.message, ha="center", va="center", wrap=True)
        axes[0][0].set_axis_off()
    for axis, column in zip(axes.flat, panels, strict=False):
        reference = pd.to_numeric(result.reference.sample[column.column], errors="coerce").dropna()
        current = pd.to_numeric(result.current[column.column], errors="coerce").dropna()
        if column.kind == "categorical" or reference.empty:
            ref_share = result.reference.sample[column.column].astype(str).value_counts(normalize=True)
            cur_share = result.current[column.column].dropna().astype(str).value_counts(normalize=True)
            shares = pd.DataFrame({"reference": ref_share, "window": cur_share}).fillna(0.0)
            shares.plot.bar(ax=axis)
        else:
            low, high = np.nanpercentile(np.concatenate([reference, current]), [0.5, 99.5])
            bins = np.linspace(low, high if high > low else low + 1, 30)
            axis.hist(reference, bins=bins, density=True, alpha=0.5, label="reference")
            axis.hist(current, bins=bins, density=True, alpha=0.5, label="window")
        colour = "red" if column.outcome == DRIFT else "black"
        axis.set_title(f"{_label(column)}: {column.outcome}", color=colour, fontsize=10)
        axis.legend(fontsize=7)
    figure.suptitle(f"{result.model.name}/{result.model.version}: {result.outcome}", fontsize=11)
    figure.tight_layout()
    figure.savefig(path, dpi=80)
    plt.close(figure)
    return path


def write_html(result: MonitorResult, path: Path, png: Path | None = None) -> Path:
    """One page, no external files: verdict, traffic, the per-column table, the PNG inlined."""
    rows = []
    for column in result.drift.columns:
        style = ' style="color:#b00;font-weight:bold"' if column.outcome == DRIFT else ""
        cells = (
            _label(column),
            column.test,
            _number(column.statistic),
            _number(column.p_value),
            _number(column.threshold, 3),
            str(column.reference_size),
            str(column.current_size),
            column.outcome,
        )
        rows.append(f"<tr{style}>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in cells) + "</tr>")
    image = ""
    if png is not None and png.exists():
        encoded = base64.b64encode(png.read_bytes()).decode("ascii")
        image = f'<img alt="distributions" src="data:image/png;base64,{encoded}">'
    header = "".join(
        f"<th>{h}</th>" for h in ("column", "test", "statistic", "p-value", "threshold", "ref n", "window n", "verdict")
    )
    notes = "".join(f"<p>{html.escape(line)}</p>" for line in traffic_lines(result))
    title = html.escape(f"{result.model.name}/{result.model.version}: {result.outcome}")
    page = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title>"
        "<style>body{font-family:sans-serif}td,th{padding:2px 8px;text-align:right}"
        "td:first-child,th:first-child{text-align:left}</style></head><body>"
        f"<h1>{title}</h1><p>{html.escape(result.message)}</p>"
        f"<p>window {iso_utc(result.since)} .. {iso_utc(result.until)}; capture {html.escape(result.capture_uri)}; "
        f"reference {html.escape(result.reference.uri)} ({result.reference.rows} rows)</p>{notes}"
        f"<table><tr>{header}</tr>{''.join(rows)}</table>{image}</body></html>"
    )
    path.write_text(page)
    return path
