"""The reference interpreter, rule kind by rule kind, on claims whose results are worked out by hand."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import policyc
from policyc import ir, reference
from policyc.claims import parse_claim
from policyc.compiler import to_ir
from policyc.source import SourceFile

DAY = "2025-03-02"


def engine(*rules: str, plans: str = "all", effective: str = "2025-01-01") -> reference.ReferenceEngine:
    text = f"policy t\n  plans {plans}\n  effective {effective}\n\n" + "\n".join(rules) + "\n"
    return reference.ReferenceEngine([to_ir(SourceFile("t.pol", text))])


def claim(*lines: str, plan: str = "commercial", **fields: Any) -> dict[str, Any]:
    """Lines written `1 99601 x3 SH on 2025-03-03 by 1111111112` (number, code, then any of units, modifiers...)."""
    parsed = []
    for text in lines:
        words = text.split()
        line: dict[str, Any] = {"line": int(words[0]), "code": words[1], "units": 1, "modifiers": [], "date": DAY}
        rest = iter(words[2:])
        for word in rest:
            if word.startswith("x"):
                line["units"] = int(word[1:])
            elif word == "on":
                line["date"] = next(rest)
            elif word == "by":
                line["rendering_provider"] = next(rest)
            else:
                line["modifiers"].append(word)
        parsed.append(line)
    return {"claim_id": "C-1", "plan": plan, "member_id": "M-1", "billing_provider": "1234567893",
            "lines": parsed, **fields}


def statuses(result: policyc.ClaimResult) -> dict[int, str]:
    """`{1: "denied CO-151", 2: "reduced CO-151 2"}`: status, adjustments, and allowed units when reduced."""
    out = {}
    for line in result.lines:
        words = [line.status, *sorted(f.adjustment or "review" for f in line.findings)]
        if line.status == "reduced":
            words.append(str(line.allowed_units))
        out[line.line] = " ".join(words)
    return out


# ---------------------------------------------------------------- limit


def test_per_line_cap_denies_only_the_line_over_it() -> None:
    ref = engine("rule r: limit 99602 to 2 units per line deny CO-151")
    assert statuses(ref.check(claim("1 99602 x2", "2 99602 x3"))) == {1: "paid", 2: "denied CO-151"}


def test_per_day_cap_adds_every_code_of_the_set_and_denies_every_line_of_the_day() -> None:
    ref = engine("rule r: limit 99601, 99602 to 4 units per day deny CO-151")
    result = ref.check(claim("1 99601 x3", "2 99602 x2", "3 99601 x1 on 2025-03-03"))
    assert statuses(result) == {1: "denied CO-151", 2: "denied CO-151", 3: "paid"}
    assert result.line(1).findings[0].message == (
        "5 units of 99601, 99602 on 2025-03-02 exceed the limit of 4 per day"
    )


def test_rendering_provider_scope_counts_each_provider_apart() -> None:
    ref = engine("rule r: limit 99601 to 4 units per day by the same rendering provider deny CO-151")
    split = claim("1 99601 x3 by 1111111112", "2 99601 x3", rendering_provider="1222222220")
    assert statuses(ref.check(split)) == {1: "paid", 2: "paid"}
    same = claim("1 99601 x3 by 1222222220", "2 99601 x3", rendering_provider="1222222220")
    assert statuses(ref.check(same)) == {1: "denied CO-151", 2: "denied CO-151"}


def test_cut_back_fills_lines_in_line_number_order_whatever_the_claim_order() -> None:
    ref = engine("rule r: limit 99601 to 4 units per claim cut back CO-151")
    result = ref.check(claim("9 99601 x2", "3 99601 x3", "5 99601 x2"))
    assert statuses(result) == {3: "paid", 5: "reduced CO-151 1", 9: "reduced CO-151 0"}
    assert result.line(9).findings[0].message.endswith("; 0 of 2 units allowed")


def test_a_line_cut_to_nothing_no_longer_stands_as_a_primary() -> None:
    ref = engine(
        "rule cap: limit 99601 to 0 units per line cut back CO-151",
        "rule a: addon 99602 requires 99601 on the same day deny CO-107",
    )
    assert statuses(ref.check(claim("1 99601", "2 99602"))) == {1: "reduced CO-151 0", 2: "denied CO-107"}


# ---------------------------------------------------------------- addon


ADDON = "rule a \"99602 needs 99601\": addon 99602 requires 99601 on the same day deny CO-107 N122"


def test_addon_needs_another_standing_primary_in_its_scope() -> None:
    ref = engine(ADDON)
    assert statuses(ref.check(claim("1 99602"))) == {1: "denied CO-107"}
    assert statuses(ref.check(claim("1 99602", "2 99601"))) == {1: "paid", 2: "paid"}
    assert statuses(ref.check(claim("1 99602", "2 99601 on 2025-03-03"))) == {1: "denied CO-107", 2: "paid"}
    message = ref.check(claim("1 99602")).line(1).findings[0].message
    assert message == "99602 needs 99601: no payable 99601 on the same day (2025-03-02)"


def test_a_line_is_never_its_own_primary() -> None:
    ref = engine("rule a: addon 99601 requires 99601 on the same day deny CO-107")
    assert statuses(ref.check(claim("1 99601"))) == {1: "denied CO-107"}
    assert statuses(ref.check(claim("1 99601", "2 99601"))) == {1: "paid", 2: "paid"}


def test_a_denied_primary_takes_its_addon_with_it() -> None:
    ref = engine(ADDON, "rule m: limit 99601 to 4 units per day deny CO-151")
    assert statuses(ref.check(claim("1 99601 x5", "2 99602"))) == {1: "denied CO-151", 2: "denied CO-107"}


CYCLE = (
    "rule a: addon 0836T requires 88177 on the same claim deny CO-107",
    "rule b: addon 88177 requires 0836T on the same claim deny CO-107",
)


def test_addons_that_support_each_other_stand_together() -> None:
    ref = engine(*CYCLE)
    assert statuses(ref.check(claim("1 0836T", "2 88177"))) == {1: "paid", 2: "paid"}
    assert statuses(ref.check(claim("1 0836T"))) == {1: "denied CO-107"}


def test_a_denial_inside_a_cycle_brings_the_cycle_down() -> None:
    ref = engine(*CYCLE, "rule c: limit 88177 to 1 unit per line deny CO-151")
    result = ref.check(claim("1 0836T", "2 88177 x2"))
    assert statuses(result) == {1: "denied CO-107", 2: "denied CO-107 CO-151"}


def test_a_chain_of_addons_falls_link_by_link() -> None:
    ref = engine(
        "rule a: addon 99602 requires 99601 on the same claim deny CO-107",
        "rule b: addon 0836T requires 99602 on the same claim deny CO-107",
        "rule c: addon 88177 requires 0836T on the same claim deny CO-107",
    )
    result = ref.check(claim("1 88177", "2 0836T", "3 99602"))
    assert statuses(result) == {1: "denied CO-107", 2: "denied CO-107", 3: "denied CO-107"}


def test_a_review_addon_leaves_its_line_standing() -> None:
    ref = engine(
        'rule a: addon 99602 requires 99601 on the same claim review "no visit"',
        "rule b: addon 0836T requires 99602 on the same claim deny CO-107",
    )
    result = ref.check(claim("1 99602", "2 0836T"))
    assert statuses(result) == {1: "review review", 2: "paid"}
    assert result.line(1).findings[0].message == "no visit: no payable 99601 on the same claim (2025-03-02)"


# ---------------------------------------------------------------- sequence

SEQUENCE = """rule s "concurrent therapies":
  sequence S9325..S9379, S9500 on the same day:
    1st without SH, SJ
    2nd with SH
    3rd+ with SJ
  deny CO-4 N519"""


@pytest.mark.parametrize(
    ("lines", "want"),
    [
        (("1 S9500", "2 S9338 SH", "3 S9342 SJ"), {1: "paid", 2: "paid", 3: "paid"}),
        (("1 S9500", "2 S9338"), {1: "denied CO-4", 2: "denied CO-4"}),
        (("1 S9338 SH",), {1: "denied CO-4"}),
        (("1 S9500", "2 S9338 SJ"), {1: "paid", 2: "denied CO-4"}),
        (("1 S9500", "2 S9338 SH", "3 S9342 SJ", "4 S9343 SJ RT"), {1: "paid", 2: "paid", 3: "paid", 4: "paid"}),
        (("1 S9500", "2 S9338 SH SJ"), {1: "paid", 2: "denied CO-4"}),
        (("1 S9500", "2 S9338 on 2025-03-03"), {1: "paid", 2: "paid"}),
    ],
)
def test_sequence_ranks(lines: tuple[str, ...], want: dict[int, str]) -> None:
    assert statuses(engine(SEQUENCE).check(claim(*lines))) == want


def test_sequence_messages_name_the_rank_and_the_count() -> None:
    result = engine(SEQUENCE).check(claim("1 S9500", "2 S9338", "3 S9339 SH SJ"))
    assert result.line(1).findings[0].message == (
        "concurrent therapies: 3 concurrent S9500, S9325..S9379 lines on 2025-03-02: "
        "2 in rank 1st (without SH, SJ), which admits 1"
    )
    assert result.line(3).findings[0].message == (
        "concurrent therapies: a line with SH, SJ fits no rank of S9500, S9325..S9379"
    )


# ---------------------------------------------------------------- bundle and pair


def test_bundle_denies_the_bundled_line_and_names_the_lowest_anchor() -> None:
    ref = engine("rule b: bundle A4221 into S9500, S9338 on the same day deny CO-97 M15")
    result = ref.check(claim("7 A4221", "5 S9500", "3 S9338", "4 A4221 on 2025-03-03"))
    assert statuses(result) == {7: "denied CO-97", 5: "paid", 3: "paid", 4: "paid"}
    assert result.line(7).findings[0].message == "A4221 is included in S9338 (line 3) on the same day"


def test_pair_bypass_modifier_on_either_line() -> None:
    ref = engine("rule p: pair 99601 with 96365 on the same day unless modifier 59 or XU deny CO-97 M80")
    assert statuses(ref.check(claim("1 99601", "2 96365"))) == {1: "paid", 2: "denied CO-97"}
    assert statuses(ref.check(claim("1 99601 59", "2 96365"))) == {1: "paid", 2: "paid"}
    assert statuses(ref.check(claim("1 99601", "2 96365 XU"))) == {1: "paid", 2: "paid"}
    message = ref.check(claim("1 99601", "2 96365")).line(2).findings[0].message
    assert message.endswith("and neither line carries a bypass modifier (59, XU)")


# ---------------------------------------------------------------- when


def test_when_conditions_over_claim_and_member_fields() -> None:
    ref = engine('rule w: when line.code in S9500 and member.age < 18 review "minor"')
    adult = claim("1 S9500", member_birth_date="2007-03-02")
    minor = claim("1 S9500", member_birth_date="2007-03-03")
    assert statuses(ref.check(adult)) == {1: "paid"}
    assert statuses(ref.check(minor)) == {1: "review review"}
    assert statuses(ref.check(claim("1 S9500"))) == {1: "paid"}  # no birth date: the comparison is false


def test_not_of_a_missing_value_holds() -> None:
    ref = engine("rule w: when not member.age < 18 deny CO-4")
    assert statuses(ref.check(claim("1 S9500"))) == {1: "denied CO-4"}


def test_diagnoses_compare_without_dots_and_case() -> None:
    ref = engine("rule w: when line.code in 96523 and not claim has diagnosis Z45.2 deny CO-11")
    assert statuses(ref.check(claim("1 96523", diagnoses=["z452"]))) == {1: "paid"}
    assert statuses(ref.check(claim("1 96523", diagnoses=["E11.9"]))) == {1: "denied CO-11"}


def test_when_asks_every_line_whatever_the_dispatch_says() -> None:
    """The reference never reads the dispatch sets: a wrong one changes nothing (the compiled engine would skip)."""
    policy = to_ir(SourceFile("t.pol", "policy t\n  plans all\n  effective 2025-01-01\n"
                              "rule w: when line has modifier SH deny CO-4\n"))
    rule = policy.rules[0]
    assert isinstance(rule.body, ir.WhenIR)
    wrong = attrs.evolve(rule, body=attrs.evolve(rule.body, dispatch_codes=frozenset({"00000"})))
    ref = reference.ReferenceEngine([attrs.evolve(policy, rules=(wrong,))])
    assert statuses(ref.check(claim("1 99601 SH"))) == {1: "denied CO-4"}


# ---------------------------------------------------------------- when a policy applies


def test_plans_and_dates_decide_which_lines_a_rule_sees() -> None:
    ref = engine(
        "rule r: limit 99601 to 1 unit per day deny CO-151 effective 2025-03-01 until 2025-03-02",
        plans="medicaid",
    )
    two = ("1 99601 x2", "2 99601 x2 on 2025-03-03", "3 99601 x2 on 2025-02-28")
    assert statuses(ref.check(claim(*two, plan="medicaid"))) == {1: "denied CO-151", 2: "paid", 3: "paid"}
    assert statuses(ref.check(claim(*two, plan="commercial"))) == {1: "paid", 2: "paid", 3: "paid"}


def test_status_is_the_strongest_finding_and_rationale_closes_the_message() -> None:
    ref = engine(
        'rule a "cap": limit 99601 to 2 units per line cut back CO-151 rationale "Clinical"',
        'rule b: when line.units > 1 review "many units"',
        "rule c: when line has modifier SH deny CO-4",
    )
    result = ref.check(claim("1 99601 x3", "2 99601 x3 SH"))
    assert statuses(result) == {1: "reduced CO-151 review 2", 2: "denied CO-151 CO-4 review"}
    assert [f.rule for f in result.line(2).findings] == ["t/c", "t/a", "t/b"]
    assert result.line(1).findings[0].message == (
        "cap: 3 units of 99601 on the line exceed the limit of 2 per line (rationale: Clinical)"
    )


# ---------------------------------------------------------------- the Engine's interface


def test_invalid_claims_are_rejected_not_raised() -> None:
    ref = engine(ADDON)
    result = ref.check({"claim_id": "C-9", "lines": []})
    assert result.status == "rejected" and result.claim_id == "C-9" and result.errors
    rejection = parse_claim({"claim_id": "C-8"})
    results = list(ref.check_many([rejection, claim("1 99602")]))
    assert [r.status for r in results] == ["rejected", "processed"]


def test_load_reads_folders_and_agrees_with_the_compiled_engine_on_the_examples() -> None:
    seed = ("policies/payer", "policies/medicaid")
    compiled, ref = policyc.load(*seed), reference.load(*seed)
    assert [p.path for p in ref.policies] == [p.path for p in compiled.policies]
    records = json.loads(Path("examples/claims.json").read_text(encoding="utf-8"))
    assert records
    for record in records:
        assert ref.check(record) == compiled.check(record)
        assert ref.check(record).to_dict() == compiled.check(record).to_dict()


def test_load_reports_every_broken_file_and_duplicate_ids(tmp_path: Path) -> None:
    good = "policy same\n  plans all\n  effective 2025-01-01\nrule r: limit 99601 to 1 unit per line deny CO-151\n"
    (tmp_path / "a.pol").write_text(good, encoding="utf-8")
    (tmp_path / "b.pol").write_text(good, encoding="utf-8")
    (tmp_path / "c.pol").write_text(good.replace("per_line", "").replace("per line", "per week"), encoding="utf-8")
    with pytest.raises(policyc.PolicyError) as raised:
        reference.load(tmp_path)
    codes = sorted(d.code for d in raised.value.diagnostics)
    assert codes == ["POL101", "POL230"]
    duplicate = next(d for d in raised.value.diagnostics if d.code == "POL230")
    assert "is also used by" in duplicate.message and duplicate.source.name.endswith("b.pol")


def test_a_rule_kind_it_does_not_model_is_refused_not_guessed() -> None:
    """A body the interpreter does not know raises Unsupported naming the rule."""
    policy = to_ir(SourceFile("t.pol", "policy t\n  plans all\n  effective 2025-01-01\n"
                              "rule r: when line has modifier SH deny CO-4\n"))
    unknown = attrs.evolve(policy, rules=(attrs.evolve(policy.rules[0], body=object()),))  # type: ignore[arg-type]
    with pytest.raises(reference.Unsupported, match="t.pol:4: rule `r` .* not one of the rule kinds"):
        reference.ReferenceEngine([unknown])


def test_a_policy_extending_one_not_given_is_refused() -> None:
    policy = to_ir(SourceFile("t.pol", "policy t\n  plans all\n  effective 2025-01-01\n"
                              "rule r: when line has modifier SH deny CO-4\n"))
    with pytest.raises(ValueError, match="policy `t` extends `base`, which is not loaded"):
        reference.ReferenceEngine([attrs.evolve(policy, extends=("base",))])


# ---------------------------------------------------------------- tables (docs/tables.md section 3)

MUE_CSV = "hcpcs_code,mue_value,mai,mue_rationale\n99601,2,1,Data\n99602,2,2,\n96365,1,3,Clinical: Data\n"
AOC_CSV = (
    "add_on_code,primary_code,aoc_edit_type\n"
    "96366,96365,1\n96366,96413,1\n96368,96365,1\n96368,96366,1\n96375,CCCCC,2\n96160,96127,3\n"
)
PTP_CSV = (
    "column_1,column_2,deletion_date,modifier_indicator,effective_date,ptp_edit_rationale\n"
    "96365,96360,,1,2024-01-01,Misuse of column two code\n"
    "96360,96523,,0,2024-01-01,\n"
    "96413,96365,2025-01-31,0,2024-01-01,\n"
    "96413,96366,,9,2024-01-01,\n"
)
NATIONAL = (
    "policy nat\n  plans medicare\n  effective 2025-01-01 until 2025-03-31\n"
    'rule mue "MUE": mue table "mue.csv" by the same provider deny CO-151 N362\n'
    'rule aoc "AOC": addon table "aoc.csv" on the same day by the same provider deny CO-107 N122\n'
    'rule ptp "PTP": pair table "ptp.csv" on the same day by the same provider deny CO-236\n'
)
PAYER = (
    "policy payer\n  plans medicaid\n  effective 2025-02-01 until 2025-02-28\n  extends nat\n"
    "rule mue-99601: limit 99601 to 4 units per day by the same provider deny CO-151 N362 appealable\n"
    "rule off-96365: switch off mue 96365\n"
    "rule screening: addon 96160 requires G0442 on the same day by the same provider deny CO-107 N122\n"
    "rule infusion: addon 96366 requires 96367 on the same day deny CO-107\n"
    "rule flush: pair 96360 with 96523 on the same day by the same provider unless modifier 59 deny CO-236\n"
    "rule starts: switch off pair 96365 with 96360\n"
)


@pytest.fixture(scope="module")
def national(tmp_path_factory: pytest.TempPathFactory) -> tuple[policyc.Engine, reference.ReferenceEngine]:
    """Both engines on small national tables and a payer policy extending them."""
    folder = tmp_path_factory.mktemp("tables")
    for name, text in {"mue.csv": MUE_CSV, "aoc.csv": AOC_CSV, "ptp.csv": PTP_CSV, "nat.pol": NATIONAL,
                       "payer.pol": PAYER}.items():
        (folder / name).write_text(text, encoding="utf-8")
    return policyc.load(folder), reference.load(folder)


def both(engines: tuple[policyc.Engine, reference.ReferenceEngine], record: dict[str, Any]) -> policyc.ClaimResult:
    """The reference's result, after checking the compiled engine gives the same one, messages included."""
    compiled, ref = engines
    got = ref.check(record)
    assert got == compiled.check(record)
    assert got.to_dict() == compiled.check(record).to_dict()
    return got


