"""The engine: dispatch by code, what table rules are handed, rule kinds beyond the seed policies, add-on settling."""

from __future__ import annotations

import pickle
import types
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import event, example, given, settings
from hypothesis import strategies as st

import policyc
from policyc.claims import Claim
from policyc.engine import Engine, PlanIndex, add_prior_lines, addon_primaries, judge, settle_addons
from policyc.history import PriorLine
from policyc.results import ClaimResult
from policyc.runtime import CompiledRule, Verdict

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


def parsed(data: dict[str, Any]) -> Claim:
    claim_ = policyc.parse_claim(data)
    assert isinstance(claim_, Claim)
    return claim_


def statuses(engine: Engine, data: dict[str, Any]) -> list[str]:
    result = engine.check(data)
    assert result.status == "processed", result.errors
    return [line.status for line in result.lines]


@pytest.fixture(autouse=True)
def _no_table_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the tables these tests write out of the user's cache folder ("" turns the disk cache off)."""
    monkeypatch.setenv("POLICYC_CACHE_DIR", "")


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


# ---------------------------------------------------------------- table rules: what the engine hands them

TABLES = {
    "mue.csv": "hcpcs_code,mue_value,mai,mue_rationale\n99601,1,3,x\n",
    # A chain: 99603 needs 99602, which needs 99601; or S9500 will do for 99603.
    "aoc.csv": "add_on_code,primary_code,aoc_edit_type\n99602,99601,1\n99603,99602,1\n99603,S9500,1\n",
    "ptp.csv": (
        "setting,column_1,column_2,deletion_date,modifier_indicator,ptp_edit_rationale\n"
        "practitioner,96365,96360,9999-12-31,0,x\n"
    ),
}
MUE_RULE = 'rule mue: mue table "mue.csv" by the same provider deny CO-151 N362\n'
AOC_RULE = 'rule aoc: addon table "aoc.csv" on the same day by the same provider deny CO-107 N122\n'
PTP_RULE = 'rule ptp: pair table "ptp.csv" setting practitioner on the same day by the same provider deny CO-236\n'
GY_RULE = "rule gy: when line has modifier GY deny CO-4 N519\n"


def table_engine(folder: Path, body: str, header: str = HEADER) -> Engine:
    """An engine for `body` beside the small tables above, written into `folder`."""
    for name, text in TABLES.items():
        (folder / name).write_text(text, encoding="utf-8")
    return Engine([policyc.compile_text(header + body, str(folder / "p.pol"))])


def line_numbers(found: dict[CompiledRule, Any]) -> dict[str, list[int]]:
    return {rule.id: [line.line for line in lines] for rule, lines in found.items()}


def work_and_buckets(engine: Engine, data: dict[str, Any]) -> tuple[dict[str, list[int]], dict[str, list[int]]]:
    claim_ = parsed(data)
    index = engine.index_for(claim_.plan)
    return line_numbers(index.work(claim_.lines)), line_numbers(index.buckets(claim_.lines))


def test_work_hands_a_table_rule_the_claims_own_lines(tmp_path: Path) -> None:
    engine = table_engine(tmp_path, MUE_RULE + AOC_RULE + PTP_RULE + GY_RULE)
    claim_ = parsed(claim("99601", "S9500", "99602 GY", "96360"))
    index = engine.index_for("commercial")
    work = index.work(claim_.lines)
    by_id = {rule.id: lines for rule, lines in work.items()}
    for table_rule in ("mue", "aoc", "ptp"):
        assert tuple(by_id[table_rule]) == claim_.lines, table_rule
    # Written rules are dispatched by code or modifier as before.
    assert [line.line for line in by_id["gy"]] == [3]
    assert line_numbers(index.buckets(claim_.lines)) == {"mue": [1], "aoc": [1, 2, 3], "ptp": [4], "gy": [3]}


