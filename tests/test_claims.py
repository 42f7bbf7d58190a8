"""Tests of the claim model: validation of one decoded claim, its round trip, and agreement with the schemas."""

from __future__ import annotations

import copy
import datetime
import functools
import json
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from policyc.claimfile import decode_json
from policyc.claims import (
    CLAIM_FIELDS,
    LINE_FIELDS,
    MOST_WHOLE,
    Claim,
    ClaimError,
    ClaimRejected,
    Line,
    Rejection,
    claim_from_mapping,
    parse_claim,
)
from policyc.codes import CODE_SHAPE_HELP, MODIFIER_SHAPE_HELP
from policyc.results import ClaimResult, Finding, LineResult

DOCS = Path(__file__).resolve().parent.parent / "docs"


def base_claim() -> dict[str, Any]:
    return {
        "claim_id": "C-1",
        "plan": "acme-ppo",
        "member_id": "M-100",
        "billing_provider": "1234567893",
        "lines": [{"line": 1, "code": "99601", "units": 1, "date": "2026-01-05"}],
    }


def full_claim() -> dict[str, Any]:
    return {
        "claim_id": "C-2",
        "claim_type": "institutional",
        "plan": "acme-ppo",
        "member_id": "M-100",
        "billing_provider": "1234567893",
        "member_birth_date": "1980-02-29",
        "member_sex": "F",
        "rendering_provider": "1679576722",
        "place_of_service": "12",
        "diagnoses": ["Z79.2", "E11.9"],
        "lines": [
            {
                "line": 3,
                "code": "S9325",
                "modifiers": ["SH", "59"],
                "units": 2,
                "date": "2026-01-05",
                "date_to": "2026-01-07",
                "rendering_provider": "1234567893",
                "place_of_service": "02",
                "charge": "180.10",
                "ndc": "00409-4888-02",
            },
            {"line": 1, "code": "99601", "units": 1, "date": "2026-01-05"},
        ],
    }


def rejected(data: object) -> Rejection:
    parsed = parse_claim(data)
    assert isinstance(parsed, Rejection), f"expected a rejection, got {parsed}"
    return parsed


def accepted(data: object) -> Claim:
    parsed = parse_claim(data)
    assert isinstance(parsed, Claim), f"expected a claim, got {parsed}"
    return parsed


def errors_of(data: object) -> dict[str, str]:
    return {e.field: e.reason for e in rejected(data).errors}


def with_line(**fields: Any) -> dict[str, Any]:
    claim = base_claim()
    claim["lines"][0].update(fields)
    return claim


# -- valid claims ------------------------------------------------------------------------------------------


def test_minimal_claim_has_defaults() -> None:
    claim = accepted(base_claim())
    assert claim.claim_type == "professional"
    assert claim.lines == (Line(1, "99601", (), 1, datetime.date(2026, 1, 5)),)
    assert claim.diagnoses == () and claim.member_sex is None and claim.lines[0].charge is None


def test_full_claim_reads_every_field() -> None:
    claim = accepted(full_claim())
    line = claim.line_by_number(3)
    assert line.modifiers == ("SH", "59")
    assert line.date_to == datetime.date(2026, 1, 7)
    assert line.charge == Decimal("180.10") and str(line.charge) == "180.10"
    assert claim.member_birth_date == datetime.date(1980, 2, 29)
    assert claim.diagnoses == ("Z79.2", "E11.9")
    assert [l.line for l in claim.lines] == [3, 1]  # order on the claim is kept


def test_to_dict_round_trips_and_has_every_key() -> None:
    claim = accepted(full_claim())
    data = claim.to_dict()
    assert set(data) == set(CLAIM_FIELDS)
    for line in data["lines"]:  # type: ignore[attr-defined]
        assert set(line) == set(LINE_FIELDS)
    assert data["lines"][0]["charge"] == "180.10"  # type: ignore[index]
    assert data["member_birth_date"] == "1980-02-29"
    # Through JSON text too, as a file would carry it.
    assert parse_claim(json.loads(json.dumps(data))) == claim
    assert accepted(base_claim()).to_dict()["lines"][0]["date_to"] is None  # type: ignore[index]


