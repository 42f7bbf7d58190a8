"""Tests for policyc.checks: each diagnostic fires on a bad policy and not on its near twin."""

from __future__ import annotations

import pytest

from policyc.checks import check
from policyc.compiler import check_source
from policyc.diagnostics import Diagnostic, DiagnosticSink, PolicyError
from policyc.parser import parse
from policyc.source import SourceFile

H = "policy p\n  plans all\n  effective 2025-01-01\n"
PER_DIEM = H + "codes per_diem = S9325..S9379\n"
SEQ = PER_DIEM + "rule r: sequence per_diem on the same day:\n"


def diagnose(text: str) -> list[Diagnostic]:
    """Every diagnostic the checks give for `text`, in the order a PolicyError prints them."""
    source = SourceFile("t.pol", text)
    sink = DiagnosticSink(source)
    check(parse(source), sink)
    return sorted(sink.diagnostics, key=Diagnostic.sort_key)


def summary(text: str) -> list[tuple[str, str, str]]:
    return [(d.code, text[d.span.start : d.span.end], d.message) for d in diagnose(text)]


# Each case: a policy with one problem, its near twin without it, and what the checks must say:
# the code, the exact text under the span, the message and (a part of) the help.
CASES = [
    # POL201 unknown code set
    pytest.param(
        PER_DIEM + "rule r: addon 99602 requires per_deim on the same day deny CO-107",
        PER_DIEM + "rule r: addon 99602 requires per_diem on the same day deny CO-107",
        "POL201",
        "per_deim",
        "unknown code set `per_deim`",
        "did you mean `per_diem`?",
        id="POL201-did-you-mean",
    ),
    pytest.param(
        H + "rule r: addon 99602 requires s9325 on the same day deny CO-107",
        H + "rule r: addon 99602 requires S9325 on the same day deny CO-107",
        "POL201",
        "s9325",
        "unknown code set `s9325`",
        "codes are written in upper case: `S9325`",
        id="POL201-lowercase-code",
    ),
    pytest.param(
        H + "rule r: when line.code in nursing deny CO-4",
        H + "codes nursing = 99601\nrule r: when line.code in nursing deny CO-4",
        "POL201",
        "nursing",
        "unknown code set `nursing`",
        "define it with `codes`",
        id="POL201-no-suggestion",
    ),
    pytest.param(
        H + "codes a = 99601 except gone\n",
        H + "codes gone = 99602\ncodes a = 99601 except gone\n",
        "POL201",
        "gone",
        "unknown code set `gone`",
        "define it with `codes`",
        id="POL201-in-except",
    ),
    # POL202 used before defined
    pytest.param(
        H + "rule r: bundle A4221 into per_diem on the same day deny CO-97\ncodes per_diem = S9325..S9379\n",
        H + "codes per_diem = S9325..S9379\nrule r: bundle A4221 into per_diem on the same day deny CO-97\n",
        "POL202",
        "per_diem",
        "code set `per_diem` is used before it is defined",
        "move its `codes` definition above this line",
        id="POL202-in-rule",
    ),
    pytest.param(
        H + "codes all_care = nursing, S9500\ncodes nursing = 99601\n",
        H + "codes nursing = 99601\ncodes all_care = nursing, S9500\n",
        "POL202",
        "nursing",
        "code set `nursing` is used before it is defined",
        "move its `codes` definition above this line",
        id="POL202-in-code-set",
    ),
    # POL203 defined twice
    pytest.param(
        H + "codes a = 99601\ncodes a = 99602\n",
        H + "codes a = 99601\ncodes b = 99602\n",
        "POL203",
        "a",
        "code set `a` is defined twice",
        "it is first defined on line 4; rename one of them",
        id="POL203",
    ),
    # POL204 duplicate rule id
    pytest.param(
        H
        + "rule r: limit 99601 to 4 units per day deny CO-151\n"
        + "rule r: limit 99602 to 2 units per day deny CO-151",
        H
        + "rule r: limit 99601 to 4 units per day deny CO-151\n"
        + "rule s: limit 99602 to 2 units per day deny CO-151",
        "POL204",
        "r",
        "rule id `r` is used twice",
        "the first rule `r` is on line 4; give each rule its own id",
        id="POL204",
    ),
    # POL205 empty range
    pytest.param(
        H + "codes a = S9379..S9325\n",
        H + "codes a = S9325..S9379\n",
        "POL205",
        "S9379..S9325",
        "the range `S9379..S9325` is empty",
        "write the lower code first: `S9325..S9379`",
        id="POL205",
    ),
    # POL206 malformed code
    pytest.param(
        H + "codes a = 9960\n",
        H + "codes a = 99601\n",
        "POL206",
        "9960",
        "`9960` is not a procedure code",
        "a CPT code has 5 digits",
        id="POL206-in-set",
    ),
    pytest.param(
        H + "rule r: limit J33700 to 2 units per line deny CO-151",
        H + "rule r: limit J3370 to 2 units per line deny CO-151",
        "POL206",
        "J33700",
        "`J33700` is not a procedure code",
        "HCPCS Level II code is a letter and 4 digits",
        id="POL206-in-rule",
    ),
    pytest.param(
        H + "codes a = S932..S9379\n",
        H + "codes a = S9320..S9379\n",
        "POL206",
        "S932..S9379",
        "`S932` is not a procedure code",
        "a CPT code has 5 digits",
        id="POL206-in-range",
    ),
    pytest.param(
        H + 'test "t": claim: line 1: 9960 expect line 1 paid',
        H + 'test "t": claim: line 1: 99601 expect line 1 paid',
        "POL206",
        "line 1: 9960",
        "`9960` is not a procedure code",
        "a CPT code has 5 digits",
        id="POL206-in-test",
    ),
    # POL207 mixed range
    pytest.param(
        H + "codes a = S9325..99601\n",
        H + "codes a = S9325..S9601\n",
        "POL207",
        "S9325..99601",
        "`S9325` and `99601` are codes of different kinds",
        "`S9325..S9379`",
        id="POL207-shapes",
    ),
    pytest.param(
        H + "codes a = A4221..E4221\n",
        H + "codes a = A4221..A4230\n",
        "POL207",
        "A4221..E4221",
        "`A4221` and `E4221` are codes of different kinds",
        "with the same letter",
        id="POL207-letters",
    ),
    # POL208 malformed modifier
    pytest.param(
        H + "rule r: when line has modifier SHX deny CO-4",
        H + "rule r: when line has modifier SH deny CO-4",
        "POL208",
        "SHX",
        "`SHX` is not a modifier",
        "a modifier has 2 letters or digits",
        id="POL208-condition",
    ),
    pytest.param(
        H + "rule r: pair 99601 with 99602 on the same day unless modifier 5 deny CO-97",
        H + "rule r: pair 99601 with 99602 on the same day unless modifier 59 deny CO-97",
        "POL208",
        "5",
        "`5` is not a modifier",
        "a modifier has 2 letters or digits",
        id="POL208-bypass",
    ),
    pytest.param(
        SEQ + "  1st without SH 2nd with SHH deny CO-4",
        SEQ + "  1st without SH 2nd with SH deny CO-4",
        "POL208",
        "SHH",
        "`SHH` is not a modifier",
        "a modifier has 2 letters or digits",
        id="POL208-rank",
    ),
    pytest.param(
        H + 'test "t": claim: line 1: 99601 SHX expect line 1 paid',
        H + 'test "t": claim: line 1: 99601 SH expect line 1 paid',
        "POL208",
        "line 1: 99601 SHX",
        "`SHX` is not a modifier",
        "a modifier has 2 letters or digits",
        id="POL208-test-line",
    ),
    # POL209 unknown group code, CARC or RARC
    pytest.param(
        H + "rule r: limit 99601 to 4 units per day deny XO-151",
        H + "rule r: limit 99601 to 4 units per day deny CO-151",
        "POL209",
        "XO-151",
        "unknown claim adjustment group code `XO`",
        "group codes are CO (contractual), CR, OA, PI and PR",
        id="POL209-group",
    ),
    pytest.param(
        H + "rule r: limit 99601 to 4 units per day deny CO-9999",
        H + "rule r: limit 99601 to 4 units per day deny CO-151",
        "POL209",
        "CO-9999",
        "unknown CARC `9999`",
        "claim adjustment reason code list",
        id="POL209-carc",
    ),
    pytest.param(
        H + "rule r: limit 99601 to 4 units per day cut back CO-151 N1222 appealable",
        H + "rule r: limit 99601 to 4 units per day cut back CO-151 N122 appealable",
        "POL209",
        "N1222",
        "unknown RARC `N1222`",
        "did you mean",
        id="POL209-rarc",
    ),
    pytest.param(
        H + 'test "t": claim: line 1: 99601 expect line 1 denied CO-9999',
        H + 'test "t": claim: line 1: 99601 expect line 1 denied CO-151',
        "POL209",
        "CO-9999",
        "unknown CARC `9999`",
        "claim adjustment reason code list",
        id="POL209-expectation",
    ),
    # POL210 header problems
    pytest.param(
        "policy p\n  effective 2025-01-01\n",
        "policy p\n  plans all\n  effective 2025-01-01\n",
        "POL210",
        "p",
        "policy `p` has no `plans` line",
        "add a line like `plans all` under the policy line",
        id="POL210-no-plans",
    ),
    pytest.param(
        "policy p\n  plans all\n",
        "policy p\n  plans all\n  effective 2025-01-01\n",
        "POL210",
        "p",
        "policy `p` has no `effective` line",
        "`effective 2025-01-01`",
        id="POL210-no-effective",
    ),
    pytest.param(
        H + "  claims professional, dental\n",
        H + "  claims professional\n",
        "POL210",
        "claims professional, dental",
        "`dental` is not a claim type",
        "write `claims professional`, `claims institutional` or both",
        id="POL210-claim-type",
    ),
    pytest.param(
        H + '  payer "A"\n  payer "B"\n',
        H + '  payer "A"\n',
        "POL210",
        'payer "B"',
        "`payer` is given twice",
        "keep one of them",
        id="POL210-twice",
    ),
    pytest.param(
        "policy p\n  plans all\n  effective 2025-01-01\n  plans medicaid\n",
        "policy p\n  plans all\n  effective 2025-01-01\n",
        "POL210",
        "plans medicaid",
        "`plans` is given twice",
        "keep one of them",
        id="POL210-plans-twice",
    ),
    pytest.param(
        "policy p\n  plans all, medicaid\n  effective 2025-01-01\n",
        "policy p\n  plans commercial, medicaid\n  effective 2025-01-01\n",
        "POL210",
        "plans all, medicaid",
        "`all` already covers every plan",
        "write `plans all` alone",
        id="POL210-all-with-others",
    ),
    # POL211 dates reversed
    pytest.param(
        "policy p\n  plans all\n  effective 2025-12-31 until 2025-01-01\n",
        "policy p\n  plans all\n  effective 2025-01-01 until 2025-12-31\n",
        "POL211",
        "effective 2025-12-31 until 2025-01-01",
        "the dates end (2025-01-01) before they start (2025-12-31)",
        "swap the dates",
        id="POL211-policy",
    ),
    pytest.param(
        H + "rule r: limit 99601 to 4 units per day deny CO-151 effective 2025-06-01 until 2025-05-31",
        H + "rule r: limit 99601 to 4 units per day deny CO-151 effective 2025-06-01 until 2025-06-01",
        "POL211",
        "effective 2025-06-01 until 2025-05-31",
        "the dates end (2025-05-31) before they start (2025-06-01)",
        "correct the `until` date",
        id="POL211-rule",
    ),
    # POL212 no action, two actions
    pytest.param(
        H + 'rule r: limit 99601 to 4 units per day rationale "MUE"',
        H + 'rule r: limit 99601 to 4 units per day rationale "MUE" deny CO-151',
        "POL212",
        "r",
        "rule `r` has no action",
        "end the rule with an action",
        id="POL212-none",
    ),
    pytest.param(
        H + 'rule r: limit 99601 to 4 units per day deny CO-151 review "look"',
        H + 'rule r: limit 99601 to 4 units per day review "look"',
        "POL212",
        'review "look"',
        "rule `r` has more than one action",
        "keep one action",
        id="POL212-two",
    ),
    # POL213 cut back outside a limit
    pytest.param(
        H + "rule r: bundle A4221 into S9500 on the same day cut back CO-97",
        H + "rule r: bundle A4221 into S9500 on the same day deny CO-97",
        "POL213",
        "cut back CO-97",
        "only a `limit` rule can cut back units",
        "use `deny` for this rule",
        id="POL213",
    ),
    # POL214 missing scope, one per rule kind that needs one
    pytest.param(
        H + "rule r: addon 99602 requires 99601 deny CO-107",
        H + "rule r: addon 99602 requires 99601 on the same day deny CO-107",
        "POL214",
        "addon 99602 requires 99601",
        "this addon rule does not say which lines it looks at together",
        "add a scope such as `on the same day by the same provider`",
        id="POL214-addon",
    ),
    pytest.param(
        H + "rule r: bundle A4221 into S9500 deny CO-97",
        H + "rule r: bundle A4221 into S9500 by the same provider deny CO-97",
        "POL214",
        "bundle A4221 into S9500",
        "this bundle rule does not say which lines it looks at together",
        "add a scope",
        id="POL214-bundle",
    ),
    pytest.param(
        H + "rule r: pair 99601 with 99602 unless modifier 59 deny CO-97",
        H + "rule r: pair 99601 with 99602 on the same claim unless modifier 59 deny CO-97",
        "POL214",
        "pair 99601 with 99602 unless modifier 59",
        "this pair rule does not say which lines it looks at together",
        "add a scope",
        id="POL214-pair",
    ),
    pytest.param(
        PER_DIEM + "rule r: sequence per_diem: 1st without SH 2nd with SH deny CO-4",
        PER_DIEM + "rule r: sequence per_diem on the same day: 1st without SH 2nd with SH deny CO-4",
        "POL214",
        "sequence per_diem: 1st without SH 2nd with SH",
        "this sequence rule does not say which lines it looks at together",
        "add a scope",
        id="POL214-sequence",
    ),
    # POL215 per-line limit with a provider
    pytest.param(
        H + "rule r: limit 99601 to 4 units per line by the same provider deny CO-151",
        H + "rule r: limit 99601 to 4 units per day by the same provider deny CO-151",
        "POL215",
        "limit 99601 to 4 units per line by the same provider",
        "a per-line limit already looks at one line only",
        "drop `by the same provider`",
        id="POL215",
    ),
    # POL216 rank problems
    pytest.param(
        SEQ + "  1st without SH 3rd with SH deny CO-4",
        SEQ + "  1st without SH 2nd with SH deny CO-4",
        "POL216",
        "3rd with SH",
        "rank 3 is out of order",
        "this one should be rank 2",
        id="POL216-order",
    ),
    pytest.param(
        SEQ + "  1st without SH, SJ 2nd+ with SH 3rd with SJ deny CO-4",
        SEQ + "  1st without SH, SJ 2nd with SH 3rd+ with SJ deny CO-4",
        "POL216",
        "2nd+ with SH",
        "only the last rank can be open-ended (`+`)",
        "move it last",
        id="POL216-open-ended",
    ),
    pytest.param(
        SEQ + "  1st without SH, SJ 2nd with SH 3rd with SH deny CO-4",
        SEQ + "  1st without SH, SJ 2nd with SH 3rd with SJ deny CO-4",
        "POL216",
        "3rd with SH",
        "two ranks ask for the same modifiers",
        "each rank needs its own modifiers",
        id="POL216-same-modifiers",
    ),
    pytest.param(
        SEQ + "  1st without SH 2st with SH deny CO-4",
        SEQ + "  1st without SH 2nd with SH deny CO-4",
        "POL216",
        "2st with SH",
        "`2st` is not an ordinal",
        "write `2nd`",
        id="POL216-suffix",
    ),
    # POL217 field problems
    pytest.param(
        H + "rule r: when line.unit > 2 deny CO-4",
        H + "rule r: when line.units > 2 deny CO-4",
        "POL217",
        "line.unit",
        "unknown field `line.unit`",
        "did you mean `line.units`?",
        id="POL217-unknown",
    ),
    pytest.param(
        H + 'rule r: when member.age = "12" deny CO-4',
        H + "rule r: when member.age = 12 deny CO-4",
        "POL217",
        '"12"',
        "`member.age` holds a number, not a string",
        "write the value as a number",
        id="POL217-number-vs-string",
    ),
    pytest.param(
        H + 'rule r: when claim.place_of_service in (12, "49") deny CO-4',
        H + 'rule r: when claim.place_of_service in ("12", "49") deny CO-4',
        "POL217",
        "12",
        "`claim.place_of_service` holds a string, not a number",
        'quoted text (like "12")',
        id="POL217-string-vs-number",
    ),
    pytest.param(
        H + 'rule r: when line.code = "99601" deny CO-4',
        H + "rule r: when line.code in 99601 deny CO-4",
        "POL217",
        '"99601"',
        "`line.code` holds a code, not a string",
        "compare codes with a code set",
        id="POL217-code-vs-string",
    ),
    pytest.param(
        H + "rule r: when line.units in 99601 deny CO-4",
        H + "rule r: when line.units in (3) deny CO-4",
        "POL217",
        "99601",
        "`line.units` holds a number, not a code",
        "`line.units in (...)`",
        id="POL217-number-in-codes",
    ),
    pytest.param(
        H + 'rule r: when claim.plan < "m" deny CO-4',
        H + 'rule r: when claim.plan != "m" deny CO-4',
        "POL217",
        'claim.plan < "m"',
        "`claim.plan` cannot be compared with `<`",
        "use `=`, `!=` or `in (...)`",
        id="POL217-ordering-on-text",
    ),
    # POL218 empty set
    pytest.param(
        H + "codes a = S9325 except S9325\n",
        H + "codes a = S9325, S9326 except S9325\n",
        "POL218",
        "a",
        "code set `a` holds no code",
        "check what `except` removes",
        id="POL218",
    ),
    pytest.param(
        H + "codes a = S9325..S9330 except S9320..S9339\n",
        H + "codes a = S9325..S9340 except S9320..S9339\n",
        "POL218",
        "a",
        "code set `a` holds no code",
        "check what `except` removes",
        id="POL218-ranges",
    ),
    # POL219 duplicate clause
    pytest.param(
        H + 'rule r: limit 99601 to 4 units per day rationale "a" rationale "b" deny CO-151',
        H + 'rule r: limit 99601 to 4 units per day rationale "a" deny CO-151',
        "POL219",
        'rationale "b"',
        "this clause is given twice in the rule",
        "keep one of them",
        id="POL219-rationale",
    ),
    pytest.param(
        H + "rule r: limit 99601 to 4 units per day deny CO-151 effective 2025-02-01 effective 2025-03-01",
        H + "rule r: limit 99601 to 4 units per day deny CO-151 effective 2025-02-01 until 2025-03-01",
        "POL219",
        "effective 2025-03-01",
        "this clause is given twice in the rule",
        "keep one of them",
        id="POL219-effective",
    ),
    # POL220 test-block problems
    pytest.param(
        H + 'test "t": claim: line 1: 99601 claim: line 1: 99602 expect line 1 paid',
        H + 'test "t": claim: line 1: 99601 claim: line 2: 99602 expect line 1 paid',
        "POL220",
        "line 1: 99602",
        "line 1 appears twice in the test",
        "give each line of a test its own number",
        id="POL220-duplicate-line",
    ),
    pytest.param(
        H + 'test "t": claim: line 1: 99601 expect line 2 paid',
        H + 'test "t": claim: line 1: 99601 line 2: 99601 expect line 2 paid',
        "POL220",
        "expect line 2 paid",
        "the test has no line 2",
        "expect only lines the test's claims hold",
        id="POL220-no-such-line",
    ),
    # POL221 a rule dated outside its policy
    pytest.param(
        H + "rule r: limit 99601 to 1 unit per line deny CO-151 effective 2024-01-01 until 2024-06-30",
        H + "rule r: limit 99601 to 1 unit per line deny CO-151 effective 2025-01-01 until 2025-06-30",
        "POL221",
        "effective 2024-01-01 until 2024-06-30",
        "the rule's dates lie outside its policy's dates, so it never applies",
        "move the rule's dates inside them",
        id="POL221-outside-policy",
    ),
]