def medicare(*lines: str, plan: str = "medicare", day: str = "2025-02-10") -> dict[str, Any]:
    record = claim(*lines, plan=plan)
    for line in record["lines"]:
        line["date"] = day if line["date"] == DAY else line["date"]
    return record


def test_mue_mai_1_caps_each_line_and_mai_2_3_the_day(national: Any) -> None:
    result = both(national, medicare("1 99601 x3", "2 99601 x2", "3 99602 x2", "4 99602 x1", "5 96365 x2"))
    assert statuses(result) == {1: "denied CO-151", 2: "paid", 3: "denied CO-151", 4: "denied CO-151",
                                5: "denied CO-151"}
    assert result.line(1).findings[0].message == (
        "MUE: 3 units of 99601 on the line exceed the MUE of 2 per line (MAI 1, line edit; rationale: Data; "
        "table mue.csv line 2)"
    )
    assert result.line(3).findings[0].message == (
        "MUE: 3 units of 99602 on 2025-02-10 exceed the MUE of 2 per day by the same provider "
        "(MAI 2, date of service edit: policy; table mue.csv line 3)"
    )
    assert [result.line(n).findings[0].appealable for n in (1, 3, 5)] == [False, False, True]


def test_mue_applies_only_inside_the_policy_dates_and_plans(national: Any) -> None:
    assert statuses(both(national, medicare("1 99601 x3", day="2025-04-01"))) == {1: "paid"}
    assert statuses(both(national, medicare("1 99601 x3", plan="commercial"))) == {1: "paid"}


