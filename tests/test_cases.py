"""Case files (claim in, expected line statuses and adjustment codes out), run against every engine."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import policyc
import policyc.reference

CASES_DIR = Path(__file__).parent / "cases"


# Every engine the language has: the compiled one, and the reference interpreter it is tested against.
ENGINES: dict[str, Callable[..., Any]] = {"compiled": policyc.load, "reference": policyc.reference.load}


def load_cases() -> list[Any]:
    params = []
    for path in sorted(CASES_DIR.glob("*.json")):
        document = json.loads(path.read_text(encoding="utf-8"))
        for index, case in enumerate(document["cases"]):
            claim = {"claim_id": f"{path.stem}-{index}", **document["defaults"], **case["claim"]}
            params.append(pytest.param(document["policies"], claim, case["want"], id=f"{path.stem}: {case['note']}"))
    return params


def verdict(line: policyc.LineResult) -> str:
    """`denied CO-107 CO-151`: the status, then each finding's adjustment (or `review`), sorted."""
    codes = sorted(f.adjustment or "review" for f in line.findings)
    return " ".join([line.status, *codes])


@pytest.mark.parametrize("engine_name", sorted(ENGINES))
@pytest.mark.parametrize(("policies", "claim", "want"), load_cases())
def test_case(engine_name: str, policies: list[str], claim: dict[str, Any], want: dict[str, str]) -> None:
    engine = ENGINES[engine_name](*policies)
    result = engine.check(claim)
    assert result.status == "processed", result.errors
    got = {str(line.line): verdict(line) for line in result.lines}
    assert got == want