def test_strings_are_stripped_and_codes_upper_cased() -> None:
    claim = accepted(
        {
            **base_claim(),
            "claim_id": "  C-9 ",
            "plan": " ACME-PPO ",
            "lines": [
                {"line": 1, "code": " s9325 ", "modifiers": ["sh", " 59 "], "units": 1, "date": "2026-01-05"}
            ],
        }
    )
    assert (claim.claim_id, claim.plan) == ("C-9", "acme-ppo")
    assert (claim.lines[0].code, claim.lines[0].modifiers) == ("S9325", ("SH", "59"))


def test_a_lines_code_is_interned_however_the_line_is_made() -> None:
    # Table lookups then compare pointers (tables.with_interned_codes); a parsed code is a new string each time.
    claim = accepted({**base_claim(), "lines": [{"line": 1, "code": "s9325", "units": 1, "date": "2026-01-05"}]})
    assert claim.lines[0].code is sys.intern("S9325")
    made = Line(1, "".join(["S93", "25"]), (), 1, datetime.date(2026, 1, 5))
    assert made.code is sys.intern("S9325") and attrs.evolve(made, line=2).code is made.code


def test_optional_fields_may_be_null_or_blank() -> None:
    claim = accepted(
        {
            **base_claim(),
            "member_sex": None,
            "place_of_service": "",
            "diagnoses": None,
            "rendering_provider": " ",
        }
    )
    assert claim.member_sex is None and claim.place_of_service is None and claim.rendering_provider is None
    line = accepted(with_line(modifiers=None, charge="", date_to="", ndc=None)).lines[0]
    assert line.modifiers == () and line.charge is None and line.date_to is None


@pytest.mark.parametrize(
    ("given", "expected"),
    [("12", "12"), (12, "12"), (2, "02"), (" 11 ", "11"), (0, "00"), (99, "99")],
)
def test_place_of_service(given: object, expected: str) -> None:
    assert accepted(with_line(place_of_service=given)).lines[0].place_of_service == expected


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("180.00", "180.00"),
        (180, "180"),
        (180.1, "180.1"),  # a float is read as its shortest decimal text, not its binary value
        (Decimal("180.10"), "180.10"),
        (0, "0"),
        (-0.0, "0.0"),
        ("1E+2", "1E+2"),
    ],
)
def test_charge_is_an_exact_decimal(given: object, expected: str) -> None:
    charge = accepted(with_line(charge=given)).lines[0].charge
    assert isinstance(charge, Decimal) and str(charge) == expected


def test_unknown_keys_that_are_no_near_miss_are_ignored() -> None:
    claim = accepted({**base_claim(), "notes": "call back", "x_vendor": 1})
    assert claim == accepted(base_claim())


def test_line_by_number_raises_for_a_missing_line() -> None:
    with pytest.raises(KeyError, match="no line 9"):
        accepted(base_claim()).line_by_number(9)


# -- rejections --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("record", "kind"), [([], "array"), ("C-1", "string"), (5, "number"), (None, "null"), (True, "boolean")]
)
def test_a_record_that_is_no_object(record: object, kind: str) -> None:
    assert parse_claim(record) == Rejection(
        None, (ClaimError("", f"a claim must be a JSON object, got {kind}"),)
    )


@pytest.mark.parametrize("field", ["claim_id", "plan", "member_id", "billing_provider", "lines"])
def test_required_claim_fields(field: str) -> None:
    claim = base_claim()
    del claim[field]
    assert errors_of(claim) == {field: "is required"}
    claim[field] = None
    assert errors_of(claim) == {field: "is required"}