@pytest.mark.parametrize(
    ("lines", "worked", "bucketed"),
    [
        (("99601",), {"mue"}, {"mue", "aoc"}),  # 99601 is only ever an add-on's primary
        (("96365",), {"mue"}, {"ptp"}),  # a column 1 code alone: nothing for the pair table to deny
        (("96365", "96360"), {"mue", "ptp"}, {"ptp"}),
        (("S9500", "99603"), {"mue", "aoc"}, {"aoc"}),
        (("S9500", "J3370"), {"mue"}, {"aoc"}),
    ],
)
def test_work_skips_a_table_rule_when_the_claim_holds_no_code_it_judges(
    tmp_path: Path, lines: tuple[str, ...], worked: set[str], bucketed: set[str]
) -> None:
    # An MUE table rule runs on every claim: a table of most codes is seldom skipped (PlanIndex.always_bits).
    engine = table_engine(tmp_path, MUE_RULE + AOC_RULE + PTP_RULE)
    work, buckets = work_and_buckets(engine, claim(*lines))
    assert (set(work), set(buckets)) == (worked, bucketed)
    index = engine.index_for("commercial")
    tables = index.tables_in_force(parsed(claim(*lines)).lines)
    assert tables is not None and {rule.id for rule in tables.rules} == worked


def test_a_claim_the_table_rules_skip_is_paid(tmp_path: Path) -> None:
    engine = table_engine(tmp_path, MUE_RULE + AOC_RULE + PTP_RULE)
    assert statuses(engine, claim("96365", "S9500", "J3370")) == ["paid", "paid", "paid"]
    assert statuses(engine, claim("96365", "S9500", "96360", "99603")) == ["paid", "paid", "denied", "paid"]


@pytest.mark.parametrize("read_first", [False, True])
def test_a_result_pickles_whether_or_not_its_lines_were_read(tmp_path: Path, read_first: bool) -> None:
    # Batches spread over processes send results back pickled, line results built or not.
    engine = table_engine(tmp_path, MUE_RULE + AOC_RULE + PTP_RULE)
    result = engine.check(claim("96365", "S9500", "96360", "99603", "99601 x9"))
    if read_first:
        assert [line.status for line in result.lines] == ["paid", "paid", "denied", "paid", "denied"]
    copy = pickle.loads(pickle.dumps(result))
    assert copy == result and copy.denials() == result.denials() == {3: {"CO-236"}, 5: {"CO-151"}}
    assert copy.to_dict() == result.to_dict()


def test_a_policy_of_one_claim_type_leaves_the_others_alone() -> None:
    base = policyc.compile_text(
        "policy base\n  plans all\n  claims professional\n  effective 2025-01-01\n"
        "rule cap: limit 99601 to 1 unit per line deny CO-151\n", "base.pol",
    )
    extending = policyc.compile_text(
        "policy ext\n  plans all\n  effective 2025-01-01\n  extends base\n"
        "rule visit-cap: limit 99602 to 1 unit per line deny CO-151\n", "ext.pol",
    )
    engine = Engine([base, extending])
    over = claim("99601 x2", "99602 x2")
    assert statuses(engine, over) == ["denied", "denied"]  # a claim without a type is professional
    assert statuses(engine, {**over, "claim_type": "professional"}) == ["denied", "denied"]
    # The base's rule applies neither directly nor through `extends`; the extending policy's own rule does.
    assert statuses(engine, {**over, "claim_type": "institutional"}) == ["paid", "denied"]
    assert engine.index_for("commercial", "institutional") is not engine.index_for("commercial")


def test_a_plan_index_that_starts_afresh_when_full_judges_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What the index remembers (rules out of force per date, table rules per set of codes) is only a shortcut.
    monkeypatch.setattr("policyc.engine.IN_FORCE_MEMORY", 1)
    engine = table_engine(tmp_path, MUE_RULE + AOC_RULE + PTP_RULE)
    for _ in range(2):
        assert statuses(engine, claim("96365", "S9500", "96360", "99603")) == ["paid", "paid", "denied", "paid"]
        assert statuses(engine, claim("99601 x9")) == ["denied"]
        assert statuses(engine, claim("96365 2025-03-03", "96360 2025-03-04")) == ["paid", "paid"]
    index = engine.index_for("commercial")
    assert len(index._rules_of_bits) == 1 and len(index._out_of_force) == 1


