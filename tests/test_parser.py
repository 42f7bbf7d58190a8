"""Tests for policyc.parser: every construct parses to the right nodes; syntax errors point at the text."""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from policyc import nodes as n
from policyc.diagnostics import PolicyError
from policyc.parser import lark_parser, parse
from policyc.source import SourceFile

HEADER = "policy p\n  plans all\n  effective 2025-01-01\n"


def parse_text(text: str) -> n.Policy:
    return parse(SourceFile("t.pol", text))


def parse_rule(text: str) -> n.Rule:
    policy = parse_text(HEADER + text)
    assert len(policy.rules) == 1
    return policy.rules[0]


def parse_condition(text: str) -> n.Condition:
    body = parse_rule(f"rule r: when {text}\n  deny CO-4").body
    assert isinstance(body, n.When)
    return body.condition


def codes(*items: str) -> n.SetExpr:
    """A set expression of plain codes, ranges (`A..B`) and names (lower case)."""
    built: list[n.SetItem] = []
    for item in items:
        if ".." in item:
            low, high = item.split("..")
            built.append(n.RangeItem(low, high))
        elif item[0].islower():
            built.append(n.SetRef(item))
        else:
            built.append(n.CodeItem(item))
    return n.SetExpr(tuple(built))


def mods(*names: str) -> tuple[n.ModifierRef, ...]:
    return tuple(n.ModifierRef(m) for m in names)


def syntax_error(text: str) -> tuple[str, int, int, str, str | None, str]:
    """The code, line, column, underlined text, help and message of the one diagnostic `text` gives."""
    source = SourceFile("t.pol", text)
    with pytest.raises(PolicyError) as raised:
        parse(source)
    [diagnostic] = raised.value.diagnostics
    position = source.position(diagnostic.span.start)
    underlined = text[diagnostic.span.start : diagnostic.span.end]
    return diagnostic.code, position.line, position.column, underlined, diagnostic.help, diagnostic.message


# ---------------------------------------------------------------- header


def test_header_fields() -> None:
    policy = parse_text(
        'policy home-infusion "Home infusion"\n'
        '  payer "Example Health Plan"\n'
        '  source "Billing Policy No. 042"\n'
        "  plans commercial, medicaid\n"
        "  effective 2024-10-07 until 2025-12-31\n"
    )
    assert policy.id == "home-infusion"
    assert policy.title == "Home infusion"
    assert policy.header == (
        n.HeaderField("payer", "Example Health Plan"),
        n.HeaderField("source", "Billing Policy No. 042"),
        n.HeaderField("plans", ("commercial", "medicaid")),
        n.HeaderField("effective", n.DateRange(datetime.date(2024, 10, 7), datetime.date(2025, 12, 31))),
    )
    assert policy.code_sets == policy.rules == policy.tests == ()


def test_header_without_title_and_open_ended_dates() -> None:
    policy = parse_text("policy p plans all effective 2025-01-01")
    assert policy.title is None
    assert policy.header == (
        n.HeaderField("plans", ("all",)),
        n.HeaderField("effective", n.DateRange(datetime.date(2025, 1, 1), None)),
    )


def test_header_fields_keep_their_order_and_repeats() -> None:
    # The parser keeps what is written; the checks report duplicates and missing fields.
    policy = parse_text('policy p payer "a" payer "b"')
    assert policy.header == (n.HeaderField("payer", "a"), n.HeaderField("payer", "b"))


def test_string_escapes_are_unquoted() -> None:
    policy = parse_text('policy p "say \\"hi\\"" plans all')
    assert policy.title == 'say "hi"'


