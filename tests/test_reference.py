"""The reference interpreter, rule kind by rule kind, on claims whose results are worked out by hand."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import attrs
import pytest

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
    """A body beyond the six kinds (a national table rule, say) raises Unsupported naming the rule."""
    policy = to_ir(SourceFile("t.pol", "policy t\n  plans all\n  effective 2025-01-01\n"
                              "rule r: when line has modifier SH deny CO-4\n"))
    unknown = attrs.evolve(policy, rules=(attrs.evolve(policy.rules[0], body=object()),))  # type: ignore[arg-type]
    with pytest.raises(reference.Unsupported, match="t.pol:4: rule `r` .* not one of the six rule kinds"):
        reference.ReferenceEngine([unknown])