def test_mue_cut_back_fills_lines_in_line_number_order(tmp_path: Path) -> None:
    (tmp_path / "mue.csv").write_text(MUE_CSV, encoding="utf-8")
    (tmp_path / "m.pol").write_text(
        "policy m\n  plans all\n  effective 2025-01-01\n"
        'rule mue: mue table "mue.csv" by the same rendering provider cut back CO-151\n', encoding="utf-8")
    engines = policyc.load(tmp_path), reference.load(tmp_path)
    result = both(engines, claim("9 99602 x2", "3 99602 x1", "5 99602 x2", "6 99602 x2 by 1111111112", "7 99601 x5"))
    assert statuses(result) == {9: "reduced CO-151 0", 3: "paid", 5: "reduced CO-151 1", 6: "paid",
                                7: "reduced CO-151 2"}


def test_addon_table_needs_a_standing_primary_and_never_denies_type_2(national: Any) -> None:
    assert statuses(both(national, medicare("1 96366", "2 96375", "3 96160"))) == {
        1: "denied CO-107", 2: "paid", 3: "denied CO-107"}
    assert statuses(both(national, medicare("1 96366", "2 96365"))) == {1: "paid", 2: "paid"}
    # 96365 over its MUE does not stand; 96366 falls with it, and 96368 (primary 96366) after it.
    result = both(national, medicare("1 96365 x2", "2 96366", "3 96368"))
    assert statuses(result) == {1: "denied CO-151", 2: "denied CO-107", 3: "denied CO-107"}
    assert result.line(2).findings[0].message == (
        "AOC: add-on 96366 on 2025-02-10 has no payable primary (96365, 96413) on the same day by the same "
        "provider (type 1 add-on; table aoc.csv line 2)"
    )


