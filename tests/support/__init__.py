"""Helpers the test modules share: plain functions, constants and classes, plus fixtures that
tests/conftest.py registers through `pytest_plugins` (no test module imports another)."""
