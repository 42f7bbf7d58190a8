"""Tests for policyc.builder: the shape of the nodes it builds and the source text their spans cover."""

from __future__ import annotations

import datetime

import pytest

from policyc import nodes as n
from policyc.builder import unquote
from policyc.parser import parse
from policyc.source import SourceFile, Span

HEADER = "policy p\n  plans all\n  effective 2025-01-01\n"

SEQUENCE = (
    HEADER
    + "codes per_diem = S9325..S9379\n"
    + 'rule concurrent "ranks":\n'
    + "  sequence per_diem on the same day by the same provider:\n"
    + "    1st   without SH, SJ\n"
    + "    2nd   with SH\n"
    + "    3rd+  with SJ\n"
    + "  deny CO-4 N519\n"
)


def build(text: str) -> tuple[n.Policy, str]:
    return parse(SourceFile("t.pol", text)), text


def sliced(text: str, span: Span) -> str:
    return text[span.start : span.end]


def only_rule(text: str) -> n.Rule:
    policy, _ = build(text)
    [rule] = policy.rules
    return rule


# ---------------------------------------------------------------- shapes


@pytest.mark.parametrize(
    ("written", "ordinal", "open_ended"),
    [("1st", 1, False), ("2nd", 2, False), ("3rd+", 3, True), ("11th", 11, False), ("12th+", 12, True)],
)
def test_rank_ordinal_and_open_ended(written: str, ordinal: int, open_ended: bool) -> None:
    body = only_rule(HEADER + f"rule r: sequence S9500 on the same day: {written} with SH deny CO-4").body
    assert isinstance(body, n.Sequence)
    [rank] = body.ranks
    assert (rank.ordinal, rank.open_ended, rank.written) == (ordinal, open_ended, written)
    assert rank.with_modifiers is True
    assert rank.modifiers == (n.ModifierRef("SH"),)


def test_rank_without_modifiers() -> None:
    body = only_rule(SEQUENCE).body
    assert isinstance(body, n.Sequence)
    first = body.ranks[0]
    assert first.with_modifiers is False
    assert [m.code for m in first.modifiers] == ["SH", "SJ"]


@pytest.mark.parametrize(
    ("scope", "extent", "provider"),
    [
        ("on the same day", "day", None),
        ("on the same claim", "claim", None),
        ("on the same day by the same provider", "day", "billing"),
        ("on the same claim by the same rendering provider", "claim", "rendering"),
        # a provider alone looks at the lines of one claim billed by that provider
        ("by the same provider", "claim", "billing"),
        ("by the same rendering provider", "claim", "rendering"),
    ],
)
def test_scope_extent_and_provider(scope: str, extent: str, provider: str | None) -> None:
    text = HEADER + f"rule r: bundle A4221 into S9500 {scope}\n  deny CO-97"
    body = only_rule(text).body
    assert isinstance(body, n.Bundle)
    assert body.scope == n.Scope(extent, provider)
    assert body.scope is not None and sliced(text, body.scope.span) == scope


@pytest.mark.parametrize(
    ("per", "provider"),
    [
        ("line", None),
        ("day", None),
        ("claim", None),
        ("day by the same provider", "billing"),
        ("claim by the same rendering provider", "rendering"),
    ],
)
def test_limit_per_and_provider(per: str, provider: str | None) -> None:
    body = only_rule(HEADER + f"rule r: limit 99601 to 3 units per {per} deny CO-151").body
    assert isinstance(body, n.Limit)
    assert (body.cap, body.per, body.provider) == (3, per.split()[0], provider)


def test_set_expr_items_and_excluded() -> None:
    text = HEADER + "codes supplies = A4221, E0779..E0781 or S9810 except E0780, old\n"
    policy, _ = build(text)
    [definition] = policy.code_sets
    assert definition.expr.items == (n.CodeItem("A4221"), n.RangeItem("E0779", "E0781"), n.CodeItem("S9810"))
    assert definition.expr.excluded == (n.CodeItem("E0780"), n.SetRef("old"))


def test_set_expr_in_a_rule_has_no_excluded() -> None:
    body = only_rule(HEADER + "rule r: addon 99602 requires 99601, per_diem on the same day deny CO-107").body
    assert isinstance(body, n.Addon)
    assert body.primaries == n.SetExpr((n.CodeItem("99601"), n.SetRef("per_diem")), ())


def test_actions_hold_adjustment_rarcs_and_appealable() -> None:
    rule = only_rule(HEADER + "rule r: limit 99601 to 4 units per day cut back CO-151 N362 M15 appealable")
    assert rule.actions == (n.CutBack("CO-151", ("N362", "M15"), True),)


def test_literals_have_python_values() -> None:
    body = only_rule(HEADER + 'rule r: when line.units in (3, "3", 2025-01-02) deny CO-4').body
    assert isinstance(body, n.When) and isinstance(body.condition, n.FieldInValues)
    values = [literal.value for literal in body.condition.values]
    assert values == [3, "3", datetime.date(2025, 1, 2)]
    assert [type(v) for v in values] == [int, str, datetime.date]


def test_header_values_picks_fields_by_name() -> None:
    policy, _ = build('policy p payer "a" plans x, y payer "b"')
    assert [f.value for f in policy.header_values("payer")] == ["a", "b"]
    assert policy.header_values("plans")[0].value == ("x", "y")
    assert policy.header_values("effective") == ()