# ---------------------------------------------------------------- judge_directly: a claim's dates alike, no history

# Beside TABLES: MUEs of every MAI (S9500, a primary, has an MUE of 0: cut back to nothing, it stands no more);
# a PTP edit that denies a primary (99601, unless a 59 bypasses it) and so starts an add-on cascade; a second
# add-on table that only sends lines to review. The PTP rule is in force on one of the two dates, so a claim
# spanning both takes the general path.
FAST_TABLES = {
    "mue-all.csv": "hcpcs_code,mue_value,mai,mue_rationale\n99601,1,3,x\nS9500,0,2,x\nJ3370,2,1,x\n96360,1,2,x\n",
    "ptp-fast.csv": (
        "setting,column_1,column_2,deletion_date,modifier_indicator,ptp_edit_rationale\n"
        "practitioner,96365,96360,9999-12-31,0,x\npractitioner,96365,99601,9999-12-31,1,x\n"
    ),
    "aoc-look.csv": "add_on_code,primary_code,aoc_edit_type\nJ3370,96365,1\n99603,CCCCC,2\n",
}
FAST_BODY = (
    'rule mue: mue table "mue-all.csv" by the same provider cut back CO-151 N362\n'
    + AOC_RULE
    + 'rule look: addon table "aoc-look.csv" on the same day review "a J3370 without 96365"\n'
    + 'rule ptp: pair table "ptp-fast.csv" setting practitioner on the same day by the same provider deny CO-236\n'
    + "  effective 2025-03-01 until 2025-03-02\n"
)
# Written rules beside the tables: one dispatched by modifier, an add-on rule settled with the tables' (its
# primary 99601 is denied beside 96365 unless a 59 bypasses the edit), and a per-day cap.
WRITTEN_BODY = (
    GY_RULE
    + "rule visit-addon: addon J3370 requires 99601 on the same day by the same provider deny CO-107 N122\n"
    + "rule cap: limit 96360 to 2 units per day by the same provider deny CO-151 N362\n"
)


@st.composite
def table_claims(draw: st.DrawFn) -> dict[str, Any]:
    codes = ("99601", "99602", "99603", "S9500", "96365", "96360", "J3370")
    specs = draw(st.lists(
        st.tuples(st.sampled_from(codes), st.integers(1, 3), st.sampled_from(("", " 59", " GY")),
                  st.sampled_from(("2025-03-02", "2025-03-02", "2025-03-03"))),
        min_size=1, max_size=6,
    ))
    return claim(*(f"{code} x{units}{modifier} {day}" for code, units, modifier, day in specs))


@settings(max_examples=300, deadline=None)
@given(data=table_claims())
@example(data=claim("96365", "99601", "99602", "99603", "J3370"))  # a cascade: 99601 denied, then the rest
@example(data=claim("99601 x3", "99602", "99603", "S9500", "96360 59", "J3370 x3"))
def test_judge_directly_judges_as_judge_does(tmp_path_factory: pytest.TempPathFactory, data: dict[str, Any]) -> None:
    claim_ = parsed(data)
    for engine in fast_engines(tmp_path_factory):
        index = engine.index_for("commercial")
        event("judge_directly" if index.tables_in_force(claim_.lines) is not None else "judge: the dates differ")
        fast, slow = engine.check(claim_), judge(claim_, index, index.work(claim_.lines), ())
        assert fast == slow
        assert fast.to_dict() == slow.to_dict()
        assert fast.denials() == slow.denials()
        # The denials noted as rules deny are the ones the judgements hold.
        from_judgements = ClaimResult(fast.claim_id, fast.status, judged=(claim_.lines, fast._judged or {}, None))
        assert from_judgements.denials() == fast.denials()


_fast_engines: list[Engine] = []


