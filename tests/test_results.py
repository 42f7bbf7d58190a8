"""Results in the interchange shape: how a line's findings combine, and what the JSON of each level holds."""

from __future__ import annotations

import datetime
import itertools
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from policyc.claims import ClaimError, Line
from policyc.results import ClaimResult, Finding, FindingTemplate, LineResult, line_result
from policyc.runtime import Message, Verdict

RESULT_SCHEMA = json.loads((Path(__file__).resolve().parent.parent / "docs" / "result.schema.json").read_text())

FINDING_KEYS = {"rule", "kind", "action", "group", "carc", "rarc", "appealable", "message", "source"}

# Per action: the kind of rule that produces it in practice and its adjustment codes.
ACTION_DEFAULTS: dict[str, dict[str, Any]] = {
    "deny": {"kind": "addon", "group": "CO", "carc": "107", "rarc": ("N122",)},
    "cut back": {"kind": "limit", "group": "CO", "carc": "151", "rarc": ("N362",)},
    "review": {"kind": "when", "group": None, "carc": None, "rarc": ()},
}


def finding(action: str, rule: str = "p/r", allowed_units: int | None = None, **overrides: Any) -> Finding:
    fields: dict[str, Any] = {
        **ACTION_DEFAULTS[action],
        "rule": rule,
        "action": action,
        "appealable": False,
        "message": f"{rule} fired",
        "source": "policies/x.pol:3",
        "allowed_units": allowed_units,
    }
    fields.update(overrides)
    return Finding(**fields)


def written_when_read(text: str, calls: list[str]) -> Message:
    """A message of `text` that notes in `calls` each time it is written out."""

    def render() -> str:
        calls.append(text)
        return text

    return Message(render)


def validate(document: dict[str, Any]) -> None:
    jsonschema.validate(document, RESULT_SCHEMA, cls=jsonschema.Draft202012Validator)


# ------------------------------------------------------------------------------------- line_result


def test_a_line_without_findings_is_paid_in_full() -> None:
    result = line_result(3, "99601", 4, [])
    assert result == LineResult(3, "99601", 4, 4, "paid", ())


@pytest.mark.parametrize(
    ("action", "allowed_units", "status", "allowed"),
    [("deny", None, "denied", 0), ("cut back", 2, "reduced", 2), ("review", None, "review", 5)],
)
def test_one_finding_decides_the_status(action: str, allowed_units: int | None, status: str, allowed: int) -> None:
    result = line_result(1, "99601", 5, [finding(action, allowed_units=allowed_units)])
    assert (result.status, result.allowed_units) == (status, allowed)
    assert result.units == 5


STRENGTH = {"deny": 3, "cut back": 2, "review": 1}
STATUS = {"deny": "denied", "cut back": "reduced", "review": "review"}


@pytest.mark.parametrize(
    "actions",
    [
        list(combo)
        for size in (2, 3)
        for combo in itertools.permutations(["deny", "cut back", "review"], size)
    ],
    ids=lambda actions: "+".join(actions),
)
def test_the_strongest_finding_wins_whatever_the_order(actions: list[str]) -> None:
    findings = [
        finding(a, rule=f"p/{a.replace(' ', '-')}", allowed_units=3 if a == "cut back" else None) for a in actions
    ]
    strongest = max(actions, key=STRENGTH.__getitem__)
    result = line_result(1, "99601", 5, findings)
    assert result.status == STATUS[strongest]
    expected_allowed = {"deny": 0, "cut back": 3, "review": 5}[strongest]
    assert result.allowed_units == expected_allowed
    # The strongest finding comes first; every finding is kept.
    assert result.findings[0].action == strongest
    assert sorted(f.action for f in result.findings) == sorted(actions)


def test_a_denial_allows_zero_units_even_beside_a_cut_back() -> None:
    result = line_result(1, "99601", 6, [finding("cut back", "p/cut", 4), finding("deny", "p/deny")])
    assert result.status == "denied"
    assert result.allowed_units == 0


def test_several_cut_backs_allow_the_smallest_number_of_units() -> None:
    cuts = [finding("cut back", "p/a", 4), finding("cut back", "p/b", 1), finding("cut back", "p/c", 3)]
    result = line_result(2, "99602", 6, cuts)
    assert result.status == "reduced"
    assert result.allowed_units == 1


def test_a_cut_back_to_zero_is_reduced_with_zero_units() -> None:
    result = line_result(2, "99602", 6, [finding("cut back", "p/a", 0)])
    assert (result.status, result.allowed_units) == ("reduced", 0)


def test_a_review_beside_a_cut_back_keeps_the_cut_back_units() -> None:
    result = line_result(2, "99602", 6, [finding("review", "p/a"), finding("cut back", "p/b", 2)])
    assert (result.status, result.allowed_units) == ("reduced", 2)


def test_findings_are_ordered_strongest_first_then_by_rule() -> None:
    findings = [
        finding("review", "p/z-review"),
        finding("deny", "p/b-deny"),
        finding("cut back", "p/a-cut", 1),
        finding("deny", "p/a-deny"),
    ]
    result = line_result(1, "99601", 2, findings)
    assert [f.rule for f in result.findings] == ["p/a-deny", "p/b-deny", "p/a-cut", "p/z-review"]


