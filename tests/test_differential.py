"""The compiled engine and the reference interpreter agree, finding by finding, on generated policies and claims.

CI runs these at the `ci` profile's budget; docs/testing.md shows how to run them for an hour.
"""

from __future__ import annotations

import functools
import random
from typing import Any

import pytest
from hypothesis import Phase, example, find, given, settings
from hypothesis import strategies as st

import policyc
from policyc import codegen, reference, testing
from policyc.compiler import load_python, to_ir
from policyc.results import ClaimResult
from policyc.source import SourceFile

Case = tuple[tuple[str, ...], dict[str, Any]]


def budget(examples: int) -> settings:
    """`examples` at the ci profile (150 examples a test), scaled up with the profile in use (long: 5000)."""
    return settings(max_examples=max(5, settings().max_examples * examples // 150))


@functools.lru_cache(maxsize=256)
def engines(texts: tuple[str, ...]) -> tuple[policyc.Engine, reference.ReferenceEngine]:
    """Both engines for policy texts, from one parse each (cached: Hypothesis replays texts while shrinking)."""
    irs = [to_ir(SourceFile(f"gen{index}.pol", text)) for index, text in enumerate(texts)]
    return policyc.Engine([load_python(codegen.generate(p), p) for p in irs]), reference.ReferenceEngine(irs)


def differences(compiled: ClaimResult, reference: ClaimResult) -> list[str]:
    """Every way two results differ, line by line and finding by finding (allowed units included)."""
    if compiled.to_dict() == reference.to_dict() and compiled == reference:
        found = [
            f"line {a.line}: {x.rule} allows {x.allowed_units} units, reference {y.allowed_units}"
            for a, b in zip(compiled.lines, reference.lines, strict=True)
            for x, y in zip(a.findings, b.findings, strict=True)
            if x.allowed_units != y.allowed_units
        ]
        return found
    if compiled.status != reference.status or len(compiled.lines) != len(reference.lines):
        return [f"compiled {compiled.to_dict()}", f"reference {reference.to_dict()}"]
    return [
        f"line {a.line}:\n  compiled  {a.to_dict()}\n  reference {b.to_dict()}"
        for a, b in zip(compiled.lines, reference.lines, strict=True)
        if a != b or a.to_dict() != b.to_dict()
    ]


def assert_agree(texts: tuple[str, ...], claim: dict[str, Any]) -> None:
    compiled, interpreter = engines(texts)
    got, want = compiled.check(claim), interpreter.check(claim)
    assert got.status == "processed", got.to_dict()
    assert not differences(got, want), "\n".join(differences(got, want))


@st.composite
def aimed_cases(draw: st.DrawFn, count: int = 1) -> Case:
    """`count` generated policies (own ids) and a claim aimed at their rules."""
    texts = tuple(draw(testing.policies(policy_id=f"gen{index}")) for index in range(count))
    return texts, draw(testing.claims_for(engines(texts)[1]))


# A cycle of add-ons where one line is also denied by a cap: the cap's denial must break the cycle.
CYCLE = (
    "policy gen0\n  plans all\n  effective 2025-01-01\n\n"
    "rule a: addon 0836T requires 88177 on the same claim deny CO-107 N122\n"
    "rule b: addon 88177 requires 0836T on the same claim deny CO-107 N122\n"
    "rule c: limit 88177 to 1 unit per line deny CO-151\n",
)
# A cut back filling lines in line-number order, listed out of order on the claim.
CUT_BACK = (
    "policy gen0\n  plans all\n  effective 2025-01-01\n\n"
    "rule c \"cap\": limit 99601, 99602 to 4 units per day by the same rendering provider cut back CO-151\n"
    "rule a: addon 99602 requires 99601 on the same day deny CO-107\n",
)


def _claim(*lines: tuple[int, str, int, list[str]]) -> dict[str, Any]:
    return {
        "claim_id": "pinned", "plan": "commercial", "member_id": "M-1", "billing_provider": "1234567893",
        "lines": [{"line": n, "code": c, "units": u, "modifiers": m, "date": "2025-03-02"} for n, c, u, m in lines],
    }


# Shrunk by Hypothesis on 2026-12-02: a claim-wide sequence whose rank holds lines of two dates; the reference
# named the first line's date, the engine the earliest.
CLAIM_WIDE_SEQUENCE = (
    "policy gen0\n  plans     all\n  effective 2024-10-06\n\n"
    "rule r2:\n  sequence 99601 on the same claim:\n    1st without SH, SJ\n  deny CO-4 N519\n",
)
TWO_DAYS = {
    "claim_id": "C-1", "plan": "commercial", "member_id": "M-1", "billing_provider": "1234567893",
    "lines": [
        {"line": 1, "code": "99601", "modifiers": [], "units": 1, "date": "2024-10-07"},
        {"line": 2, "code": "99601", "modifiers": [], "units": 1, "date": "2024-10-06"},
        {"line": 3, "code": "99601", "modifiers": ["SH"], "units": 1, "date": "2024-10-06"},
    ],
}


@example(case=(CYCLE, _claim((1, "0836T", 1, []), (2, "88177", 2, []))))
@example(case=(CYCLE, _claim((1, "0836T", 1, []), (2, "88177", 1, []))))
@example(case=(CUT_BACK, _claim((7, "99602", 3, []), (2, "99601", 3, []))))
@example(case=(CUT_BACK, _claim((7, "99601", 3, []), (2, "99601", 3, []), (3, "99602", 1, []))))
@example(case=(CLAIM_WIDE_SEQUENCE, TWO_DAYS))
@budget(30)
@given(case=aimed_cases())
def test_engines_agree_on_claims_aimed_at_a_generated_policy(case: Case) -> None:
    """For a generated policy of every rule kind, claims near its rules' edges get identical results."""
    assert_agree(*case)


@budget(15)
@given(case=aimed_cases(count=2))
def test_engines_agree_across_two_policies(case: Case) -> None:
    """Two policies adjudicate together: one's denial can cascade into the other's add-on, in both engines."""
    assert_agree(*case)


@budget(15)
@given(texts=st.tuples(testing.policies()), claim=testing.claims())
def test_engines_agree_on_arbitrary_claims(texts: tuple[str, ...], claim: dict[str, Any]) -> None:
    """Claims not aimed at the policy (codes, plans and dates from the shared vocabulary) agree too."""
    assert_agree(texts, claim)


# The seed policies of the six written rule kinds; the table policies are compared in test_reference.py.
SEED = ("policies/payer", "policies/medicaid")
SEED_COMPILED, SEED_REFERENCE = policyc.load(*SEED), reference.load(*SEED)


@budget(40)
@given(claim=testing.claims_for(SEED_REFERENCE))
def test_engines_agree_on_the_seed_policies(claim: dict[str, Any]) -> None:
    """The seed policies, loaded by `policyc.load` and `policyc.reference.load`, on claims aimed at their rules."""
    got, want = SEED_COMPILED.check(claim), SEED_REFERENCE.check(claim)
    assert not differences(got, want), "\n".join(differences(got, want))


# ---------------------------------------------------------------- the comparison finds a planted bug


def planted(texts: tuple[str, ...], old: str, new: str) -> policyc.Engine:
    """A compiled engine whose generated module was edited: `old` replaced by `new` once."""
    irs = [to_ir(SourceFile(f"gen{index}.pol", text)) for index, text in enumerate(texts)]
    sources = [codegen.generate(p) for p in irs]
    assert any(old in source for source in sources), old
    return policyc.Engine([load_python(s.replace(old, new, 1), p) for s, p in zip(sources, irs, strict=True)])


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("if total > 4:", "if total > 5:"),  # a cap off by one
        ("if line.code in R1_PRIMARIES and line.line in standing:", "if line.code in R1_PRIMARIES:"),
    ],
)
def test_aimed_claims_find_a_planted_disagreement(old: str, new: str) -> None:
    """claims_for finds, within a small budget, a claim on which an altered compiled module disagrees."""
    texts = (
        "policy gen0\n  plans medicaid\n  effective 2026-01-01\n\n"
        "rule a: addon 99602 requires 99601 on the same day by the same provider deny CO-107 N122\n"
        "rule m: limit 99601 to 4 units per day by the same provider deny CO-151 N362\n",
    )
    altered, interpreter = planted(texts, old, new), engines(texts)[1]

    def disagrees(claim: dict[str, Any]) -> bool:
        return bool(differences(altered.check(claim), interpreter.check(claim)))

    quick = settings(max_examples=500, database=None, phases=[Phase.generate])
    assert disagrees(find(testing.claims_for(interpreter), disagrees, settings=quick, random=random.Random(0)))