# ---------------------------------------------------------------- code sets


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("codes a = 99601", n.CodeSetDef("a", None, codes("99601"))),
        ('codes a "title" = 99601, 99602', n.CodeSetDef("a", "title", codes("99601", "99602"))),
        (
            "codes a = S9325..S9379, S9490..S9504",
            n.CodeSetDef("a", None, codes("S9325..S9379", "S9490..S9504")),
        ),
        ("codes a = 99601 or 99602 or 0001F", n.CodeSetDef("a", None, codes("99601", "99602", "0001F"))),
        (
            "codes a = A4221, E0779..E0781 except E0780",
            n.CodeSetDef(
                "a",
                None,
                n.SetExpr((n.CodeItem("A4221"), n.RangeItem("E0779", "E0781")), (n.CodeItem("E0780"),)),
            ),
        ),
        (
            "codes a = S9325..S9379 except S9330, S9340..S9345, b",
            n.CodeSetDef(
                "a",
                None,
                n.SetExpr(
                    (n.RangeItem("S9325", "S9379"),),
                    (n.CodeItem("S9330"), n.RangeItem("S9340", "S9345"), n.SetRef("b")),
                ),
            ),
        ),
        (
            "codes per_diem-2 = in_per_diem, S9810",
            n.CodeSetDef("per_diem-2", None, codes("in_per_diem", "S9810")),
        ),
    ],
)
def test_code_sets(text: str, expected: n.CodeSetDef) -> None:
    [definition] = parse_text(HEADER + text).code_sets
    assert definition == expected


def test_or_before_a_range() -> None:
    [definition] = parse_text(HEADER + "codes a = A4221 or S9325..S9379").code_sets
    assert definition.expr == codes("A4221", "S9325..S9379")


# ---------------------------------------------------------------- rule kinds


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "addon 99602 requires 99601 on the same day by the same provider",
            n.Addon(codes("99602"), codes("99601"), n.Scope("day", "billing")),
        ),
        (
            "addon 99602 requires 99601, S9500 on the same claim",
            n.Addon(codes("99602"), codes("99601", "S9500"), n.Scope("claim", None)),
        ),
        ("addon 99602 requires 99601", n.Addon(codes("99602"), codes("99601"), None)),
        ("limit 99601 to 4 units per day by the same provider", n.Limit(codes("99601"), 4, "day", "billing")),
        ("limit 99601, 99602 to 1 unit per line", n.Limit(codes("99601", "99602"), 1, "line", None)),
        ("limit per_diem to 10 units per claim", n.Limit(codes("per_diem"), 10, "claim", None)),
        (
            "limit 99601 to 4 units per day by the same rendering provider",
            n.Limit(codes("99601"), 4, "day", "rendering"),
        ),
        (
            "bundle in_per_diem into per_diem on the same day by the same provider",
            n.Bundle(codes("in_per_diem"), codes("per_diem"), n.Scope("day", "billing")),
        ),
        (
            "bundle A4221 into S9500 by the same provider",
            n.Bundle(codes("A4221"), codes("S9500"), n.Scope("claim", "billing")),
        ),
        (
            "bundle A4221 into S9500 by the same rendering provider",
            n.Bundle(codes("A4221"), codes("S9500"), n.Scope("claim", "rendering")),
        ),
        (
            "pair 99601 with 99602 on the same day",
            n.Pair(codes("99601"), codes("99602"), n.Scope("day", None), ()),
        ),
        (
            "pair 99601 with 99602 on the same day unless modifier 59 or XU, XS",
            n.Pair(codes("99601"), codes("99602"), n.Scope("day", None), mods("59", "XU", "XS")),
        ),
        (
            "pair 99601 with 99602 unless modifier 59",
            n.Pair(codes("99601"), codes("99602"), None, mods("59")),
        ),
        (
            "sequence per_diem on the same day by the same provider:\n"
            "  1st without SH, SJ\n  2nd with SH\n  3rd+ with SJ",
            n.Sequence(
                codes("per_diem"),
                n.Scope("day", "billing"),
                (
                    n.Rank(1, False, False, mods("SH", "SJ"), "1st"),
                    n.Rank(2, False, True, mods("SH"), "2nd"),
                    n.Rank(3, True, True, mods("SJ"), "3rd+"),
                ),
            ),
        ),
        (
            "sequence per_diem: 1st without SH 2nd+ with SH",
            n.Sequence(
                codes("per_diem"),
                None,
                (n.Rank(1, False, False, mods("SH"), "1st"), n.Rank(2, True, True, mods("SH"), "2nd+")),
            ),
        ),
        ("when line.units > 2", n.When(n.Compare("line.units", ">", n.Literal(2)))),
    ],
)
def test_rule_kinds(text: str, expected: n.RuleBody) -> None:
    assert parse_rule(f"rule r: {text}\n  deny CO-4").body == expected