@pytest.mark.parametrize("field", ["line", "code", "units", "date"])
def test_required_line_fields(field: str) -> None:
    claim = base_claim()
    del claim["lines"][0][field]
    assert errors_of(claim) == {f"lines[0].{field}": "is required"}


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("claim_id", "  ", "must not be empty"),
        ("claim_id", 17, "must be a string, got number"),
        ("member_id", ["M"], "must be a string, got array"),
        ("plan", {"id": "x"}, "must be a string, got object"),
        ("claim_type", "dental", "must be one of 'professional', 'institutional', got 'dental'"),
        ("member_sex", "X", "must be one of 'F', 'M', 'U', got 'X'"),
        ("member_birth_date", "1981-02-29", "must be a date as yyyy-mm-dd, got '1981-02-29'"),
        ("place_of_service", "123", "must be a 2-digit place of service code like '11', got '123'"),
        ("diagnoses", "Z79.2", "must be an array of diagnosis codes, got string"),
        ("lines", [], "must hold at least one line"),
        ("lines", {"line": 1}, "must be an array of lines, got object"),
    ],
)
def test_claim_field_reasons(field: str, value: object, reason: str) -> None:
    assert errors_of({**base_claim(), field: value}) == {field: reason}


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("units", 0, "must be a positive whole number, got 0"),
        ("units", -3, "must be a positive whole number, got -3"),
        ("units", 1.5, "must be a positive whole number, got 1.5"),
        ("units", Decimal("2.0"), "must be a positive whole number without a decimal point, got 2.0"),
        ("units", "2", "must be a positive whole number, got string"),
        ("units", True, "must be a positive whole number, got boolean"),
        ("line", 0, "must be a positive whole number, got 0"),
        ("date", "2026-13-01", "must be a date as yyyy-mm-dd, got '2026-13-01'"),
        ("date", "20260105", "must be a date as yyyy-mm-dd, got '20260105'"),
        ("date", 20260105, "must be a date as yyyy-mm-dd, got number"),
        ("date_to", "2026-01-04", "must not be before the line's date 2026-01-05, got '2026-01-04'"),
        ("modifiers", "59", "must be an array of modifiers, got string"),
        ("modifiers", ["59", "XU", "GT", "25", "LT"], "at most 4 modifiers per line, got 5"),
        ("charge", "-5.00", "must not be negative, got '-5.00'"),
        ("charge", -1, "must not be negative, got -1"),
        ("charge", "$180", "must be an amount like '180.00', got '$180'"),
        ("charge", float("nan"), "must be an amount like '180.00', got nan"),
        ("charge", True, "must be an amount like '180.00', got boolean"),
        ("place_of_service", 100, "must be a 2-digit place of service code like '11', got 100"),
        ("place_of_service", True, "must be a 2-digit place of service code like '11', got boolean"),
        ("ndc", 409488802, "must be a string, got number"),
    ],
)
def test_line_field_reasons(field: str, value: object, reason: str) -> None:
    assert errors_of(with_line(**{field: value})) == {f"lines[0].{field}": reason}


def test_malformed_code_explains_the_shapes() -> None:
    reason = errors_of(with_line(code="9960"))["lines[0].code"]
    assert reason.startswith("must be a CPT or HCPCS Level II code, got '9960'")
    assert CODE_SHAPE_HELP in reason


def test_digits_of_other_scripts_are_no_code() -> None:
    # `\d` in codes.code_shape matches these; the reader must not.
    assert "lines[0].code" in errors_of(with_line(code="٩٩٦٠١"))


def test_each_bad_modifier_is_named_by_its_index() -> None:
    errors = errors_of(with_line(modifiers=["59", "X", 5, ""]))
    assert errors == {
        "lines[0].modifiers[1]": f"must be a modifier, got 'X': {MODIFIER_SHAPE_HELP}",
        "lines[0].modifiers[2]": "must be a string, got number",
        "lines[0].modifiers[3]": "must not be empty",
    }


def test_five_bad_modifiers_report_the_count_and_each_one() -> None:
    errors = errors_of(with_line(modifiers=["a", "59", "XU", "GT", "25"]))
    assert errors["lines[0].modifiers"] == "at most 4 modifiers per line, got 5"
    assert "lines[0].modifiers[0]" in errors


