"""Bind the shared registry fixtures (tests/model/fixtures.py) for this package."""

from tests.model import fixtures

home = fixtures.home
outputs = fixtures.outputs
client = fixtures.client
data = fixtures.data
holdout = fixtures.holdout
good_model = fixtures.good_model
worse_model = fixtures.worse_model