@pytest.mark.parametrize(("bad", "good", "code", "underlined", "message", "help_part"), CASES)
def test_diagnostic_fires(
    bad: str, good: str, code: str, underlined: str, message: str, help_part: str | None
) -> None:
    [diagnostic] = diagnose(bad)
    assert (diagnostic.code, bad[diagnostic.span.start : diagnostic.span.end], diagnostic.message) == (
        code,
        underlined,
        message,
    )
    if help_part is None:
        assert not diagnostic.help
    else:
        assert diagnostic.help is not None and help_part in diagnostic.help


@pytest.mark.parametrize(("bad", "good", "code", "underlined", "message", "help_part"), CASES)
def test_near_twin_is_clean(
    bad: str, good: str, code: str, underlined: str, message: str, help_part: str | None
) -> None:
    assert diagnose(good) == []


def test_every_code_the_checks_emit_has_a_case() -> None:
    import re
    from pathlib import Path

    emitted = set(re.findall(r'"(POL2\d\d)"', Path("policyc/checks.py").read_text(encoding="utf-8")))
    covered = {param.values[2] for param in CASES}
    assert emitted <= covered, f"no case for {sorted(emitted - covered)}"


def test_the_seed_policies_are_clean() -> None:
    for path in ("policies/payer/home-infusion.pol", "policies/medicaid/mue-home-infusion-2026q1.pol"):
        with open(path, encoding="utf-8") as handle:
            assert diagnose(handle.read()) == [], path


