"""Tests for policyc.lower: set evaluation, date narrowing, dispatch analysis and the other IR it builds."""

from __future__ import annotations

import datetime

import pytest

from policyc import ir
from policyc import nodes as n
from policyc.compiler import to_ir
from policyc.lower import dispatch_codes, dispatch_modifiers, evaluate_set, normalise_diagnosis, ordinal_label
from policyc.source import SourceFile

D = datetime.date
H = "policy p\n  plans all\n  effective 2025-01-01\n"


def lower_text(text: str) -> ir.PolicyIR:
    return to_ir(SourceFile("t.pol", text))


def only_rule(text: str) -> ir.RuleIR:
    [rule] = lower_text(text).rules
    return rule


# ---------------------------------------------------------------- evaluate_set

ENV = {"nursing": frozenset({"99601", "99602"}), "drugs": frozenset({"J3370", "J1100"})}


@pytest.mark.parametrize(
    ("expr", "members"),
    [
        (n.SetExpr((n.CodeItem("99601"),)), {"99601"}),
        (n.SetExpr((n.CodeItem("99601"), n.CodeItem("99601"))), {"99601"}),
        (n.SetExpr((n.RangeItem("S9325", "S9328"),)), {"S9325", "S9326", "S9327", "S9328"}),
        (n.SetExpr((n.RangeItem("99601", "99601"),)), {"99601"}),
        (n.SetExpr((n.RangeItem("0001F", "0003F"),)), {"0001F", "0002F", "0003F"}),
        (n.SetExpr((n.RangeItem("00098", "00101"),)), {"00098", "00099", "00100", "00101"}),
        (n.SetExpr((n.SetRef("nursing"), n.CodeItem("S9500"))), {"99601", "99602", "S9500"}),
        (
            n.SetExpr((n.RangeItem("E0779", "E0781"), n.CodeItem("A4221")), (n.CodeItem("E0780"),)),
            {"E0779", "E0781", "A4221"},
        ),
        (
            n.SetExpr((n.SetRef("nursing"), n.SetRef("drugs")), (n.SetRef("drugs"), n.CodeItem("99602"))),
            {"99601"},
        ),
        (n.SetExpr((n.CodeItem("99601"),), (n.CodeItem("99601"),)), set()),
        # unknown names and bad ranges count as empty: the checks have reported them
        (n.SetExpr((n.SetRef("unknown"), n.CodeItem("99601"))), {"99601"}),
        (n.SetExpr((n.RangeItem("S9379", "S9325"),)), set()),
        (n.SetExpr((n.RangeItem("S9325", "99601"),)), set()),
        (n.SetExpr((n.CodeItem("99601"),), (n.SetRef("unknown"),)), {"99601"}),
    ],
)
def test_evaluate_set(expr: n.SetExpr, members: set[str]) -> None:
    assert evaluate_set(expr, ENV) == frozenset(members)


def test_code_sets_in_the_ir_resolve_refs_in_order() -> None:
    policy = lower_text(
        H
        + "codes nursing = 99601, 99602\n"
        + 'codes care "all care" = nursing, S9325..S9327 except 99602, S9326\n'
    )
    nursing, care = policy.code_sets
    assert nursing.expr.members == frozenset({"99601", "99602"})
    assert (care.name, care.title, care.line) == ("care", "all care", 5)
    assert care.expr.refs == ("nursing",)
    assert care.expr.ranges == (("S9325", "S9327"),)
    assert care.expr.codes == ()
    assert care.expr.excluded is not None and care.expr.excluded.codes == ("99602", "S9326")
    assert care.expr.members == frozenset({"99601", "S9325", "S9327"})
    assert care.expr.describe() == "nursing, S9325..S9327 except 99602, S9326"


# ---------------------------------------------------------------- dates