def test_pair_table_rows_indicators_and_bypass(national: Any) -> None:
    result = both(national, medicare("1 96360", "2 96523", "3 96365", "4 96413"))
    # 96360/96523 indicator 0; 96365/96360 indicator 1; 96413/96365 in force until 2025-01-31 only.
    assert statuses(result) == {1: "denied CO-236", 2: "denied CO-236", 3: "paid", 4: "paid"}
    assert result.line(2).findings[0].message == (
        "PTP: 96523 on 2025-02-10 is not paid with 96360 (line 1) on the same day by the same provider "
        "(modifier indicator 0: no modifier bypasses it; table ptp.csv line 3)"
    )
    assert statuses(both(national, medicare("1 96365 59", "2 96360"))) == {1: "paid", 2: "paid"}
    assert statuses(both(national, medicare("1 96413", "2 96365", day="2025-01-20"))) == {
        1: "paid", 2: "denied CO-236"}
    assert statuses(both(national, medicare("1 96413", "2 96366", "3 96365"))) == {1: "paid", 2: "paid", 3: "paid"}


# ---------------------------------------------------------------- extends (docs/tables.md section 5)


def test_an_extending_policy_inherits_the_tables_on_its_own_dates(national: Any) -> None:
    assert statuses(both(national, medicare("1 99602 x3", plan="medicaid"))) == {1: "denied CO-151"}
    assert statuses(both(national, medicare("1 99602 x3", plan="medicaid", day="2025-03-10"))) == {1: "paid"}