def test_duplicate_line_number_is_reported_on_the_later_line() -> None:
    claim = base_claim()
    line = claim["lines"][0]
    claim["lines"] = [line, {**line, "line": 2}, {**line, "units": 0}]
    assert errors_of(claim) == {
        "lines[2].units": "must be a positive whole number, got 0",
        "lines[2].line": "line number 1 is already used by lines[0]",
    }


def test_a_line_that_is_no_object() -> None:
    claim = base_claim()
    claim["lines"].append("99601")
    assert errors_of(claim) == {"lines[1]": "a line must be a JSON object, got string"}


@pytest.mark.parametrize(
    ("key", "path", "known"),
    [
        ("modifers", "lines[0].modifers", "modifiers"),
        ("Units", "lines[0].Units", "units"),
        ("chrage", "lines[0].chrage", "charge"),
        ("diagnosis", "diagnosis", "diagnoses"),
        ("member_birthdate", "member_birthdate", "member_birth_date"),
    ],
)
def test_near_miss_keys_are_errors(key: str, path: str, known: str) -> None:
    claim = base_claim()
    target = claim["lines"][0] if path.startswith("lines") else claim
    target[key] = ["59"] if known == "modifiers" else "x"
    assert errors_of(claim) == {path: f"unknown field `{key}`; did you mean `{known}`?"}


def test_every_problem_is_reported_at_once() -> None:
    claim = {
        "claim_id": "C-7",
        "plan": "",
        "member_id": 5,
        "member_sex": "female",
        "lines": [
            {"line": 1, "code": "9960", "units": 0, "date": "2026-13-01", "modifers": ["59"]},
            {"line": 1, "code": "99601", "units": 1.5, "date": "2026-01-01", "charge": "-1"},
        ],
    }
    rejection = rejected(claim)
    assert rejection.claim_id == "C-7"
    assert [e.field for e in rejection.errors] == [
        "plan",
        "member_id",
        "billing_provider",
        "member_sex",
        "lines[0].code",
        "lines[0].units",
        "lines[0].date",
        "lines[0].modifers",
        "lines[1].units",
        "lines[1].charge",
        "lines[1].line",
    ]


@pytest.mark.parametrize(("claim_id", "expected"), [(" C-3 ", "C-3"), (42, None), ("", None), (None, None)])
def test_rejection_keeps_a_readable_claim_id(claim_id: object, expected: str | None) -> None:
    claim = {**base_claim(), "claim_id": claim_id, "lines": []}
    assert rejected(claim).claim_id == expected


def test_claim_from_mapping() -> None:
    assert claim_from_mapping(base_claim()) == accepted(base_claim())
    with pytest.raises(ClaimRejected) as caught:
        claim_from_mapping({**base_claim(), "plan": "", "lines": [{"line": 1}]})
    assert isinstance(caught.value, ValueError)
    assert [e.field for e in caught.value.rejection.errors] == [
        "plan",
        "lines[0].code",
        "lines[0].units",
        "lines[0].date",
    ]
    assert str(caught.value).splitlines() == [
        "claim `C-1` was rejected:",
        "  plan: must not be empty",
        "  lines[0].code: is required",
        "  lines[0].units: is required",
        "  lines[0].date: is required",
    ]


# -- the claim schema agrees with the reader ---------------------------------------------------------------