def test_an_unknown_set_is_reported_once_not_again_as_empty() -> None:
    assert summary(H + "codes a = b\n") == [("POL201", "b", "unknown code set `b`")]


def test_a_malformed_range_reports_each_bad_end() -> None:
    text = H + "codes a = S93..S9\n"
    assert summary(text) == [
        ("POL206", "S93..S9", "`S93` is not a procedure code"),
        ("POL206", "S93..S9", "`S9` is not a procedure code"),
    ]


def test_every_problem_of_a_file_is_reported_at_once_sorted_by_position() -> None:
    text = (
        "policy p\n"  # 1
        "  plans all, medicaid\n"  # 2: POL210
        "  effective 2025-01-01\n"  # 3
        "codes per_diem = S9379..S9325\n"  # 4: POL205
        "rule r: bundle A4221 into per_deim on the same day\n"  # 5: POL201 at per_deim, POL212 at r
        "rule s: when line.unit > 2 deny CO-4\n"  # 6: POL217
    )
    with pytest.raises(PolicyError) as raised:
        check_source(SourceFile("t.pol", text))
    found = [
        (d.code, text[d.span.start : d.span.end], SourceFile("t.pol", text).position(d.span.start).line)
        for d in raised.value.diagnostics
    ]
    # The checks report POL201 before POL212 (body before clauses); the error sorts them by position.
    assert found == [
        ("POL210", "plans all, medicaid", 2),
        ("POL205", "S9379..S9325", 4),
        ("POL212", "r", 5),
        ("POL201", "per_deim", 5),
        ("POL217", "line.unit", 6),
    ]
    assert raised.value.render().endswith("\n\n5 errors: nothing was compiled")