def test_line_result_does_not_change_the_list_it_is_given() -> None:
    findings = [finding("review", "p/z"), finding("deny", "p/a")]
    before = list(findings)
    line_result(1, "99601", 1, findings)
    assert findings == before


# ------------------------------------------------------------------------------------------ Finding


def test_finding_status_and_adjustment() -> None:
    denial = finding("deny", group="CO", carc="107")
    assert denial.status == "denied"
    assert denial.adjustment == "CO-107"
    assert finding("cut back", allowed_units=1).status == "reduced"
    review = finding("review")
    assert review.status == "review"
    assert review.adjustment is None


def test_finding_to_dict_has_exactly_the_interchange_keys() -> None:
    f = finding("cut back", "medicaid-mue/mue-99601", 2, rarc=("N362", "M15"), appealable=True)
    data = f.to_dict()
    assert set(data) == FINDING_KEYS
    assert data == {
        "rule": "medicaid-mue/mue-99601",
        "kind": "limit",
        "action": "cut back",
        "group": "CO",
        "carc": "151",
        "rarc": ["N362", "M15"],
        "appealable": True,
        "message": "medicaid-mue/mue-99601 fired",
        "source": "policies/x.pol:3",
    }
    assert isinstance(data["rarc"], list)
    # The units left are carried by the line, not by the finding's JSON.
    assert "allowed_units" not in data
    assert json.loads(json.dumps(data)) == data


def test_review_finding_to_dict_has_null_codes() -> None:
    data = finding("review").to_dict()
    assert set(data) == FINDING_KEYS
    assert data["group"] is None and data["carc"] is None and data["rarc"] == []


def test_a_finding_with_a_message_equals_one_with_its_text() -> None:
    lazy = finding("deny", message=written_when_read("p/r fired", []))
    assert lazy == finding("deny")
    assert finding("deny") == lazy
    assert lazy != finding("deny", message="p/r fired twice")
    assert lazy != finding("deny", message=written_when_read("p/r fired twice", []))


def test_a_findings_message_is_its_text_written_once() -> None:
    calls: list[str] = []
    lazy = finding("deny", message=written_when_read("p/r fired", calls))
    assert calls == []
    assert lazy.message == "p/r fired" and type(lazy.message) is str
    assert lazy.message == "p/r fired"
    assert calls == ["p/r fired"]
    assert finding("deny").message == "p/r fired"


def test_a_findings_dict_holds_its_message_written_out() -> None:
    calls: list[str] = []
    data = finding("cut back", allowed_units=1, message=written_when_read("over the cap", calls)).to_dict()
    assert data["message"] == "over the cap" and type(data["message"]) is str
    assert calls == ["over the cap"]
    assert json.loads(json.dumps(data)) == data
    assert data == finding("cut back", allowed_units=1, message="over the cap").to_dict()


def test_a_findings_repr_shows_its_text() -> None:
    assert "fired by a table" in repr(finding("deny", message=written_when_read("fired by a table", [])))


def test_combining_a_lines_findings_writes_none_of_their_messages() -> None:
    calls: list[str] = []
    one = [finding("deny", "p/a", message=written_when_read("a", calls))]
    several = [
        finding("review", "p/z", message=written_when_read("z", calls)),
        finding("cut back", "p/b", 1, message=written_when_read("b", calls)),
        finding("deny", "p/c", message=written_when_read("c", calls)),
    ]
    assert line_result(1, "99601", 2, one).status == "denied"
    assert [f.rule for f in line_result(2, "99601", 2, several).findings] == ["p/c", "p/b", "p/z"]
    assert calls == []


def test_a_line_with_one_finding_holds_that_finding() -> None:
    only = finding("cut back", "p/cut", 2)
    result = line_result(4, "99601", 5, [only])
    assert result.findings == (only,) and result.findings[0] is only
    assert result == LineResult(4, "99601", 5, 2, "reduced", (only,))


# ------------------------------------------------------------------------------- LineResult, ClaimResult


def test_line_result_to_dict() -> None:
    line = line_result(2, "99602", 3, [finding("deny", "p/r")])
    assert line.to_dict() == {
        "line": 2,
        "code": "99602",
        "units": 3,
        "allowed_units": 0,
        "status": "denied",
        "findings": [finding("deny", "p/r").to_dict()],
    }


def test_processed_claim_result_to_dict() -> None:
    lines = (
        line_result(1, "99601", 1, []),
        line_result(2, "99602", 2, [finding("deny", "home-infusion/rn-add-on")]),
        line_result(3, "99601", 6, [finding("cut back", "mue/cap", 4)]),
        line_result(4, "S9500", 1, [finding("review")]),
    )
    result = ClaimResult("C-1", "processed", lines)
    data = result.to_dict()
    assert list(data) == ["claim_id", "status", "lines", "errors"]
    assert data["claim_id"] == "C-1"
    assert data["status"] == "processed"
    assert data["errors"] == []
    assert [(line["line"], line["status"], line["allowed_units"]) for line in data["lines"]] == [
        (1, "paid", 1),
        (2, "denied", 0),
        (3, "reduced", 4),
        (4, "review", 1),
    ]
    validate(data)
    assert json.loads(json.dumps(data)) == data