@functools.cache
def claim_validator() -> Draft202012Validator:
    schema = json.loads((DOCS / "claim.schema.json").read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def variant(where: str, key: str, value_json: str | None) -> dict[str, Any]:
    """The full claim with one field set to a JSON value (decoded as files are) or, for None, removed."""
    claim = copy.deepcopy(full_claim())
    target = claim if where == "claim" else claim["lines"][0]
    if value_json is None:
        del target[key]
    else:
        target[key] = decode_json(value_json)
    return claim


VALID = [
    ("claim", "claim_type", '"professional"'),
    ("claim", "claim_type", '" institutional "'),
    ("claim", "claim_type", None),
    ("claim", "claim_type", '""'),
    ("claim", "claim_id", '" C-1 "'),
    ("claim", "member_sex", '"U"'),
    ("claim", "member_sex", "null"),
    ("claim", "member_birth_date", '""'),
    ("claim", "place_of_service", "11"),
    ("claim", "place_of_service", "2"),
    ("claim", "place_of_service", '" 02 "'),
    ("claim", "diagnoses", "[]"),
    ("claim", "notes", '"anything"'),
    ("line", "code", '"s9325"'),
    ("line", "code", '" 0001f "'),
    ("line", "code", '"99601"'),
    ("line", "modifiers", "[]"),
    ("line", "modifiers", '["sh", "59", "XU", "gt"]'),
    ("line", "modifiers", "null"),
    ("line", "units", "1"),
    ("line", "units", "999999999999999"),
    ("line", "line", "999999999999999"),
    ("line", "date_to", '"2026-01-05"'),
    ("line", "date_to", None),
    ("line", "charge", "180.10"),
    ("line", "charge", "0"),
    ("line", "charge", '"0.00"'),
    ("line", "charge", '"1e3"'),
    ("line", "charge", "1e3"),
    ("line", "charge", '" "'),
    ("line", "place_of_service", "99"),
    ("line", "ndc", '""'),
]

INVALID = [
    ("claim", "claim_id", None),
    ("claim", "claim_id", '""'),
    ("claim", "claim_id", '"   "'),
    ("claim", "claim_id", "17"),
    ("claim", "claim_id", "null"),
    ("claim", "plan", '""'),
    ("claim", "member_id", None),
    ("claim", "billing_provider", "1234567893"),
    ("claim", "claim_type", '"Professional"'),
    ("claim", "claim_type", '"dental"'),
    ("claim", "member_sex", '"f"'),
    ("claim", "member_birth_date", '"1981-02-29"'),
    ("claim", "member_birth_date", '"1980-2-29"'),
    ("claim", "place_of_service", '"1"'),
    ("claim", "place_of_service", "100"),
    ("claim", "place_of_service", "-1"),
    ("claim", "place_of_service", "12.0"),
    ("claim", "place_of_service", "true"),
    ("claim", "diagnoses", '"Z79.2"'),
    ("claim", "diagnoses", '[""]'),
    ("claim", "diagnoses", "[5]"),
    ("claim", "lines", "[]"),
    ("claim", "lines", "{}"),
    ("claim", "lines", '"99601"'),
    ("line", "line", "0"),
    ("line", "line", '"1"'),
    ("line", "line", "1.0"),
    ("line", "code", '"9960"'),
    ("line", "code", '"99601A"'),
    ("line", "code", '"٩٩٦٠١"'),
    ("line", "code", "99601"),
    ("line", "code", None),
    ("line", "modifiers", '["59", "XU", "GT", "25", "LT"]'),
    ("line", "modifiers", '["a"]'),
    ("line", "modifiers", '[""]'),
    ("line", "modifiers", "[59]"),
    ("line", "modifiers", '"59"'),
    ("line", "units", "0"),
    ("line", "units", "-1"),
    ("line", "units", "1.5"),
    ("line", "units", "2.0"),
    ("line", "units", '"2"'),
    ("line", "units", "true"),
    ("line", "units", "1000000000000000"),
    ("line", "units", "9223372036854775808"),
    ("line", "line", "1000000000000000"),
    ("line", "date", '"2026-13-01"'),
    ("line", "date", '"2026-02-30"'),
    ("line", "date", '"20260105"'),
    ("line", "date", '" 2026-01-05"'),
    ("line", "date", '""'),
    ("line", "date", "20260105"),
    ("line", "date_to", '"2026-01-32"'),
    ("line", "charge", "-1"),
    ("line", "charge", '"-1.00"'),
    ("line", "charge", '"-0"'),
    ("line", "charge", '"abc"'),
    ("line", "charge", '"1,000.00"'),
    ("line", "charge", '"NaN"'),
    ("line", "charge", "true"),
    ("line", "place_of_service", '"ab"'),
    ("line", "ndc", "409488802"),
]

# Rules the schema cannot state, which only the reader enforces (the schema's $comment lists them).
READER_ONLY = [
    ("line", "line", "1"),  # the full claim's other line is numbered 1 too
    ("line", "date_to", '"2026-01-04"'),
    ("line", "modifers", '["59"]'),
    ("claim", "Plan", '"x"'),
]


@pytest.mark.parametrize(("where", "key", "value"), VALID)
def test_schema_and_reader_both_accept(where: str, key: str, value: str | None) -> None:
    claim = variant(where, key, value)
    assert isinstance(parse_claim(claim), Claim)
    assert claim_validator().is_valid(claim)


@pytest.mark.parametrize(("where", "key", "value"), INVALID)
def test_schema_and_reader_both_reject(where: str, key: str, value: str | None) -> None:
    claim = variant(where, key, value)
    assert isinstance(parse_claim(claim), Rejection)
    assert not claim_validator().is_valid(claim)


@pytest.mark.parametrize(("where", "key", "value"), READER_ONLY)
def test_rules_only_the_reader_enforces(where: str, key: str, value: str | None) -> None:
    claim = variant(where, key, value)
    assert isinstance(parse_claim(claim), Rejection)
    assert claim_validator().is_valid(claim)


@pytest.mark.parametrize("record", ["[]", '"C-1"', "5", "null"])
def test_schema_rejects_a_record_that_is_no_object(record: str) -> None:
    assert not claim_validator().is_valid(decode_json(record))


def test_the_full_sample_is_valid_to_both() -> None:
    assert isinstance(parse_claim(full_claim()), Claim)
    claim_validator().validate(full_claim())


# -- the result schema agrees with results.py --------------------------------------------------------------


@functools.cache
def result_validator() -> Draft202012Validator:
    schema = json.loads((DOCS / "result.schema.json").read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def finding(action: str) -> Finding:
    review = action == "review"
    return Finding(
        rule="home-infusion/per-diem-limit",
        kind="limit",
        action=action,
        group=None if review else "CO",
        carc=None if review else "119",
        rarc=() if review else ("N362",),
        appealable=not review,
        message="at most 1 unit of S9325 per day",
        source="policies/home-infusion.pol:14",
    )


def test_result_schema_accepts_processed_and_rejected_results() -> None:
    validator = result_validator()
    lines = (
        LineResult(1, "S9325", 2, 1, "reduced", (finding("cut back"),)),
        LineResult(2, "99601", 1, 0, "denied", (finding("deny"), finding("review"))),
        LineResult(3, "99602", 1, 1, "paid", ()),
    )
    validator.validate(ClaimResult("C-1", "processed", lines).to_dict())
    rejection = rejected({"claim_id": 5})
    validator.validate(ClaimResult(rejection.claim_id, "rejected", (), rejection.errors).to_dict())


@pytest.mark.parametrize(
    "change",
    [
        lambda r: r.update(status="done"),
        lambda r: r.update(errors=[{"field": "", "reason": "x"}]),  # processed with errors
        lambda r: r["lines"][0].update(status="ok"),
        lambda r: r["lines"][0]["findings"][0].update(group=None),  # a deny without its group
        lambda r: r["lines"][0]["findings"][0].update(kind="other"),
        lambda r: r["lines"][0]["findings"][0].pop("source"),
        lambda r: r.update(status="rejected"),  # rejected but with lines and no errors
    ],
)
def test_result_schema_rejects_malformed_results(change: Any) -> None:
    result = ClaimResult("C-1", "processed", (LineResult(1, "99601", 1, 0, "denied", (finding("deny"),)),))
    data = result.to_dict()
    assert result_validator().is_valid(data)
    change(data)
    assert not result_validator().is_valid(data)


# -- properties --------------------------------------------------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.decimals()
    | st.text(max_size=12)
    | st.sampled_from(["", " ", "99601", "s9325", "59", "2026-01-05", "12", "180.00", "F"]),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=20,
)


def keyed(fields: tuple[str, ...], extra: tuple[str, ...]) -> st.SearchStrategy[dict[str, object]]:
    """Objects with the given keys (some left out) plus near misses, each holding any JSON value."""
    return st.dictionaries(st.sampled_from(fields + extra), json_values, max_size=len(fields) + 2)


line_objects = keyed(LINE_FIELDS, ("modifer", "Units", "unknown"))
claim_objects = st.builds(
    lambda claim, lines: {**claim, "lines": lines},
    keyed(tuple(f for f in CLAIM_FIELDS if f != "lines"), ("claimid", "other")),
    st.lists(line_objects | json_values, max_size=4) | json_values,
)


def check_result(parsed: Claim | Rejection) -> None:
    if isinstance(parsed, Claim):
        assert parse_claim(parsed.to_dict()) == parsed
        assert parse_claim(json.loads(json.dumps(parsed.to_dict()))) == parsed
        assert claim_validator().is_valid(parsed.to_dict())
    else:
        assert parsed.errors
        assert all(isinstance(e.field, str) and e.reason for e in parsed.errors)


@given(json_values)
def test_parse_claim_never_raises_on_any_json(value: object) -> None:
    check_result(parse_claim(value))


@given(claim_objects)
def test_parse_claim_never_raises_on_claim_shaped_objects(value: dict[str, object]) -> None:
    parsed = parse_claim(value)
    check_result(parsed)
    if isinstance(parsed, Claim):
        # Whatever the reader takes, the schema takes too.
        assert claim_validator().is_valid(value)


def spaced(text: str) -> st.SearchStrategy[str]:
    """`text`, perhaps with whitespace around it, which the reader strips."""
    return st.builds(lambda a, b: f"{a}{text}{b}", st.sampled_from(["", " "]), st.sampled_from(["", "\t"]))


def valid_values() -> dict[str, st.SearchStrategy[object]]:
    return {
        "code": st.sampled_from(["99601", "s9325", "0001F", "0075t"]).flatmap(spaced),
        "modifiers": st.lists(st.sampled_from(["59", "sh", "XU", "25"]).flatmap(spaced), max_size=4)
        | st.none(),
        "units": st.integers(1, MOST_WHOLE),
        "date": st.dates().map(lambda d: d.isoformat()),
        "charge": st.none()
        | st.decimals(min_value=0, allow_nan=False, allow_infinity=False, places=2)
        | st.decimals(min_value=0, allow_nan=False, allow_infinity=False, places=2).map(str)
        | st.floats(min_value=0, allow_infinity=False),
        "place_of_service": st.none() | st.integers(0, 99) | st.integers(0, 99).map(lambda n: f"{n:02d}"),
    }


@st.composite
def valid_claims(draw: st.DrawFn) -> dict[str, object]:
    values = valid_values()
    count = draw(st.integers(1, 4))
    numbers = draw(st.lists(st.integers(1, 10**6), min_size=count, max_size=count, unique=True))
    lines = [{"line": n, **{k: draw(v) for k, v in values.items()}} for n in numbers]
    text = st.text(min_size=1).filter(str.strip)
    return {
        "claim_id": draw(text),
        "claim_type": draw(st.sampled_from([None, "professional", "institutional"])),
        "plan": draw(text),
        "member_id": draw(text),
        "billing_provider": draw(text),
        "member_sex": draw(st.sampled_from([None, "", "F", "M", " U "])),
        "diagnoses": draw(st.lists(text, max_size=3)),
        "lines": lines,
    }


@given(valid_claims())
def test_valid_claims_are_accepted_by_reader_and_schema_and_round_trip(value: dict[str, object]) -> None:
    parsed = parse_claim(value)
    assert isinstance(parsed, Claim), parsed
    assert claim_validator().is_valid(value)
    check_result(parsed)
