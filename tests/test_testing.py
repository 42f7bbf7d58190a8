"""policyc.testing: every strategy gives valid values, and claims_for reaches each rule's edges."""

from __future__ import annotations

import datetime
import random
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import Phase, find, given, settings
from hypothesis import strategies as st

import policyc
from policyc import ir, reference, testing
from policyc.claims import Claim, parse_claim
from policyc.compiler import to_ir
from policyc.source import SourceFile

REPO = Path(__file__).resolve().parent.parent
# The seed policies of the six rule kinds (policies/cms binds national tables).
SEED_PATHS = ("policies/payer", "policies/medicaid")
SEED = reference.load(*SEED_PATHS)


def budget(examples: int) -> settings:
    """`examples` at the ci profile (150 examples a test), scaled up with the profile in use."""
    return settings(max_examples=max(5, settings().max_examples * examples // 150))


def valid(claim: dict[str, Any]) -> Claim:
    parsed = parse_claim(claim)
    assert isinstance(parsed, Claim), parsed
    return parsed


def reached(strategy: st.SearchStrategy[dict[str, Any]], condition: Callable[[dict[str, Any]], bool]) -> None:
    """Hypothesis finds a value of `strategy` meeting `condition` (seeded, so a miss is no fluke; not shrunk)."""
    quick = settings(max_examples=1000, database=None, phases=[Phase.generate])
    find(strategy, condition, settings=quick, random=random.Random(0))


# ---------------------------------------------------------------- valid by construction


@budget(20)
@given(claim=testing.claims())
def test_claims_are_valid(claim: dict[str, Any]) -> None:
    parsed = valid(claim)
    assert len({line.line for line in parsed.lines}) == len(parsed.lines)


@budget(20)
@given(text=testing.policies())
def test_policies_compile(text: str) -> None:
    policy = policyc.compile_text(text, "gen.pol")
    assert policy.rules


@pytest.mark.parametrize("kind", testing.RULE_KINDS)
def test_policies_of_one_kind(kind: str) -> None:
    @budget(5)
    @given(text=testing.policies(kinds=(kind,)))
    def only(text: str) -> None:
        assert {rule.kind for rule in policyc.compile_text(text, "gen.pol").rules} == {kind}

    only()


@budget(20)
@given(claim=testing.claims_for(SEED))
def test_claims_for_the_seed_policies_are_valid(claim: dict[str, Any]) -> None:
    valid(claim)


@budget(15)
@given(data=st.data(), text=testing.policies())
def test_claims_for_any_policy_are_valid(data: st.DataObject, text: str) -> None:
    policy = to_ir(SourceFile("gen.pol", text))
    valid(data.draw(testing.claims_for([policy])))


# ---------------------------------------------------------------- claims_for reaches the edges

MUE = next(p for p in SEED.policies if p.id == "medicaid-mue-2026q1")
HOME = next(p for p in SEED.policies if p.id == "home-infusion")


@pytest.mark.parametrize("total", [4, 5])
def test_units_at_the_cap_and_one_over_split_over_lines(total: int) -> None:
    """Some Medicaid day of the quarter holds 99601 lines adding up to exactly 4 (and to 5) units."""

    def hit(claim: dict[str, Any]) -> bool:
        days: dict[str, list[int]] = {}
        for line in claim["lines"]:
            if line["code"] == "99601" and "2026-01-01" <= line["date"] <= "2026-03-31":
                days.setdefault(line["date"], []).append(line["units"])
        return claim["plan"] == "medicaid" and any(len(u) >= 2 and sum(u) == total for u in days.values())

    reached(testing.claims_for([MUE]), hit)


@pytest.mark.parametrize("case", ["alone", "with its primary", "with its primary denied"])
def test_addon_alone_with_and_with_a_denied_primary(case: str) -> None:
    def hit(claim: dict[str, Any]) -> bool:
        result = {line.line: line for line in SEED.check(claim).lines}
        addons = [line for line in claim["lines"] if line["code"] == "99602"]
        primaries = [line for line in claim["lines"] if line["code"] == "99601"]
        if not addons or claim["plan"] == testing.OUT_OF_SCOPE_PLAN:
            return False
        if case == "alone":
            return not primaries
        denied = [p for p in primaries if result[p["line"]].status == "denied" and p["date"] == addons[0]["date"]]
        return bool(primaries) and (bool(denied) if case == "with its primary denied" else not denied)

    reached(testing.claims_for(SEED), hit)


@pytest.mark.parametrize("carried", [(), ("SH",), ("SJ",), ("SH", "SJ")])
def test_every_rank_class_of_a_sequence(carried: tuple[str, ...]) -> None:
    per_diem = next(s.expr.members for s in HOME.code_sets if s.name == "per_diem")

    def hit(claim: dict[str, Any]) -> bool:
        lines = [line for line in claim["lines"] if line["code"] in per_diem]
        return len(lines) >= 2 and any(set(line["modifiers"]) & {"SH", "SJ"} == set(carried) for line in lines)

    reached(testing.claims_for(SEED), hit)


@pytest.mark.parametrize("with_per_diem", [True, False])
def test_bundled_code_with_and_without_its_per_diem(with_per_diem: bool) -> None:
    sets = {s.name: s.expr.members for s in HOME.code_sets}

    def hit(claim: dict[str, Any]) -> bool:
        codes = {line["code"] for line in claim["lines"]}
        return bool(codes & sets["in_per_diem"]) and bool(codes & sets["per_diem"]) == with_per_diem

    reached(testing.claims_for(SEED), hit)


@pytest.mark.parametrize("day", ["2025-12-31", "2026-01-01", "2026-03-31", "2026-04-01", "2024-10-06"])
def test_dates_on_each_side_of_every_boundary(day: str) -> None:
    reached(testing.claims_for(SEED), lambda claim: any(line["date"] == day for line in claim["lines"]))


@pytest.mark.parametrize("plan", ["medicaid", testing.OUT_OF_SCOPE_PLAN])
def test_plans_in_and_out_of_scope(plan: str) -> None:
    reached(testing.claims_for([MUE]), lambda claim: claim["plan"] == plan)


def test_when_values_and_ages_either_side_of_a_bound() -> None:
    policy = to_ir(SourceFile("w.pol", "policy w\n  plans all\n  effective 2025-01-01\n"
                              'rule r: when member.age < 18 and line.place_of_service = "12" review "minor"\n'))
    ages = set()

    def hit(claim: dict[str, Any]) -> bool:
        parsed = valid(claim)
        if parsed.member_birth_date is None or claim["lines"][0].get("place_of_service") != "12":
            return False
        born, on = parsed.member_birth_date, parsed.lines[0].date
        ages.add(on.year - born.year - ((on.month, on.day) < (born.month, born.day)))
        return {17, 18} <= ages

    reached(testing.claims_for([policy]), hit)


# ---------------------------------------------------------------- where the rules come from


def test_claims_for_a_compiled_engine_reads_its_files_again() -> None:
    irs = testing.policy_irs(policyc.load(*SEED_PATHS))
    assert [p.id for p in irs] == [p.id for p in SEED.policies]
    assert all(isinstance(p, ir.PolicyIR) for p in irs)


def test_claims_for_an_engine_without_files_says_what_to_do() -> None:
    engine = policyc.Engine([policyc.compile_text(HOME_TEXT, "<policy>")])
    with pytest.raises(ValueError, match="policyc.reference.load"):
        testing.claims_for(engine)


HOME_TEXT = (REPO / "policies/payer/home-infusion.pol").read_text(encoding="utf-8")


def test_a_qa_engineers_own_test_file(tmp_path: Path) -> None:
    """The docs/testing.md example, run by pytest from outside the project."""
    test_file = tmp_path / "test_my_policies.py"
    test_file.write_text(textwrap.dedent(f"""
        from hypothesis import given, settings
        import policyc, policyc.testing

        ENGINE = policyc.load({str(REPO / "policies")!r})

        @settings(max_examples=30)
        @given(policyc.testing.claims_for(ENGINE))
        def test_every_aimed_claim_is_processed(claim):
            assert ENGINE.check(claim).status == "processed"

        @settings(max_examples=10)
        @given(policyc.testing.policies(kinds=("limit",)), policyc.testing.claims())
        def test_any_limit_policy_checks_any_claim(text, claim):
            engine = policyc.Engine([policyc.compile_text(text, "mine.pol")])
            assert len(engine.check(claim).lines) == len(claim["lines"])
    """), encoding="utf-8")
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(test_file)],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "2 passed" in run.stdout


def test_boundary_days_are_real_dates() -> None:
    assert all(isinstance(day, datetime.date) for day in testing.DATES)