@pytest.mark.parametrize(
    ("policy_dates", "rule_dates", "start", "end"),
    [
        ("2025-01-01", "", D(2025, 1, 1), None),
        ("2025-01-01 until 2025-12-31", "", D(2025, 1, 1), D(2025, 12, 31)),
        ("2025-01-01 until 2025-12-31", "effective 2025-03-01", D(2025, 3, 1), D(2025, 12, 31)),
        (
            "2025-01-01 until 2025-12-31",
            "effective 2025-03-01 until 2025-06-30",
            D(2025, 3, 1),
            D(2025, 6, 30),
        ),
        (
            "2025-01-01 until 2025-12-31",
            "effective 2024-01-01 until 2026-06-30",
            D(2025, 1, 1),
            D(2025, 12, 31),
        ),
        ("2025-01-01 until 2025-12-31", "effective 2024-06-01", D(2025, 1, 1), D(2025, 12, 31)),
        ("2025-01-01", "effective 2025-03-01 until 2025-06-30", D(2025, 3, 1), D(2025, 6, 30)),
        ("2025-01-01", "effective 2024-03-01", D(2025, 1, 1), None),
        (
            "2025-01-01 until 2025-12-31",
            "effective 2025-12-31 until 2025-12-31",
            D(2025, 12, 31),
            D(2025, 12, 31),
        ),
    ],
)
def test_rule_dates_are_narrowed_to_the_policys(
    policy_dates: str, rule_dates: str, start: datetime.date, end: datetime.date | None
) -> None:
    policy = lower_text(
        f"policy p plans all effective {policy_dates}\n"
        f"rule r: limit 99601 to 1 unit per line deny CO-151 {rule_dates}"
    )
    assert (policy.rules[0].start, policy.rules[0].end) == (start, end)


def test_policy_header_values() -> None:
    policy = lower_text(
        'policy p "T" payer "Payer" source "Doc"\n'
        "plans medicaid, commercial effective 2025-01-01 until 2025-06-30"
    )
    assert (policy.id, policy.title, policy.payer, policy.source_document) == ("p", "T", "Payer", "Doc")
    assert policy.plans == frozenset({"medicaid", "commercial"})
    assert (policy.start, policy.end, policy.path) == (D(2025, 1, 1), D(2025, 6, 30), "t.pol")
    assert lower_text("policy p plans all effective 2025-01-01").plans is None


# ---------------------------------------------------------------- dispatch analysis

CODES = "codes nursing = 99601, 99602\ncodes drugs = J3370, J1100\n"


@pytest.mark.parametrize(
    ("condition", "codes", "modifiers"),
    [
        ("line.code in nursing", {"99601", "99602"}, None),
        ("line.code not in nursing", None, None),
        ("not line.code in nursing", None, None),
        ("line has modifier SH or SJ", None, {"SH", "SJ"}),
        ("not line has modifier SH", None, None),
        ("line.units > 2", None, None),
        ("line has modifier SH or SJ and line.code not in nursing", None, {"SH", "SJ"}),
        ("line has modifier SH and line.code in nursing", {"99601", "99602"}, {"SH"}),
        ("line.code in nursing and line.code in 99602, J3370", {"99602"}, None),
        ("line.code in nursing and line.code in drugs", set(), None),
        ("line.code in nursing or line.code in drugs", {"99601", "99602", "J3370", "J1100"}, None),
        ("line.code in nursing or line.units > 2", None, None),
        ("line has modifier SH or line has modifier XU, 59", None, {"SH", "XU", "59"}),
        ("line has modifier SH or line.units > 2", None, None),
        # of several modifier needs the narrowest one is enough to dispatch on
        ("line has modifier SH, SJ, XU and line has modifier 59", None, {"59"}),
        (
            "(line.code in nursing or line.code in drugs) and line.units > 2",
            {"99601", "99602", "J3370", "J1100"},
            None,
        ),
        (
            "(line.code in nursing and line.units > 2) or line.code in J3370",
            {"99601", "99602", "J3370"},
            None,
        ),
        ("(line.code in nursing or line.units > 2) and line.code in drugs", {"J3370", "J1100"}, None),
        (
            "(line has modifier SH and line.units > 1) or (line has modifier SJ and member.age < 18)",
            None,
            {"SH", "SJ"},
        ),
        ("not (line.code not in nursing)", None, None),
    ],
)
def test_dispatch_of_when_conditions(
    condition: str, codes: set[str] | None, modifiers: set[str] | None
) -> None:
    body = only_rule(H + CODES + f"rule r: when {condition} deny CO-4").body
    assert isinstance(body, ir.WhenIR)
    assert body.dispatch_codes == (None if codes is None else frozenset(codes))
    assert body.dispatch_modifiers == (None if modifiers is None else frozenset(modifiers))
    assert dispatch_codes(body.condition) == body.dispatch_codes
    assert dispatch_modifiers(body.condition) == body.dispatch_modifiers


def test_condition_ir_shapes() -> None:
    body = only_rule(
        H + CODES + 'rule r: when claim has diagnosis Z45.2, Z95828 and not claim.plan in ("a", "b") '
        "or line.date >= 2025-02-01 deny CO-4"
    ).body
    assert isinstance(body, ir.WhenIR)
    assert body.condition == ir.CondAny(
        (
            ir.CondAll(
                (
                    ir.CondDiagnosis(frozenset({"Z452", "Z95828"})),
                    ir.CondNot(ir.CondValueIn("claim.plan", False, ("a", "b"))),
                )
            ),
            ir.CondCompare("line.date", ">=", D(2025, 2, 1)),
        )
    )


