"""Bind the shared registry fixtures (tests/model/fixtures.py) for this package."""

from tests.model import fixtures

fixtures.bind(globals())