def test_replaced_and_switched_off_rows(national: Any) -> None:
    result = both(national, medicare("1 99601 x5", "2 96365 x3", plan="medicaid"))
    assert statuses(result) == {1: "denied CO-151", 2: "paid"}
    assert result.line(1).findings[0].message == (
        "5 units of 99601 on 2025-02-10 exceed the limit of 4 per day by the same provider; "
        "replaces nat/mue's row for 99601 (MUE 2, MAI 1)"
    )
    # Outside the payer's dates the national rows are back (and the national MUE's own dates still hold).
    assert statuses(both(national, medicare("1 99601 x3", "2 96365 x3", plan="medicaid", day="2025-01-10"))) == {
        1: "paid", 2: "paid"}
    assert statuses(both(national, medicare("1 99601 x3", "2 96365 x3"))) == {1: "denied CO-151", 2: "denied CO-151"}
    result = both(national, medicare("1 96360", "2 96523", "3 96365", plan="medicaid"))
    assert statuses(result) == {1: "paid", 2: "denied CO-236", 3: "paid"}
    assert result.line(2).findings[0].rule == "payer/flush"
    assert result.line(2).findings[0].message.endswith("; replaces nat/ptp's row 96360/96523 (modifier indicator 0)")


def test_payer_primaries_join_a_type_3_row(national: Any) -> None:
    result = both(national, medicare("1 96160", "2 G0442", plan="medicaid"))
    assert statuses(result) == {1: "paid", 2: "paid"}
    result = both(national, medicare("1 96160", plan="medicaid"))
    assert statuses(result) == {1: "denied CO-107"}
    assert [f.rule for f in result.line(1).findings] == ["nat/aoc"]
    assert "(96127 or added by the payer: G0442)" in result.line(1).findings[0].message


