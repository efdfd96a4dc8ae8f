"""Statistical decisions for rollouts and experiments: relative gates with three outcomes, and A/B tests.

One policy per module: `relative` (candidate vs baseline over one window), `sequential` (an A/B
experiment's always-valid decision); the tests they use live in `proportions` (error counts) and
`latency` (distributions); every judgement is recorded as `evidence`.
"""

from ml.deploy.decide.evidence import Decision, MetricEvidence, Outcome, unmeasured
from ml.deploy.decide.latency import LatencyDistribution
from ml.deploy.decide.relative import ColourWindow, LatencyEvidence, RelativeGate, latency_refusal
from ml.deploy.decide.sequential import ArmStats, ExperimentDecision, SequentialTest

__all__ = [
    "ArmStats",
    "ColourWindow",
    "Decision",
    "ExperimentDecision",
    "LatencyDistribution",
    "LatencyEvidence",
    "MetricEvidence",
    "Outcome",
    "RelativeGate",
    "SequentialTest",
    "latency_refusal",
    "unmeasured",
]
