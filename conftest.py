"""Fixtures for tests/ and for the policy tests that sit beside each policy in policies/."""

pytest_plugins = ["tests.fixtures"]