def test_agrees_with_the_compiled_engine_on_the_cms_examples_and_cases() -> None:
    """Whole results, messages included, on the national tables and the Medicaid policy extending them."""
    paths = ("policies/cms", "examples/cms/medicaid-ncci-2024q3.pol")
    compiled, ref = policyc.load(*paths), reference.load(*paths)
    records = json.loads(Path("examples/cms/claims.json").read_text(encoding="utf-8"))
    for case_file in sorted(Path("tests/cases").glob("cms_*.json")):
        document = json.loads(case_file.read_text(encoding="utf-8"))
        records += [{"claim_id": "C", **document["defaults"], **case["claim"]} for case in document["cases"]]
    assert len(records) > 20
    for record in records:
        assert ref.check(record) == compiled.check(record)
        assert ref.check(record).to_dict() == compiled.check(record).to_dict()


# Codes that meet in the small tables' rows (a PTP pair, an add-on and its primaries, an MUE and its payer cap).
TABLE_GROUPS = (
    ("96365", "96360", "96413"), ("96360", "96523"), ("96366", "96365", "96368", "96413"),
    ("96160", "96127", "G0442"), ("99601", "99602"), ("96375", "96366"), ("96413", "96366"),
    ("96366", "96367", "96365"),
)
TABLE_DAYS = ("2025-02-10", "2025-01-20", "2025-01-31", "2025-02-01", "2025-02-28", "2025-03-01", "2024-12-31",
              "2025-04-01")


