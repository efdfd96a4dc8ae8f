"""Rollouts: one typed spec (`spec`), one engine (`engine`) and a small target interface (`target`).

Why this split: a rollout is the same sequence of decisions on every platform (create the new
colour, wait until it is healthy, move traffic step by step, judge gates, promote or roll back);
only the calls that move traffic differ. Those calls are the `DeploymentTarget` interface, which
each platform (local router, Azure managed online endpoint, SageMaker endpoint, Kubernetes route)
implements in ``ml/deploy/targets/<name>.py``.
"""