def test_rule_id_and_title() -> None:
    rule = parse_rule(
        'rule rn-add-on "99602 is billed only with 99601": addon 99602 requires 99601 deny CO-107'
    )
    assert (rule.id, rule.title) == ("rn-add-on", "99602 is billed only with 99601")
    untitled = parse_rule("rule r_2: addon 99602 requires 99601 deny CO-107")
    assert (untitled.id, untitled.title) == ("r_2", None)


# ---------------------------------------------------------------- actions and clauses


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("deny CO-107", n.Deny("CO-107", (), False)),
        ("deny CO-107 N122", n.Deny("CO-107", ("N122",), False)),
        ("deny CO-4 N519 M15 appealable", n.Deny("CO-4", ("N519", "M15"), True)),
        ("cut back CO-151 N362", n.CutBack("CO-151", ("N362",), False)),
        ("cut back CO-151 appealable", n.CutBack("CO-151", (), True)),
        ('review "needs a nurse to look"', n.Review("needs a nurse to look")),
    ],
)
def test_actions(text: str, expected: n.Action) -> None:
    rule = parse_rule(f"rule r: limit 99601 to 4 units per day\n  {text}")
    assert rule.actions == (expected,)
    assert rule.clauses == (expected,)


def test_rationale_and_rule_effective_dates() -> None:
    rule = parse_rule(
        "rule r: limit 99601 to 4 units per day\n"
        '  rationale "Clinical: Medicaid Data"\n'
        "  deny CO-151 N362 appealable\n"
        "  effective 2025-03-01 until 2025-06-30\n"
        "  effective 2025-04-01\n"
    )
    assert rule.clauses == (
        n.Rationale("Clinical: Medicaid Data"),
        n.Deny("CO-151", ("N362",), True),
        n.DateRange(datetime.date(2025, 3, 1), datetime.date(2025, 6, 30)),
        n.DateRange(datetime.date(2025, 4, 1), None),
    )
    assert rule.rationales == (n.Rationale("Clinical: Medicaid Data"),)
    assert rule.dates == rule.clauses[2:]
    assert rule.actions == (n.Deny("CO-151", ("N362",), True),)


def test_rule_without_clauses_parses() -> None:
    # No action is a check (POL212), not a syntax error.
    assert parse_rule("rule r: limit 99601 to 4 units per day").clauses == ()


# ---------------------------------------------------------------- conditions