@st.composite
def table_claims(draw: st.DrawFn) -> dict[str, Any]:
    """A claim of codes that meet in the tables' rows, mostly on one day (each side of every boundary), on any plan."""
    plan = draw(st.sampled_from(("medicare", "medicaid", "commercial")))
    codes = draw(st.sampled_from(TABLE_GROUPS))
    day = draw(st.sampled_from(TABLE_DAYS))
    lines = []
    for number in range(1, draw(st.integers(1, 5)) + 1):
        line = {
            "line": number, "code": draw(st.sampled_from(codes)), "units": draw(st.integers(1, 4)),
            "modifiers": draw(st.sampled_from(([], [], ["59"], ["XU"], ["RT"], ["59", "RT"]))),
            "date": draw(st.sampled_from((day, day, day, day, day, *TABLE_DAYS))),
        }
        if draw(st.integers(0, 4)) == 0:
            line["rendering_provider"] = "1111111112"
        lines.append(line)
    record = claim(plan=plan)
    record["lines"] = lines
    return record


@settings(max_examples=settings().max_examples * 4)  # 600 at the ci profile: a few milliseconds each
@given(record=table_claims())
def test_tables_and_overrides_agree_with_the_compiled_engine(
    national: tuple[policyc.Engine, reference.ReferenceEngine], record: dict[str, Any]
) -> None:
    """Generated claims over the small tables and the payer policy extending them: identical results."""
    both(national, record)


def test_tables_and_overrides_agree_on_a_seeded_sweep(
    national: tuple[policyc.Engine, reference.ReferenceEngine],
) -> None:
    """The same claims drawn plainly at random (Hypothesis revisits a few corners of so small a space)."""
    rng = random.Random(20250210)
    for index in range(2000):
        group, day = rng.choice(TABLE_GROUPS), rng.choice(TABLE_DAYS)
        record = claim(plan=rng.choice(("medicare", "medicaid", "commercial")), claim_id=f"S-{index}")
        record["lines"] = [
            {"line": number, "code": rng.choice(group), "units": rng.randint(1, 4),
             "modifiers": rng.choice(([], [], ["59"], ["XU"], ["RT"])),
             "date": rng.choice((day, day, day, day, *TABLE_DAYS)),
             **({"rendering_provider": "1111111112"} if rng.random() < 0.2 else {})}
            for number in rng.sample(range(1, 9), rng.randint(1, 5))
        ]
        both(national, record)