def test_a_duplicate_code_set_is_still_checked() -> None:
    text = H + "codes a = 99601\ncodes a = S9325 except S9325\nrule r: limit a to 1 unit per line deny CO-151"
    assert summary(text) == [
        ("POL203", "a", "code set `a` is defined twice"),
        ("POL218", "a", "code set `a` holds no code"),
    ]
    assert diagnose(text)[0].span.start == text.index("a = S9325")


def test_each_wrong_value_in_a_list_is_reported() -> None:
    text = H + "rule r: when claim.place_of_service in (12, 49) deny CO-4"
    assert [(code, underlined) for code, underlined, _ in summary(text)] == [
        ("POL217", "12"),
        ("POL217", "49"),
    ]


def test_a_rule_dated_outside_its_policy_is_reported() -> None:
    text = (
        "policy p plans all effective 2025-01-01\n"
        "rule r: limit 99601 to 1 unit per line deny CO-151 effective 2024-01-01 until 2024-06-30"
    )
    assert [d.code for d in diagnose(text)] != []


def test_a_code_set_naming_itself_is_not_told_to_move_above_itself() -> None:
    text = H + "codes per_diem = per_diem, S9325..S9379\n"
    [diagnostic] = diagnose(text)
    assert text[diagnostic.span.start : diagnostic.span.end] == "per_diem"
    assert "before it is defined" not in diagnostic.message
    assert diagnostic.help is not None and "above this line" not in diagnostic.help
