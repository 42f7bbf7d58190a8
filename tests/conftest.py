"""Shared fixtures: the repository's paths, the seed policies' engine and the golden-file switch."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

import policyc

REPO = Path(__file__).resolve().parent.parent
POLICIES = REPO / "policies"
EXAMPLES = REPO / "examples"
GOLDEN = Path(__file__).resolve().parent / "golden"

# CI runs the properties at a fixed, modest budget; `HYPOTHESIS_PROFILE=long` digs deeper on demand.
settings.register_profile("ci", max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("long", max_examples=5000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# Findings and diagnostics name policy files relative to the working directory, so every test runs from
# the repository root and golden files hold the same paths wherever pytest was started.
os.chdir(REPO)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden", action="store_true", default=False,
        help="rewrite the golden files under tests/golden from the current output instead of comparing",
    )


@pytest.fixture(scope="session")
def seed_engine() -> policyc.Engine:
    """The engine for every policy under policies/."""
    return policyc.load(POLICIES)


@pytest.fixture
def golden(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    """Compare text with a golden file, or rewrite the file when --update-golden is given."""
    update = request.config.getoption("--update-golden")

    def check(relative: str, actual: str) -> None:
        path = GOLDEN / relative
        if update:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(actual, encoding="utf-8")
            return
        assert path.exists(), f"missing golden file {path}; run pytest --update-golden to create it"
        assert actual == path.read_text(encoding="utf-8"), f"output differs from {path}"

    return check
