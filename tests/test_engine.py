"""The engine: dispatch by code, rule kinds beyond the seed policies, add-on settling and rule dates."""

from __future__ import annotations

from typing import Any

import pytest

import policyc
from policyc.engine import Engine, PlanIndex

HEADER = """
policy p "test policy"
  plans all
  effective 2025-01-01
"""


def engine_for(body: str, header: str = HEADER) -> Engine:
    return Engine([policyc.compile_text(header + body, "p.pol")])


def claim(*lines: str, **fields: Any) -> dict[str, Any]:
    """A claim from line specs such as `99601 x2 SH 2025-03-02` (date defaults to 2025-03-02)."""
    built = []
    for number, spec in enumerate(lines, start=1):
        code, *rest = spec.split()
        line: dict[str, Any] = {"line": number, "code": code, "units": 1, "date": "2025-03-02", "modifiers": []}
        for part in rest:
            if part.startswith("x"):
                line["units"] = int(part[1:])
            elif part.startswith("r="):
                line["rendering_provider"] = part[2:]
            elif "-" in part:
                line["date"] = part
            else:
                line["modifiers"].append(part)
        built.append(line)
    base = {"claim_id": "C", "plan": "commercial", "member_id": "M", "billing_provider": "1234567893"}
    return {**base, **fields, "lines": built}


def statuses(engine: Engine, data: dict[str, Any]) -> list[str]:
    result = engine.check(data)
    assert result.status == "processed", result.errors
    return [line.status for line in result.lines]


# ---------------------------------------------------------------- pair


PAIR = """
rule ptp "36591 is included in 99601":
  pair 99601 with 36591 on the same day by the same provider unless modifier 59 or XU
  deny CO-97 M80
"""


@pytest.mark.parametrize(
    ("lines", "want"),
    [
        (("99601", "36591"), ["paid", "denied"]),
        (("36591",), ["paid"]),
        (("99601", "36591 59"), ["paid", "paid"]),
        (("99601 XU", "36591"), ["paid", "paid"]),
        (("99601", "36591 25"), ["paid", "denied"]),
        (("99601 2025-03-01", "36591"), ["paid", "paid"]),
    ],
)
def test_pair_denies_column_two_unless_bypassed(lines: tuple[str, ...], want: list[str]) -> None:
    assert statuses(engine_for(PAIR), claim(*lines)) == want


def test_pair_without_bypass_clause_is_never_bypassed() -> None:
    engine = engine_for("rule ptp: pair 99601 with 36591 on the same day deny CO-236")
    assert statuses(engine, claim("99601 59", "36591 59")) == ["paid", "denied"]


# ---------------------------------------------------------------- limits


def test_per_line_limit_judges_each_line_alone() -> None:
    engine = engine_for("rule cap: limit J3370 to 12 units per line deny CO-151 N362")
    assert statuses(engine, claim("J3370 x12", "J3370 x13", "J3370 x12")) == ["paid", "denied", "paid"]


def test_per_line_cut_back_reduces_to_the_cap() -> None:
    engine = engine_for("rule cap: limit J3370 to 12 units per line cut back CO-151 N362")
    line = engine.check(claim("J3370 x15")).lines[0]
    assert (line.status, line.allowed_units) == ("reduced", 12)


def test_per_day_cut_back_fills_lines_in_line_number_order() -> None:
    engine = engine_for("rule cap: limit 99601 to 4 units per day cut back CO-151 N362")
    result = engine.check(claim("99601 x3", "99601 x3", "99601 x3"))
    assert [(l.status, l.allowed_units) for l in result.lines] == [("paid", 3), ("reduced", 1), ("reduced", 0)]


def test_a_line_cut_back_to_nothing_does_not_support_an_add_on() -> None:
    engine = engine_for(
        "rule cap: limit 99601 to 0 units per day cut back CO-151\n"
        "rule add: addon 99602 requires 99601 on the same day deny CO-107 N122"
    )
    assert statuses(engine, claim("99601", "99602")) == ["reduced", "denied"]


def test_limit_of_zero_denies_any_unit() -> None:
    engine = engine_for("rule mue: limit 99601 to 0 units per day by the same provider deny CO-151 N362")
    assert statuses(engine, claim("99601")) == ["denied"]


def test_limit_over_a_set_sums_every_code_of_it() -> None:
    engine = engine_for("rule cap: limit 99601, 99602 to 3 units per day deny CO-119 N640")
    assert statuses(engine, claim("99601 x2", "99602 x2", "99601 x1 2025-03-03")) == ["denied", "denied", "paid"]


def test_per_claim_limit_sums_over_dates() -> None:
    engine = engine_for("rule cap: limit 99601 to 3 units per claim deny CO-119 N640")
    assert statuses(engine, claim("99601 x2", "99601 x2 2025-03-03")) == ["denied", "denied"]


def test_rendering_provider_scope_keeps_providers_apart() -> None:
    engine = engine_for("rule cap: limit 99601 to 2 units per day by the same rendering provider deny CO-151")
    assert statuses(engine, claim("99601 x2 r=1111111111", "99601 x2 r=2222222222")) == ["paid", "paid"]
    assert statuses(engine, claim("99601 x2 r=1111111111", "99601 x1 r=1111111111")) == ["denied", "denied"]


# ---------------------------------------------------------------- add-ons


def test_add_ons_supporting_each_other_in_a_cycle_stand_together() -> None:
    engine = engine_for(
        "rule a: addon 0836T requires 88177 on the same day deny CO-107 N122\n"
        "rule b: addon 88177 requires 0836T on the same day deny CO-107 N122"
    )
    assert statuses(engine, claim("0836T", "88177")) == ["paid", "paid"]
    assert statuses(engine, claim("0836T")) == ["denied"]


