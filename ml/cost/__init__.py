"""Cost: one price table (prices.py: training and Azure VMs; hosting.py: SageMaker hosting, EC2, pods;
services.py: registries, tracking servers, keys, logs, storage) shared by sweeps' worst-case checks and
`ml plan`'s estimates (estimate.py, rules.py, model.py, assumptions.py)."""
