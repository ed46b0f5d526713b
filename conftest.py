"""Fixtures for tests/ and for the policy tests that sit beside each policy in policies/."""

import pytest

pytest_plugins = ["fkguard_testing.fixtures"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # A test that drives the real pulumi CLI takes a project copy (the `project` fixture, directly or
    # through another fixture): that, not a hand-kept list, is what makes it end-to-end.
    for item in items:
        if "project" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.e2e)