def test_rejected_claim_result_to_dict() -> None:
    errors = (ClaimError("lines[0].units", "must be a positive whole number, got 0"), ClaimError("", "whole record"))
    data = ClaimResult(None, "rejected", (), errors).to_dict()
    assert data == {
        "claim_id": None,
        "status": "rejected",
        "lines": [],
        "errors": [
            {"field": "lines[0].units", "reason": "must be a positive whole number, got 0"},
            {"field": "", "reason": "whole record"},
        ],
    }
    validate(data)


def test_the_schema_catches_a_broken_result() -> None:
    """The schema checks used elsewhere can fail: a processed result without lines is not valid."""
    with pytest.raises(jsonschema.ValidationError):
        validate(ClaimResult("C-1", "processed").to_dict())
    bad_finding = ClaimResult("C-1", "processed", (line_result(1, "99601", 1, [finding("deny", rule="no-slash")]),))
    with pytest.raises(jsonschema.ValidationError):
        validate(bad_finding.to_dict())


def test_claim_result_line_finds_a_line_by_its_number() -> None:
    result = ClaimResult("C-1", "processed", (line_result(7, "99601", 1, []), line_result(3, "99602", 1, [])))
    assert result.line(3).code == "99602"
    assert result.line(7).code == "99601"


def test_claim_result_line_on_a_missing_number_raises_lookup_error() -> None:
    result = ClaimResult("C-1", "processed", (line_result(1, "99601", 1, []), line_result(2, "99602", 1, [])))
    with pytest.raises(LookupError):
        result.line(99)


def test_results_with_messages_equal_results_with_their_texts() -> None:
    lazy = ClaimResult(
        "C-1", "processed", (line_result(1, "99602", 1, [finding("deny", message=written_when_read("p/r fired", []))]),)
    )
    plain = ClaimResult("C-1", "processed", (line_result(1, "99602", 1, [finding("deny")]),))
    assert lazy == plain
    assert lazy.to_dict() == plain.to_dict()
    validate(lazy.to_dict())


# ------------------------------------------------------------------------- results built from verdicts

DAY = datetime.date(2025, 3, 2)


def template(
    action: str, rule: str = "p/r", prefix: str = "", suffix: str = "", carc: str | None = None
) -> FindingTemplate:
    d = ACTION_DEFAULTS[action]
    return FindingTemplate(
        rule, d["kind"], action, d["group"], carc or d["carc"], d["rarc"], False, prefix, suffix, "policies/x.pol:3"
    )


def judged_result() -> ClaimResult:
    """Line 1 paid; 2 denied by two rules; 3 cut back to 1 unit; 4 sent to review."""
    codes = ("99601", "99602", "J3370", "S9500")
    lines = [Line(line=n, code=code, modifiers=(), units=2, date=DAY) for n, code in enumerate(codes, start=1)]
    judged = {
        2: [(template("deny", "p/addon"), Verdict(2, "no primary")),
            (template("deny", "p/mue", suffix=" (rationale: x)", carc="151"), Verdict(2, "over", None, True))],
        3: [(template("cut back", "p/cap"), Verdict(3, "over the cap", 1))],
        4: [(template("review", "p/look", prefix="why: "), Verdict(4, "look"))],
    }
    return ClaimResult("C-1", "processed", judged=(lines, judged, None))


def test_a_template_and_a_verdict_make_the_finding() -> None:
    made = template("deny", prefix="Add-on: ", suffix=" (rationale: r)").finding(Verdict(2, "no primary", None, True))
    assert made == finding("deny", message="Add-on: no primary (rationale: r)", appealable=True)
    assert template("deny").adjustment == "CO-107" and template("review").adjustment is None


def test_a_result_built_from_verdicts_reads_as_one_built_from_line_results() -> None:
    result = judged_result()
    assert [line.status for line in result.lines] == ["paid", "denied", "reduced", "review"]
    assert result.lines is result.lines  # built once
    assert result.line(3).allowed_units == 1
    assert [f.rule for f in result.line(2).findings] == ["p/addon", "p/mue"]
    assert result.line(2).findings[1].appealable and result.line(2).findings[1].message == "over (rationale: x)"
    assert result.line(4).findings[0].message == "why: look"
    eager = ClaimResult("C-1", "processed", result.lines)
    assert eager == result and result == eager and judged_result() == result
    assert repr(eager) == repr(result) and result.to_dict() == eager.to_dict()
    assert result != ClaimResult("C-1", "processed", result.lines[:3])
    with pytest.raises(TypeError):
        hash(result)


def test_denials_name_each_denied_lines_adjustments_whether_read_from_verdicts_or_lines() -> None:
    expected = {2: frozenset({"CO-107", "CO-151"})}  # cut back and review are not denials
    assert judged_result().denials() == expected
    assert ClaimResult("C-1", "processed", judged_result().lines).denials() == expected
    assert ClaimResult(None, "rejected", (), (ClaimError("", "bad"),)).denials() == {}