@pytest.mark.parametrize(
    ("written", "normal"), [("Z45.2", "Z452"), ("Z452", "Z452"), ("E11.9", "E119"), ("z45.2", "Z452")]
)
def test_normalise_diagnosis(written: str, normal: str) -> None:
    assert normalise_diagnosis(written) == normal


# ---------------------------------------------------------------- ranks, scopes and actions


@pytest.mark.parametrize(
    ("number", "label"),
    [
        (1, "1st"),
        (2, "2nd"),
        (3, "3rd"),
        (4, "4th"),
        (10, "10th"),
        (11, "11th"),
        (12, "12th"),
        (13, "13th"),
        (20, "20th"),
        (21, "21st"),
        (22, "22nd"),
        (23, "23rd"),
        (101, "101st"),
        (111, "111th"),
        (112, "112th"),
        (113, "113th"),
        (121, "121st"),
    ],
)
def test_ordinal_label(number: int, label: str) -> None:
    assert ordinal_label(number) == label


def test_sequence_ir() -> None:
    body = only_rule(
        H + "codes per_diem = S9325..S9379\n"
        "rule r: sequence per_diem on the same day by the same provider:\n"
        "  1st without SH, SJ\n  2nd with SH\n  3rd+ with SJ\n  deny CO-4 N519"
    ).body
    assert isinstance(body, ir.SequenceIR)
    assert body.ranks == (
        ir.RankIR(1, False, frozenset(), "1st"),
        ir.RankIR(2, False, frozenset({"SH"}), "2nd"),
        ir.RankIR(3, True, frozenset({"SJ"}), "3rd+"),
    )
    assert body.modifiers == frozenset({"SH", "SJ"})
    assert body.scope == ir.ScopeIR("day", "billing")
    assert body.codes.refs == ("per_diem",)
    assert len(body.codes.members) == 55


@pytest.mark.parametrize(
    ("body", "scope"),
    [
        ("limit 99601 to 4 units per line", ir.ScopeIR("line", None)),
        ("limit 99601 to 4 units per day by the same provider", ir.ScopeIR("day", "billing")),
        ("limit 99601 to 4 units per claim by the same rendering provider", ir.ScopeIR("claim", "rendering")),
        ("addon 99602 requires 99601 by the same provider", ir.ScopeIR("claim", "billing")),
        ("bundle A4221 into S9500 on the same claim", ir.ScopeIR("claim", None)),
        ("pair 99601 with 99602 on the same day unless modifier 59, XU", ir.ScopeIR("day", None)),
    ],
)
def test_scopes(body: str, scope: ir.ScopeIR) -> None:
    lowered = only_rule(H + f"rule r: {body} deny CO-97").body
    assert lowered.scope == scope  # type: ignore[union-attr]


def test_pair_bypass_is_a_set() -> None:
    body = only_rule(
        H + "rule r: pair 99601 with 99602 on the same day unless modifier 59 or XU deny CO-97"
    ).body
    assert isinstance(body, ir.PairIR)
    assert body.bypass == frozenset({"59", "XU"})


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        ("deny CO-107 N122", ir.ActionIR("deny", "CO", "107", ("N122",), False, None)),
        ("deny PR-4 appealable", ir.ActionIR("deny", "PR", "4", (), True, None)),
        ("cut back CO-151 N362 appealable", ir.ActionIR("cut back", "CO", "151", ("N362",), True, None)),
        ('review "a person looks"', ir.ActionIR("review", None, None, (), False, "a person looks")),
    ],
)
def test_actions(action: str, expected: ir.ActionIR) -> None:
    assert only_rule(H + f"rule r: limit 99601 to 4 units per day {action}").action == expected


def test_rule_ir_fields() -> None:
    rule = only_rule(
        H + "\n\n"
        'rule mue "at most 4":\n'
        "  limit 99601   to 4 units\n    per day   by the same provider\n"
        '  rationale "Clinical"\n  deny CO-151 N362 appealable\n'
    )
    assert (rule.id, rule.title, rule.line, rule.kind, rule.rationale) == (
        "mue",
        "at most 4",
        6,
        "limit",
        "Clinical",
    )
    # the body as written, with its layout collapsed
    assert rule.text == "limit 99601 to 4 units per day by the same provider"


def test_rule_text_leaves_out_comments() -> None:
    rule = only_rule(
        H + "rule r:\n  when line has modifier SH   # the second therapy\n    and line.units > 2\n  deny CO-4"
    )
    assert rule.text == "when line has modifier SH and line.units > 2"