SH_SJ = n.HasModifier(mods("SH", "SJ"))
NOT_PER_DIEM = n.FieldInCodes("line.code", True, codes("per_diem"))
UNITS = n.Compare("line.units", ">", n.Literal(2))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("line has modifier SH", n.HasModifier(mods("SH"))),
        ("line has modifier SH or SJ", SH_SJ),
        ("line has modifier SH, SJ", SH_SJ),
        ("line has modifier SH or SJ and line.code not in per_diem", n.AllOf((SH_SJ, NOT_PER_DIEM))),
        (
            "line.code in per_diem, 99601, S9325..S9379",
            n.FieldInCodes("line.code", False, codes("per_diem", "99601", "S9325..S9379")),
        ),
        ("line.code in 99601 or 99602", n.FieldInCodes("line.code", False, codes("99601", "99602"))),
        ("line.code not in per_diem", NOT_PER_DIEM),
        ("claim has diagnosis Z45.2", n.HasDiagnosis(("Z45.2",))),
        ("claim has diagnosis Z45.2, Z95.828", n.HasDiagnosis(("Z45.2", "Z95.828"))),
        ("claim has diagnosis Z452 or Z95", n.HasDiagnosis(("Z452", "Z95"))),
        (
            'claim.place_of_service in ("12", "49")',
            n.FieldInValues("claim.place_of_service", False, (n.Literal("12"), n.Literal("49"))),
        ),
        ('claim.plan not in ("medicaid")', n.FieldInValues("claim.plan", True, (n.Literal("medicaid"),))),
        (
            "line.units in (1, 2, 3)",
            n.FieldInValues("line.units", False, tuple(n.Literal(i) for i in (1, 2, 3))),
        ),
        (
            "line.date in (2025-01-01, 2025-07-04)",
            n.FieldInValues(
                "line.date",
                False,
                (n.Literal(datetime.date(2025, 1, 1)), n.Literal(datetime.date(2025, 7, 4))),
            ),
        ),
        ("member.age < 18", n.Compare("member.age", "<", n.Literal(18))),
        ("member.age <= 18", n.Compare("member.age", "<=", n.Literal(18))),
        ("member.age >= 65", n.Compare("member.age", ">=", n.Literal(65))),
        ("line.units > 2", UNITS),
        ('member.sex = "F"', n.Compare("member.sex", "=", n.Literal("F"))),
        ('claim.type != "professional"', n.Compare("claim.type", "!=", n.Literal("professional"))),
        ("line.date >= 2025-03-01", n.Compare("line.date", ">=", n.Literal(datetime.date(2025, 3, 1)))),
        ("not line has modifier SH", n.Not(n.HasModifier(mods("SH")))),
        ("not not line.units > 2", n.Not(n.Not(UNITS))),
        ("line.units > 2 or line has modifier SH or SJ", n.AnyOf((UNITS, SH_SJ))),
        # `and` binds tighter than `or`; `not` tighter than both
        (
            "line.units > 2 or line has modifier SH or SJ and line.code not in per_diem",
            n.AnyOf((UNITS, n.AllOf((SH_SJ, NOT_PER_DIEM)))),
        ),
        (
            "(line.units > 2 or line has modifier SH or SJ) and line.code not in per_diem",
            n.AllOf((n.AnyOf((UNITS, SH_SJ)), NOT_PER_DIEM)),
        ),
        ("not line.units > 2 and line has modifier SH or SJ", n.AllOf((n.Not(UNITS), SH_SJ))),
        ("not (line.units > 2 and line has modifier SH or SJ)", n.Not(n.AllOf((UNITS, SH_SJ)))),
        ("((line.units > 2))", UNITS),
        (
            "line.units > 2 and line.units > 2 and line.units > 2",
            n.AllOf((UNITS, UNITS, UNITS)),
        ),
    ],
)
def test_conditions(text: str, expected: n.Condition) -> None:
    assert parse_condition(text) == expected


def test_diagnoses_joined_by_or_with_dots() -> None:
    # The form nodes.HasDiagnosis documents: `claim has diagnosis Z45.2 or Z95.828`.
    assert parse_condition("claim has diagnosis Z45.2 or Z95.828") == n.HasDiagnosis(("Z45.2", "Z95.828"))


# ---------------------------------------------------------------- tests blocks


def test_test_blocks() -> None:
    policy = parse_text(
        HEADER + 'test "two claims":\n'
        "  claim plan commercial on 2025-03-02:\n"
        "    line 1: S9500 x1\n"
        "    line 2: S9338 SH XU x3 on 2025-03-03\n"
        "  claim:\n"
        "    line 3: 99601\n"
        "  expect line 1 paid\n"
        "  expect line 2 denied CO-4\n"
        "  expect line 3 reduced\n"
        "  expect line 3 review\n"
    )
    assert policy.tests == (
        n.TestCase(
            "two claims",
            (
                n.TestClaim(
                    "commercial",
                    datetime.date(2025, 3, 2),
                    (
                        n.TestLine(1, "S9500", (), 1, None),
                        n.TestLine(2, "S9338", ("SH", "XU"), 3, datetime.date(2025, 3, 3)),
                    ),
                ),
                n.TestClaim(None, None, (n.TestLine(3, "99601", (), 1, None),)),
            ),
            (
                n.Expectation(1, "paid", None),
                n.Expectation(2, "denied", "CO-4"),
                n.Expectation(3, "reduced", None),
                n.Expectation(3, "review", None),
            ),
        ),
    )


def test_items_of_each_kind_may_interleave() -> None:
    policy = parse_text(
        HEADER + 'test "t": claim: line 1: 99601 expect line 1 paid\n'
        "codes a = 99601\n"
        "rule r: limit a to 1 unit per line deny CO-151\n"
        "codes b = 99602\n"
    )
    assert [c.name for c in policy.code_sets] == ["a", "b"]
    assert [r.id for r in policy.rules] == ["r"]
    assert [t.name for t in policy.tests] == ["t"]


