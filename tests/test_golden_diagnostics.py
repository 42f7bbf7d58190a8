"""Golden diagnostics: each broken policy in tests/golden/diagnostics prints exactly its stored error text."""

from __future__ import annotations

from pathlib import Path

import pytest

from policyc.compiler import compile_source, read_source
from policyc.diagnostics import PolicyError

# Relative to the repository root (conftest makes it the working directory), so the paths printed are stable.
CASES = Path("tests/golden/diagnostics")
POLICIES = sorted(CASES.glob("*.pol"))


def test_there_are_enough_cases() -> None:
    assert len(POLICIES) >= 8


@pytest.mark.parametrize("path", POLICIES, ids=[p.stem for p in POLICIES])
def test_rendered_error(path: Path, golden) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(PolicyError) as raised:
        compile_source(read_source(path.as_posix()))
    text = raised.value.render()
    assert text.startswith(f"{path.as_posix()}:")
    golden(f"diagnostics/{path.stem}.txt", text + "\n")
