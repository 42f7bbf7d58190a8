"""The report for a person: the run summary and the table of results."""

from __future__ import annotations

import io
import json
from pathlib import Path

from rich.console import Console

import policyc
from policyc.claims import ClaimError
from policyc.report import Summary, print_table
from policyc.results import ClaimResult, Finding, line_result

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def review(rule: str = "p/look") -> Finding:
    return Finding(rule, "when", "review", None, None, (), False, "look at this", "policies/x.pol:9")


def cut(rule: str = "p/cap", allowed: int = 1) -> Finding:
    return Finding(rule, "limit", "cut back", "CO", "151", ("N362",), True, "over the cap", "policies/x.pol:4", allowed)


def deny(rule: str = "p/addon") -> Finding:
    return Finding(rule, "addon", "deny", "CO", "107", ("N122",), False, "no primary", "policies/x.pol:2")


def sample_results() -> list[ClaimResult]:
    return [
        ClaimResult(
            "C-1",
            "processed",
            (
                line_result(1, "99601", 1, []),
                line_result(2, "99602", 1, [deny()]),
                line_result(3, "99601", 6, [cut(allowed=4)]),
                line_result(4, "S9500", 1, [review()]),
            ),
        ),
        ClaimResult("C-2", "processed", (line_result(1, "99601", 2, []),)),
        ClaimResult("BAD-1", "rejected", (), (ClaimError("lines[0].units", "must be a positive whole number, got 0"),)),
        ClaimResult(None, "rejected", (), (ClaimError("", "invalid JSON on line 4: Expecting value (col 9)"),)),
    ]


def render(results: list[ClaimResult], summary: Summary | None = None) -> str:
    out = io.StringIO()
    console = Console(file=out, width=120)
    summary = summary or Summary()
    print_table(summary.count(results), summary, console)
    return out.getvalue()


# ------------------------------------------------------------------------------------------- Summary


def test_summary_counts_claims_and_lines_by_status() -> None:
    summary = Summary()
    passed = list(summary.count(sample_results()))
    assert [r.claim_id for r in passed] == ["C-1", "C-2", "BAD-1", None]
    assert summary.claims == {"processed": 2, "rejected": 2}
    assert summary.lines == {"paid": 2, "denied": 1, "reduced": 1, "review": 1}
    assert summary.line() == "checked 4 claims (2 rejected): 5 lines, 2 paid, 1 denied, 1 reduced, 1 review"


def test_summary_counts_lazily_as_results_stream_past() -> None:
    summary = Summary()
    stream = summary.count(iter(sample_results()))
    assert sum(summary.claims.values()) == 0
    next(stream)
    assert summary.claims == {"processed": 1}
    assert sum(summary.lines.values()) == 4
    list(stream)
    assert sum(summary.claims.values()) == 4


def test_summary_of_nothing() -> None:
    summary = Summary()
    assert list(summary.count([])) == []
    assert summary.line() == "checked 0 claims: 0 lines"


def test_summary_leaves_out_statuses_with_no_lines_and_no_rejections() -> None:
    summary = Summary()
    lines = (line_result(1, "99602", 1, [deny()]), line_result(2, "99602", 1, [deny()]))
    results = [ClaimResult("A", "processed", lines)]
    list(summary.count(results))
    assert summary.line() == "checked 1 claim: 2 lines, 2 denied"


def test_summary_of_only_rejected_claims() -> None:
    summary = Summary()
    list(summary.count(sample_results()[2:]))
    assert summary.line() == "checked 2 claims (2 rejected): 0 lines"


def test_summary_says_one_line_in_the_singular() -> None:
    summary = Summary()
    list(summary.count([ClaimResult("A", "processed", (line_result(1, "99601", 1, []),))]))
    assert summary.line() == "checked 1 claim: 1 line, 1 paid"


def test_summary_of_the_example_claims(seed_engine: policyc.Engine) -> None:
    claims = json.loads((EXAMPLES / "claims.json").read_text(encoding="utf-8"))
    summary = Summary()
    results = list(summary.count(seed_engine.check_many(claims)))
    assert len(results) == 15
    assert summary.claims == {"processed": 15}
    assert sum(summary.lines.values()) == sum(len(c["lines"]) for c in claims)
    assert summary.line() == "checked 15 claims: 30 lines, 18 paid, 12 denied"


# ---------------------------------------------------------------------------------------- print_table


def test_table_shows_each_claim_its_statuses_and_codes() -> None:
    text = render(sample_results())
    for claim_id in ("C-1", "C-2", "BAD-1"):
        assert f"claim {claim_id}" in text
    assert "(no claim_id)" in text
    for status in ("processed", "rejected", "paid", "denied", "reduced", "review"):
        assert status in text
    # Adjustment codes and remark codes of every finding, and the rule that fired.
    for code in ("CO-107", "N122", "CO-151", "N362", "p/addon", "p/cap", "p/look"):
        assert code in text
    assert "no primary" in text and "over the cap" in text and "look at this" in text


def test_table_rows_hold_units_and_allowed_units() -> None:
    text = render(sample_results()[:1])
    rows = [line for line in text.splitlines() if "99601" in line and "reduced" in line]
    assert len(rows) == 1
    cells = [cell.strip() for cell in rows[0].split("│") if cell.strip()]
    assert cells[:5] == ["3", "99601", "6", "4", "reduced"]
    denied = [line for line in text.splitlines() if "99602" in line]
    assert [cell.strip() for cell in denied[0].split("│") if cell.strip()][:5] == ["2", "99602", "1", "0", "denied"]


def test_table_shows_why_rejected_claims_were_rejected() -> None:
    text = render(sample_results())
    assert "lines[0].units: must be a positive whole number, got 0" in text
    # An error about the whole record has no field path and is shown against the claim.
    assert "(claim): invalid JSON on line 4: Expecting value (col 9)" in text


def test_table_claims_appear_in_input_order_and_the_summary_comes_last() -> None:
    text = render(sample_results())
    positions = [text.index(marker) for marker in ("claim C-1", "claim C-2", "claim BAD-1", "claim (no claim_id)")]
    assert positions == sorted(positions)
    last = text.rstrip().splitlines()[-1]
    assert last == "checked 4 claims (2 rejected): 5 lines, 2 paid, 1 denied, 1 reduced, 1 review"


def test_table_of_the_example_claims(seed_engine: policyc.Engine) -> None:
    claims = json.loads((EXAMPLES / "claims.json").read_text(encoding="utf-8"))
    text = render(list(seed_engine.check_many(claims)))
    for claim in claims:
        assert f"claim {claim['claim_id']}" in text
    for code in ("CO-107", "CO-4", "CO-97", "CO-151", "N122", "N519", "M15", "N362"):
        assert code in text
    assert "home-infusion/rn-add-on" in text
    assert "medicaid-mue-2026q1/mue-99601" in text


def test_table_with_nothing_to_show_prints_the_summary() -> None:
    assert render([]).strip() == "checked 0 claims: 0 lines"