def fast_engines(tmp_path_factory: pytest.TempPathFactory) -> list[Engine]:
    """Engines made once for every example: FAST_BODY (two add-on table rules settled together), FAST_BODY less
    its review rule (one add-on rule, `settle_one`), and FAST_BODY with written rules beside it."""
    if not _fast_engines:
        folder = tmp_path_factory.mktemp("fast")
        for name, text in FAST_TABLES.items():
            (folder / name).write_text(text, encoding="utf-8")
        one_addon_rule = "".join(line for line in FAST_BODY.splitlines(keepends=True) if "rule look" not in line)
        bodies = (FAST_BODY, one_addon_rule, FAST_BODY + WRITTEN_BODY)
        _fast_engines.extend(table_engine(folder, body) for body in bodies)
    return _fast_engines


def test_judge_directly_takes_a_claim_whose_dates_have_the_same_table_rules(tmp_path: Path) -> None:
    for name, text in FAST_TABLES.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    engine = table_engine(tmp_path, FAST_BODY)
    index = engine.index_for("commercial")
    one_day = parsed(claim("96365", "96360"))
    tables = index.tables_in_force(one_day.lines)
    assert tables is not None and {rule.id for rule in tables.rules} == {"mue", "ptp"}
    # Out of force on 2025-03-03, the PTP rule leaves the rules of that date different: the general path.
    assert index.tables_in_force(parsed(claim("96365", "96360 2025-03-03")).lines) is None
    cascade = engine.check(claim("96365", "99601", "99602", "99603"))
    assert [line.status for line in cascade.lines] == ["paid", "denied", "denied", "denied"]
    alike = index.tables_in_force(parsed(claim("99601 2025-03-03", "J3370 2025-03-03")).lines)
    assert alike is not None and {rule.id for rule in alike.rules} == {"mue", "look"}
    # Written rules take their buckets beside the tables' lines; claim history takes the general path.
    written = table_engine(tmp_path, FAST_BODY + WRITTEN_BODY)
    result = written.check(claim("99601 59", "J3370", "96360 x3 GY", "96365"))
    assert [line.status for line in result.lines] == ["paid", "paid", "denied", "paid"]
    assert result.denials() == {3: {"CO-151", "CO-4", "CO-236"}}
    result = written.check(claim("99601", "J3370", "96365"))
    assert [line.status for line in result.lines] == ["denied", "denied", "paid"]


def test_denials_of_a_result_are_a_copy(tmp_path: Path) -> None:
    engine = table_engine(tmp_path, MUE_RULE + AOC_RULE + PTP_RULE)
    result = engine.check(claim("99601 x9", "96365", "96360"))
    denied = result.denials()
    assert denied == {1: {"CO-151"}, 3: {"CO-236"}}
    denied.clear()
    assert result.denials() == {1: {"CO-151"}, 3: {"CO-236"}}


def test_a_table_rule_out_of_force_on_one_date_gets_only_the_other_dates_lines(tmp_path: Path) -> None:
    engine = table_engine(tmp_path, MUE_RULE.rstrip("\n") + "\n  effective 2025-03-01 until 2025-03-02\n" + GY_RULE)
    data = claim("99601 x2 2025-03-02", "S9500 2025-03-02", "99601 x2 2025-03-03", "J3370 GY 2025-03-03")
    work, buckets = work_and_buckets(engine, data)
    assert work == {"mue": [1, 2], "gy": [4]}
    assert buckets == {"mue": [1], "gy": [4]}
    assert statuses(engine, data) == ["denied", "paid", "paid", "denied"]
    work, _ = work_and_buckets(engine, claim("99601 x2 2025-03-03", "99601 x2 2025-03-04"))
    assert work == {}


def test_a_written_rule_out_of_force_on_one_date_keeps_to_its_codes(tmp_path: Path) -> None:
    engine = table_engine(
        tmp_path, "rule cap: limit 99601 to 1 units per day deny CO-151\n  effective 2025-03-01 until 2025-03-02\n"
    )
    work, buckets = work_and_buckets(engine, claim("99601 x2 2025-03-02", "S9500 2025-03-02", "99601 x2 2025-03-03"))
    assert work == buckets == {"cap": [1]}


# ---------------------------------------------------------------- settling add-ons: another pass when a primary fell