# ---------------------------------------------------------------- comments and layout


def test_comments_anywhere() -> None:
    commented = parse_text(
        "# a file comment\n"
        "policy p # after the id\n"
        "  plans all # after plans\n"
        "  effective 2025-01-01\n"
        "codes a = # before the items\n"
        "  99601, # between items\n"
        "  99602\n"
        "rule r: # after the colon\n"
        "  when line has modifier SH # inside a condition\n"
        "    and line.code in a\n"
        "  deny CO-4 # after the action\n"
        "# at the end, no newline"
    )
    plain = parse_text(
        HEADER + "codes a = 99601, 99602\nrule r: when line has modifier SH and line.code in a deny CO-4"
    )
    assert commented == plain


def test_a_hash_inside_a_string_is_not_a_comment() -> None:
    assert parse_text('policy p "No. #42" plans all').title == "No. #42"


def one_line(text: str) -> str:
    """The policy with comments dropped and every line joined into one."""
    return " ".join(line.split("#", 1)[0].strip() for line in text.splitlines())


@pytest.mark.parametrize(
    "path", ["policies/payer/home-infusion.pol", "policies/medicaid/mue-home-infusion-2026q1.pol"]
)
def test_layout_does_not_matter(path: str) -> None:
    text = Path(path).read_text(encoding="utf-8")
    flat = one_line(text)
    assert "\n" not in flat
    # every token on a line of its own, leaving the spaces inside quoted text alone
    spread = re.sub(r'("[^"]*")|\s+', lambda m: m.group(1) or "\n\n   ", flat)
    assert parse_text(flat) == parse_text(text)
    assert parse_text(spread) == parse_text(text)


def test_different_policies_are_not_equal() -> None:
    # Equality ignores spans, but not what was written.
    assert parse_text(HEADER + "codes a = 99601") != parse_text(HEADER + "codes a = 99602")


def test_or_at_the_end_of_a_line() -> None:
    assert parse_condition("line has modifier SH or\n    SJ") == SH_SJ


def test_a_comment_between_or_and_the_next_code() -> None:
    assert parse_condition("line has modifier SH or # the second concurrent therapy\n    SJ") == SH_SJ


# ---------------------------------------------------------------- syntax errors


@pytest.mark.parametrize(
    ("text", "line", "column", "underlined", "help_part"),
    [
        # a denial without the `-` between group code and CARC
        (
            HEADER + "rule r: addon 99602 requires 99601 on the same day\n  deny CO107",
            5,
            8,
            "CO107",
            "joined by `-`",
        ),
        # a typo inside a scope, mid-rule
        (
            HEADER + "rule r: addon 99602 requires 99601\n  on the same dya\n  deny CO-107",
            5,
            15,
            "dya",
            "`day`",
        ),
        (HEADER + "rule r: limit 99601 to 4 units per week deny CO-151", 4, 36, "week", "`line`"),
        (HEADER + "rule r: when line has modifier sh deny CO-4", 4, 32, "sh", "upper case: `SH`"),
        (HEADER + "codes Per = 99601", 4, 7, "Per", "lower-case letter"),
        (HEADER + "rule r: when (line.units > 2 deny CO-4", 4, 30, "deny", "`)`"),
        (HEADER + "rule r: when line.units > 2 deny CO-4 $", 4, 39, "$", "expected one of"),
        (HEADER + "rule r: when line.units > 2.5 deny CO-4", 4, 28, ".5", "expected"),
        ("plans all\npolicy p", 1, 1, "plans", "`policy`"),
        (HEADER + "rule r: limit 99601 to four units per day deny CO-151", 4, 24, "four", "a whole number"),
    ],
)
def test_syntax_errors_point_at_the_unexpected_text(
    text: str, line: int, column: int, underlined: str, help_part: str
) -> None:
    code, got_line, got_column, got_underlined, help_text, message = syntax_error(text)
    assert (code, got_line, got_column, got_underlined) == ("POL101", line, column, underlined)
    assert message == f"unexpected `{underlined}`"
    assert help_text is not None and help_part in help_text