def test_unquote() -> None:
    from lark import Token

    assert unquote(Token("STRING", '"plain"')) == "plain"
    assert unquote(Token("STRING", '"a \\"b\\" c"')) == 'a "b" c'
    assert unquote(Token("STRING", '""')) == ""


def test_unquote_keeps_non_ascii_beside_an_escape() -> None:
    from lark import Token

    assert unquote(Token("STRING", '"Über \\"x\\""')) == 'Über "x"'


# ---------------------------------------------------------------- spans


def test_spans_of_a_sequence_rule() -> None:
    policy, text = build(SEQUENCE)
    [rule] = policy.rules
    assert sliced(text, rule.id_span) == "concurrent"
    assert sliced(text, rule.span).startswith('rule concurrent "ranks":')
    assert sliced(text, rule.span).endswith("deny CO-4 N519")
    body = rule.body
    assert isinstance(body, n.Sequence)
    assert sliced(text, body.span).startswith("sequence per_diem on the same day")
    assert sliced(text, body.span).endswith("3rd+  with SJ")
    assert sliced(text, body.codes.span) == "per_diem"
    assert [sliced(text, r.span) for r in body.ranks] == [
        "1st   without SH, SJ",
        "2nd   with SH",
        "3rd+  with SJ",
    ]
    assert [sliced(text, m.span) for m in body.ranks[0].modifiers] == ["SH", "SJ"]
    assert sliced(text, rule.actions[0].span) == "deny CO-4 N519"


def test_spans_of_a_code_set() -> None:
    policy, text = build(HEADER + 'codes in_pd "supplies" = A4221, E0779..E0781 except E0780\n')
    [definition] = policy.code_sets
    assert sliced(text, definition.name_span) == "in_pd"
    assert sliced(text, definition.span) == 'codes in_pd "supplies" = A4221, E0779..E0781 except E0780'
    assert sliced(text, definition.expr.span) == "A4221, E0779..E0781 except E0780"
    assert [sliced(text, i.span) for i in definition.expr.items] == ["A4221", "E0779..E0781"]
    assert [sliced(text, i.span) for i in definition.expr.excluded] == ["E0780"]


def test_spans_of_the_header() -> None:
    policy, text = build(
        'policy home "Home"\n  payer "X"\n  plans a, b\n  effective 2025-01-01 until 2025-12-31\n'
    )
    assert sliced(text, policy.id_span) == "home"
    assert [sliced(text, f.span) for f in policy.header] == [
        'payer "X"',
        "plans a, b",
        "effective 2025-01-01 until 2025-12-31",
    ]
    dates = policy.header[2].value
    assert isinstance(dates, n.DateRange)
    assert sliced(text, dates.span) == "effective 2025-01-01 until 2025-12-31"


def test_spans_of_conditions() -> None:
    text = (
        HEADER
        + "rule r: when (line has modifier SH or SJ and line.code not in 99601, per_diem) or\n"
        + '  member.age < 18 or claim.place_of_service in ("12", "49")\n'
        + "  deny CO-4"
    )
    body = only_rule(text).body
    assert isinstance(body, n.When)
    top = body.condition
    assert isinstance(top, n.AnyOf)
    assert sliced(text, top.span).startswith("(line has modifier")
    assert sliced(text, top.span).endswith('("12", "49")')
    inner, age, place = top.items
    assert isinstance(inner, n.AllOf)
    assert sliced(text, inner.span) == "line has modifier SH or SJ and line.code not in 99601, per_diem"
    modifier, code_in = inner.items
    assert sliced(text, modifier.span) == "line has modifier SH or SJ"
    assert isinstance(code_in, n.FieldInCodes)
    assert sliced(text, code_in.span) == "line.code not in 99601, per_diem"
    assert sliced(text, code_in.field_span) == "line.code"
    assert sliced(text, code_in.codes.span) == "99601, per_diem"
    assert isinstance(age, n.Compare)
    assert sliced(text, age.span) == "member.age < 18"
    assert sliced(text, age.field_span) == "member.age"
    assert sliced(text, age.value.span) == "18"
    assert isinstance(place, n.FieldInValues)
    assert [sliced(text, v.span) for v in place.values] == ['"12"', '"49"']


def test_spans_of_clauses_and_tests() -> None:
    text = (
        HEADER
        + 'rule r: limit 99601 to 4 units per day rationale "why" effective 2025-02-01 deny CO-151\n'
        + 'test "t":\n  claim on 2025-03-02:\n    line 1: 99601 SH x2\n  expect line 1 denied CO-151\n'
    )
    policy, _ = build(text)
    [rule] = policy.rules
    assert [sliced(text, c.span) for c in rule.clauses] == [
        'rationale "why"',
        "effective 2025-02-01",
        "deny CO-151",
    ]
    [test] = policy.tests
    assert sliced(text, test.claims[0].lines[0].span) == "line 1: 99601 SH x2"
    assert sliced(text, test.expectations[0].span) == "expect line 1 denied CO-151"
    assert sliced(text, test.span).startswith('test "t":')


def test_spans_do_not_take_part_in_equality() -> None:
    a, _ = build(HEADER + "codes a = 99601")
    b, _ = build("\n\n" + HEADER + "   codes   a   =   99601")
    assert a == b
    assert a.code_sets[0].span != b.code_sets[0].span
