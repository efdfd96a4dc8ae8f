"""`ml monitor`: what a served model sees against what it was trained on, and the retrain loop.

Modules, each with one job: `formats` (each cloud's capture -> `ml.contract.capture.CaptureRecord`),
`sources` (where a stack's capture is; local files, S3, Azure blob), `reference` (the training
distribution kept with a model version in MLflow), `drift` (the statistical tests and the
dataset-level decision), `labels` (the live metric), `core` (one window's verdict), `report`
(table, PNG, HTML), `retrain` (drift -> sweep -> challenger), `cli`.
"""
