"""`ml model`: the registry verbs a user of a model registry expects, approvals and model cards.

Why a package apart from `ml.deploy`: listing, comparing, approving and documenting versions need
only the registry (and the audit log for history); a rollout uses these (approval check, card at
promotion) but nothing here starts a deployment.
"""