def test_a_file_that_ends_too_early() -> None:
    text = HEADER + "rule r: when line.units > 2 deny"
    code, line, column, underlined, help_text, message = syntax_error(text)
    assert (code, line, column, underlined, message) == ("POL101", 4, 33, "", "the file ends too early")
    assert help_text == "expected a group code and CARC (like `CO-107`)"


def test_a_file_ending_in_a_newline_that_ends_too_early_points_after_the_last_word() -> None:
    text = HEADER + "rule r: when line.units > 2 deny\n"
    code, line, column, _, _, message = syntax_error(text)
    assert (code, line, column, message) == ("POL101", 4, 33, "the file ends too early")


def test_an_empty_file() -> None:
    assert syntax_error("") == ("POL101", 1, 1, "", "expected `policy`", "the file ends too early")


@pytest.mark.parametrize(
    ("text", "underlined"),
    [
        ("policy p plans all effective 2025-02-30", "2025-02-30"),
        ("policy p plans all effective 2025-01-01 until 2025-13-01", "2025-13-01"),
        (HEADER + "rule r: when line.date < 2025-04-31 deny CO-4", "2025-04-31"),
        (HEADER + "rule r: limit 99601 to 1 unit per line deny CO-151 effective 2025-00-10", "2025-00-10"),
        (HEADER + 'test "t": claim on 2023-02-29: line 1: 99601 expect line 1 paid', "2023-02-29"),
    ],
)
def test_an_impossible_date_is_pol102(text: str, underlined: str) -> None:
    source = SourceFile("t.pol", text)
    with pytest.raises(PolicyError) as raised:
        parse(source)
    [diagnostic] = raised.value.diagnostics
    assert diagnostic.code == "POL102"
    assert text[diagnostic.span.start : diagnostic.span.end] == underlined
    assert diagnostic.message == f"`{underlined}` is not a date"
    assert diagnostic.help == "write an existing date as yyyy-mm-dd"


def test_every_impossible_date_is_reported_at_once() -> None:
    text = "policy p plans all effective 2025-02-30 until 2025-02-31"
    with pytest.raises(PolicyError) as raised:
        parse(SourceFile("t.pol", text))
    assert [(d.code, text[d.span.start : d.span.end]) for d in raised.value.diagnostics] == [
        ("POL102", "2025-02-30"),
        ("POL102", "2025-02-31"),
    ]


def test_a_leap_day_is_a_date() -> None:
    policy = parse_text("policy p plans all effective 2024-02-29")
    assert policy.header[1].value == n.DateRange(datetime.date(2024, 2, 29), None)


# ------------------------------------------------------------------ the grammar's cached parser tables

HOME_INFUSION = Path("policies/payer/home-infusion.pol")


@pytest.fixture
def fresh_parser(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty cache folder, and no parser built yet in this process."""
    monkeypatch.setenv("POLICYC_CACHE_DIR", str(tmp_path))
    lark_parser.cache_clear()
    yield tmp_path
    lark_parser.cache_clear()


def test_the_parser_tables_are_saved_and_read_back(fresh_parser: Path) -> None:
    built = lark_parser()
    [saved] = fresh_parser.glob("grammar-*.lark")
    written = saved.stat().st_mtime_ns
    lark_parser.cache_clear()
    loaded = lark_parser()
    assert loaded is not built
    assert saved.stat().st_mtime_ns == written  # read, not built and written again
    text = HOME_INFUSION.read_text(encoding="utf-8")
    assert loaded.parse(text) == built.parse(text)


def test_a_damaged_cache_file_is_rebuilt(fresh_parser: Path) -> None:
    lark_parser()
    [saved] = fresh_parser.glob("grammar-*.lark")
    saved.write_bytes(b"not a parser")
    lark_parser.cache_clear()
    policy = parse(SourceFile(str(HOME_INFUSION), HOME_INFUSION.read_text(encoding="utf-8")))
    assert policy.id == "home-infusion"
    assert saved.stat().st_size > len(b"not a parser")


def test_no_cache_folder_still_parses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POLICYC_CACHE_DIR", "")
    lark_parser.cache_clear()
    try:
        assert lark_parser().parse(HOME_INFUSION.read_text(encoding="utf-8")) is not None
    finally:
        lark_parser.cache_clear()
