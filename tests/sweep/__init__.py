"""Tests for `ml sweep`: spec, cost, pruners, the local backend and the CLI."""
