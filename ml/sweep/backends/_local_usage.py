"""What a local trial used, measured: MLflow system metrics on each trial's run, and their mean.

Why the sweep process runs the monitor and not the trial: MLflow's `SystemMetricsMonitor` samples
the machine (CPU, memory, disk, network, and GPU when NVIDIA/ROCm tools are there), not a process,
so sampling it once per running trial here gives the trial's run the same ``system/*`` metrics a
trial started with ``mlflow.start_run(log_system_metrics=True)`` would log, without making every
trial import MLflow and open a thread before its first step (the warm start would pay for it) and
for any command, not only Python ones. On a cloud instance (one trial per instance) the same
metrics are the trial's own; on this shared machine they are the machine's while the trial ran.

The mean CPU, memory and GPU utilisation of each trial is logged on its run (the summary metrics
of `ml.sweep.backends.utilization.SYSTEM_METRICS`, CPU's is `UTILIZATION_METRIC`) when it ends, so
`ml sweep status` reads one number per trial and resource instead of every sample.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterable
from typing import Any

from ml.sweep.backends.utilization import SYSTEM_METRICS

UTILIZATION_METRIC = SYSTEM_METRICS["cpu"][1]
SAMPLING_SECONDS_ENV = "ML_SWEEP_SYSTEM_METRICS_INTERVAL"
DEFAULT_SAMPLING_SECONDS = 2.0


def start_monitor(run_id: str) -> Any:
    """A started `SystemMetricsMonitor` logging to the trial's run, or None when MLflow cannot run one."""
    try:
        from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor

        logging.getLogger("mlflow.system_metrics").setLevel(logging.ERROR)
        interval = float(os.environ.get(SAMPLING_SECONDS_ENV, DEFAULT_SAMPLING_SECONDS))
        monitor = SystemMetricsMonitor(run_id, sampling_interval=interval, samples_before_logging=1)
        monitor.start()
        return monitor
    except Exception:  # system metrics are a measurement, never a reason for a trial not to run
        return None


def finish_monitor(monitor: Any, client: Any, run_id: str) -> float | None:
    """Stop the monitor, log the trial's mean CPU, memory and GPU use on its run; return the CPU mean (percent)."""
    if monitor is None:
        return None
    with contextlib.suppress(Exception):
        monitor.finish()
        # One last sample covers the time since the previous one (all of a trial shorter than the interval).
        monitor.collect_metrics()
        monitor.publish_metrics(monitor.aggregate_metrics())
        monitor.mlflow_logger.flush()
    means: dict[str, float] = {}
    for system, summary in SYSTEM_METRICS.values():
        values: list[float] = []
        with contextlib.suppress(Exception):  # a measurement, never a reason for the sweep to fail
            values = [m.value for m in client.get_metric_history(run_id, system)]
        if values:
            means[summary] = sum(values) / len(values)
    if means:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        with contextlib.suppress(Exception):  # one write for the three means
            client.log_batch(run_id, metrics=[Metric(name, value, now, 0) for name, value in means.items()])
    return means.get(UTILIZATION_METRIC)


def mean_utilization(trials: Iterable[tuple[float, float | None]]) -> float | None:
    """The time-weighted mean utilisation over ``(seconds, utilisation)`` pairs that have one."""
    measured = [(seconds, value) for seconds, value in trials if value is not None and seconds > 0]
    total = sum(seconds for seconds, _ in measured)
    return sum(seconds * value for seconds, value in measured) / total if total else None