def test_a_cycle_falls_when_another_rule_denies_one_of_it() -> None:
    engine = engine_for(
        "rule a: addon 0836T requires 88177 on the same day deny CO-107 N122\n"
        "rule b: addon 88177 requires 0836T on the same day deny CO-107 N122\n"
        "rule cap: limit 88177 to 1 units per day deny CO-151 N362"
    )
    assert statuses(engine, claim("0836T", "88177 x2")) == ["denied", "denied"]


def test_add_on_chains_cascade() -> None:
    engine = engine_for(
        "rule b: addon 99602 requires 99601 on the same day deny CO-107 N122\n"
        "rule c: addon 99603 requires 99602 on the same day deny CO-107 N122\n"
        "rule x: when line has modifier GY deny CO-4 N519"
    )
    assert statuses(engine, claim("99601", "99602", "99603")) == ["paid", "paid", "paid"]
    assert statuses(engine, claim("99601 GY", "99602", "99603")) == ["denied", "denied", "denied"]


def test_an_add_on_line_does_not_support_itself() -> None:
    engine = engine_for("rule a: addon 99601, 99602 requires 99601, 99602 on the same day deny CO-107")
    assert statuses(engine, claim("99601")) == ["denied"]
    assert statuses(engine, claim("99601", "99602")) == ["paid", "paid"]


# ---------------------------------------------------------------- when and review


@pytest.mark.parametrize(
    ("condition", "fields", "line", "fires"),
    [
        ("member.age < 18", {"member_birth_date": "2010-03-03"}, "99601", True),
        ("member.age < 18", {"member_birth_date": "2007-03-02"}, "99601", False),
        ("member.age < 18", {}, "99601", False),
        ('member.sex = "F"', {"member_sex": "F"}, "99601", True),
        ('claim.place_of_service in ("12", "49")', {"place_of_service": "49"}, "99601", True),
        ('claim.place_of_service not in ("12", "49")', {"place_of_service": "11"}, "99601", True),
        ('claim.place_of_service not in ("12", "49")', {}, "99601", False),
        ("claim has diagnosis Z45.2", {"diagnoses": ["Z452"]}, "99601", True),
        ("claim has diagnosis Z45.2 or Z95.828", {"diagnoses": ["I10"]}, "99601", False),
        ("line.units >= 3", {}, "99601 x3", True),
        ("line.date > 2025-03-01 and line.code in 99601..99602", {}, "99602", True),
        ("not line.code in 99601", {}, "99602", True),
        ('(line has modifier SH) or claim.plan = "medicaid"', {"plan": "medicaid"}, "99601", True),
    ],
)
def test_when_conditions(condition: str, fields: dict[str, Any], line: str, fires: bool) -> None:
    engine = engine_for(f'rule w: when {condition} review "check by hand"')
    result = engine.check(claim(line, **fields))
    assert (result.lines[0].status == "review") is fires


def test_review_findings_carry_the_reason_and_no_denial_codes() -> None:
    engine = engine_for('rule w: when line.units > 2 review "more than two units"')
    finding = engine.check(claim("99601 x3")).lines[0].findings[0]
    assert (finding.action, finding.group, finding.carc) == ("review", None, None)
    assert finding.message.startswith("more than two units")


# ---------------------------------------------------------------- dates, plans and dispatch


def test_rule_dates_narrow_the_policy_dates() -> None:
    engine = engine_for(
        "rule late: limit 99601 to 1 units per day deny CO-151\n  effective 2025-06-01 until 2025-06-30"
    )
    assert statuses(engine, claim("99601 x2 2025-05-31")) == ["paid"]
    assert statuses(engine, claim("99601 x2 2025-06-01")) == ["denied"]
    assert statuses(engine, claim("99601 x2 2025-06-30")) == ["denied"]
    assert statuses(engine, claim("99601 x2 2025-07-01")) == ["paid"]


def test_policy_plans_select_claims() -> None:
    header = HEADER.replace("plans all", "plans medicaid, chip")
    engine = engine_for("rule cap: limit 99601 to 1 units per day deny CO-151", header)
    assert statuses(engine, claim("99601 x2", plan="chip")) == ["denied"]
    assert statuses(engine, claim("99601 x2", plan="commercial")) == ["paid"]


def test_dispatch_hands_a_rule_only_the_lines_it_names() -> None:
    engine = engine_for(
        "rule cap: limit 99601 to 1 units per day deny CO-151\n"
        "rule w: when line has modifier SH deny CO-4 N519\n"
        'rule any: when line.units > 100 review "odd"'
    )
    index = engine.index_for("commercial")
    parsed = policyc.parse_claim(claim("99601", "S9500 SH", "J3370"))
    assert isinstance(parsed, policyc.Claim)
    buckets = {rule.id: [line.line for line in lines] for rule, lines in index.buckets(parsed.lines).items()}
    assert buckets == {"cap": [1], "w": [2], "any": [1, 2, 3]}


def test_index_size_grows_with_codes_not_with_the_claim() -> None:
    engine = engine_for("".join(f"rule r{i}: limit J{i:04d} to 1 units per line deny CO-151\n" for i in range(500)))
    index = engine.index_for("commercial")
    assert isinstance(index, PlanIndex)
    assert len(index.by_code) == 500 and not index.every_line
    parsed = policyc.parse_claim(claim("J0007 x2", "99601"))
    assert isinstance(parsed, policyc.Claim)
    assert [rule.id for rule in index.buckets(parsed.lines)] == ["r7"]
