"""Shared fixtures; hypothesis profiles "dev" (default), "ci" (CI=true) and "soak"
(HYPOTHESIS_PROFILE=soak, what `make soak` uses)."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

import csrules

settings.register_profile("dev", max_examples=150, deadline=None)
settings.register_profile("ci", max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile(
    "soak", max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev"))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-golden", action="store_true", help="rewrite golden snapshots")


@pytest.fixture(scope="session")
def engine() -> csrules.Engine:
    return csrules.load()