def every_pass(engine: Engine, data: dict[str, Any]) -> ClaimResult:
    """The claim judged with add-on settling re-run after every removal, whatever the removed line's code."""
    claim_ = parsed(data)
    index = engine.index_for(claim_.plan)
    return judge(claim_, attrs.evolve(index, primaries=None), index.work(claim_.lines), ())


def settled_statuses(engine: Engine, data: dict[str, Any]) -> list[str]:
    """The claim's statuses, checked to be those of settling with a pass after every removal."""
    result, slow = engine.check(data), every_pass(engine, data)
    assert result == slow
    assert result.to_dict() == slow.to_dict()
    return [line.status for line in result.lines]


# The rule judging 99603 is evaluated before the one that denies 99602, so 99603 falls only in a second pass.
CHAINS = {
    "table": AOC_RULE + GY_RULE,
    "written": (
        "rule c: addon 99603 requires 99602, S9500 on the same day deny CO-107 N122\n"
        "rule b: addon 99602 requires 99601 on the same day deny CO-107 N122\n" + GY_RULE
    ),
    # Written rules run before table rules: a written rule judges 99603, the table denies the 99602 it needs.
    "table-then-written": (
        "rule c: addon 99603 requires 99602, S9500 on the same day deny CO-107 N122\n"
        + AOC_RULE.replace("aoc.csv", "aoc-b.csv")
        + GY_RULE
    ),
}


@pytest.mark.parametrize("chain", sorted(CHAINS))
@pytest.mark.parametrize(
    ("lines", "want"),
    [
        (("99603", "99602", "99601"), ["paid", "paid", "paid"]),
        (("99603", "99602", "99601 GY"), ["denied", "denied", "denied"]),
        (("99603", "99602"), ["denied", "denied"]),
        (("99603", "99602", "S9500"), ["paid", "denied", "paid"]),  # 99603 keeps another primary
        (("99603", "99601 GY"), ["denied", "denied"]),
        (("99603 2025-03-03", "99602", "99601"), ["denied", "paid", "paid"]),
        # A primary and then a line that is none fall in one pass: the first still calls for another.
        (("99603", "99602", "99603 2025-03-03"), ["denied", "denied", "denied"]),
    ],
)
def test_an_add_on_chain_cascades_as_with_a_pass_after_every_removal(
    tmp_path: Path, chain: str, lines: tuple[str, ...], want: list[str]
) -> None:
    (tmp_path / "aoc-b.csv").write_text("add_on_code,primary_code,aoc_edit_type\n99602,99601,1\n", encoding="utf-8")
    engine = table_engine(tmp_path, CHAINS[chain])
    assert settled_statuses(engine, claim(*lines)) == want


def test_an_add_on_denied_by_a_written_rule_that_the_table_lists_as_a_primary(tmp_path: Path) -> None:
    engine = table_engine(tmp_path, AOC_RULE + "rule x: when line.code in 99602 and line.units > 1 deny CO-151\n")
    assert settled_statuses(engine, claim("99603", "99602 x2", "99601")) == ["denied", "denied", "paid"]
    assert settled_statuses(engine, claim("99603", "99602", "99601")) == ["paid", "paid", "paid"]


def test_add_ons_of_a_cycle_stand_or_fall_together_with_primaries_known(tmp_path: Path) -> None:
    engine = table_engine(
        tmp_path,
        "rule a: addon 0836T requires 88177 on the same day deny CO-107 N122\n"
        "rule b: addon 88177 requires 0836T, 88172 on the same day deny CO-107 N122\n" + GY_RULE,
    )
    assert settled_statuses(engine, claim("0836T", "88177")) == ["paid", "paid"]
    assert settled_statuses(engine, claim("0836T GY", "88177")) == ["denied", "denied"]
    assert settled_statuses(engine, claim("0836T GY", "88177", "88172")) == ["denied", "paid", "paid"]


def counted(rule: CompiledRule, passes: list[str]) -> CompiledRule:
    """The rule, noting its id in `passes` each time it is evaluated."""
    evaluate = rule.evaluate

    def noted(bucket: Any, claim_: Any, standing: Any) -> list[Verdict]:
        passes.append(rule.id)
        return evaluate(bucket, claim_, standing)

    return attrs.evolve(rule, evaluate=noted)


