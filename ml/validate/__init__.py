"""Offline validation of a registered model before any traffic moves: `ValidationSpec`, `validate`.

Why a package of its own: the check needs only the registry and an evaluation data set, so every
rollout target (local, Azure, SageMaker, Kubernetes) runs the same code before it creates
anything, and `ml model card` reads the same records back.
"""

from ml.validate.spec import Comparison, SliceCheck, ValidationSpec

__all__ = ["Comparison", "SliceCheck", "ValidationSpec"]