def test_settling_takes_no_second_pass_when_no_primary_fell(tmp_path: Path) -> None:
    engine = table_engine(tmp_path, AOC_RULE)
    claim_ = parsed(claim("99603", "99602", "99601", "99603 2025-03-03"))
    index = engine.index_for("commercial")
    [(rule, bucket)] = index.work(claim_.lines).items()
    assert index.primaries == {"99601", "99602", "S9500"}
    passes: list[str] = []
    noted = counted(rule, passes)
    verdicts = settle_addons([(noted, bucket)], claim_, {1, 2, 3, 4}, index.primaries)
    assert [verdict.line for verdict in verdicts[noted]] == [4]  # 99603 is no primary: nothing more to settle
    assert passes == ["aoc"]
    passes.clear()
    assert settle_addons([(noted, bucket)], claim_, {1, 2, 3, 4}, None) == verdicts
    assert passes == ["aoc", "aoc"]


def test_settling_takes_another_pass_when_a_primary_fell(tmp_path: Path) -> None:
    engine = table_engine(tmp_path, AOC_RULE)
    claim_ = parsed(claim("99603", "99602"))
    index = engine.index_for("commercial")
    [(rule, bucket)] = index.work(claim_.lines).items()
    passes: list[str] = []
    noted = counted(rule, passes)
    standing = {1, 2}
    verdicts = settle_addons([(noted, bucket)], claim_, standing, index.primaries)
    assert [verdict.line for verdict in verdicts[noted]] == [1, 2]
    assert standing == set()
    # 99602 fell in the first pass, 99603 in the second; 99603 is no primary, so no third pass is needed.
    assert passes == ["aoc", "aoc"]
    passes.clear()
    assert settle_addons([(noted, bucket)], claim_, {1, 2}, None) == verdicts
    assert passes == ["aoc", "aoc", "aoc"]


# ---------------------------------------------------------------- addon_primaries


def index_rules(engine: Engine) -> dict[str, CompiledRule]:
    return {rule.id: rule for rule in engine.index_for("commercial").finding_templates}


def test_addon_primaries_of_written_rules_are_their_add_ons_and_primaries() -> None:
    engine = engine_for(
        "rule a: addon 99602 requires 99601 on the same day deny CO-107 N122\n"
        'rule r: addon 99603 requires S9500 on the same day review "a review takes no line away"\n'
        "rule cap: limit J3370 to 1 units per day deny CO-151\n"
    )
    assert engine.index_for("commercial").primaries == {"99601", "99602"}


def test_addon_primaries_of_an_add_on_table_are_its_listed_primaries(tmp_path: Path) -> None:
    engine = table_engine(tmp_path, AOC_RULE + MUE_RULE)
    assert engine.index_for("commercial").primaries == {"99601", "99602", "S9500"}  # not the add-on 99603


def test_addon_primaries_without_add_on_rules_is_empty() -> None:
    engine = engine_for("rule cap: limit 99601 to 1 units per day deny CO-151\n")
    assert engine.index_for("commercial").primaries == frozenset()


def test_addon_primaries_is_none_for_a_written_add_on_rule_without_dispatch_codes() -> None:
    rules = index_rules(
        engine_for(
            "rule a: addon 99602 requires 99601 on the same day deny CO-107 N122\n"
            'rule r: addon 99603 requires S9500 on the same day review "look"\n'
        )
    )
    anywhere = attrs.evolve(rules["a"], dispatch_codes=None)
    assert addon_primaries([rules["r"], anywhere]) is None
    assert PlanIndex.build([rules["r"], anywhere]).primaries is None
    # A reviewing add-on rule takes no line away, so it may look at any line without costing a pass.
    assert addon_primaries([rules["a"], attrs.evolve(rules["r"], dispatch_codes=None)]) == {"99601", "99602"}


def test_an_engine_whose_add_on_rule_may_take_any_primary_still_cascades() -> None:
    engine = engine_for(
        "rule b: addon 99602 requires 99601 on the same day deny CO-107 N122\n"
        "rule c: addon 99603 requires 99602 on the same day deny CO-107 N122\n" + GY_RULE
    )
    rules = index_rules(engine)
    anywhere = PlanIndex.build([attrs.evolve(rules["b"], dispatch_codes=None), rules["c"], rules["gy"]])
    assert anywhere.primaries is None
    claim_ = parsed(claim("99603", "99602", "99601 GY"))
    result = judge(claim_, anywhere, anywhere.work(claim_.lines), ())
    assert [line.status for line in result.lines] == ["denied", "denied", "denied"]


# ---------------------------------------------------------------- payers' primaries in settling


def payer_engine(folder: Path, action: str, apart: bool = False) -> Engine:
    """National add-on rows (99602 needs 99601; 96160 is type 3) and a payer adding 99602 as 96160's primary.

    With `apart`, 99602's row is in a second national table, which the payer's policy does not extend.
    """
    table = "add_on_code,primary_code,aoc_edit_type\n"
    rows = {"aoc.csv": table + "96160,99202,3\n", "other.csv": table + "99602,99601,1\n"}
    if not apart:
        rows = {"aoc.csv": rows["aoc.csv"] + "99602,99601,1\n"}
    for number, (name, text) in enumerate(rows.items()):
        (folder / name).write_text(text, encoding="utf-8")
        (folder / f"base{number}.pol").write_text(
            f"policy base{number}\n  plans all\n  effective 2025-01-01\n"
            f'rule aoc: addon table "{name}" on the same day deny CO-107\n',
            encoding="utf-8",
        )
    (folder / "payer.pol").write_text(
        "policy payer\n  plans all\n  effective 2025-01-01\n  extends base0\n"
        f"rule extra: addon 96160 requires 99602 on the same day {action}\n",
        encoding="utf-8",
    )
    return policyc.load(folder)


@pytest.mark.parametrize(
    ("action", "apart"),
    [("deny CO-107 N122", False), ("deny CO-107 N122", True), ('review "check the hours"', True)],
)
def test_a_payers_primary_that_falls_takes_its_add_on_with_it(tmp_path: Path, action: str, apart: bool) -> None:
    engine = payer_engine(tmp_path, action, apart)
    assert settled_statuses(engine, claim("96160", "99602", "99601")) == ["paid", "paid", "paid"]
    # 99602 has no 99601, so it falls; 96160's only primary on the claim was 99602.
    assert settled_statuses(engine, claim("96160", "99602")) == ["denied", "denied"]


def test_a_payers_primary_that_falls_takes_its_add_on_with_it_under_a_reviewing_rule(tmp_path: Path) -> None:
    engine = payer_engine(tmp_path, 'review "check the hours"')
    assert settled_statuses(engine, claim("96160", "99602", "99601")) == ["paid", "paid", "paid"]
    assert settled_statuses(engine, claim("96160", "99602")) == ["denied", "denied"]


# ---------------------------------------------------------------- earlier claims' lines


def test_prior_lines_go_into_a_new_bucket_not_the_claims_own_lines(tmp_path: Path) -> None:
    engine = table_engine(tmp_path, MUE_RULE)
    claim_ = parsed(claim("99601"))
    index = engine.index_for("commercial")
    buckets = dict(index.work(claim_.lines))
    [(rule, bucket)] = buckets.items()
    assert bucket == claim_.lines and rule.cross_claim == "provider"
    earlier = PriorLine("EARLIER", claim_.billing_provider, attrs.evolve(claim_.lines[0], line=1, units=1))
    history: Any = types.SimpleNamespace(prior_lines=lambda _claim: [earlier])
    assert add_prior_lines(buckets, claim_, history) == [-1]
    assert [(line.line, line.units) for line in buckets[rule]] == [(1, 1), (-1, 1)]
    assert len(claim_.lines) == 1
    assert [line.line for line in index.work(claim_.lines)[rule]] == [1]
    result = judge(claim_, index, buckets, [-1])
    assert [line.status for line in result.lines] == ["denied"]  # 2 units of 99601 that day, MUE 1
