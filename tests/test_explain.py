"""`policyc explain`: which rules looked at a line, the facts they used, and a fix that really pays the line."""

from __future__ import annotations

import json
from typing import Any

from click.testing import CliRunner
from conftest import POLICIES

import policyc
from policyc.compiler import find_policy_files, read_source, to_ir
from policyc.explain import Explainer, LineExplanation, RuleLook, explain_command


def explainer() -> Explainer:
    return Explainer([to_ir(read_source(path)) for path in find_policy_files([POLICIES])])


def claim(plan: str, *lines: tuple[str, int, list[str]]) -> dict[str, Any]:
    return {
        "claim_id": "X", "plan": plan, "member_id": "M", "billing_provider": "1234567893",
        "lines": [
            {"line": n, "code": code, "units": units, "modifiers": mods, "date": "2026-01-05"}
            for n, (code, units, mods) in enumerate(lines, start=1)
        ],
    }


def explain(data: dict[str, Any]) -> list[LineExplanation]:
    parsed = policyc.parse_claim(data)
    assert isinstance(parsed, policyc.Claim)
    return explainer().explain(parsed)[1]


def look(lines: list[LineExplanation], line: int, rule: str) -> RuleLook:
    return next(r for r in lines[line - 1].looks if r.rule == rule)


def test_a_per_day_cap_shows_the_total_the_cap_and_the_units_to_drop() -> None:
    lines = explain(claim("medicaid", ("99601", 3, []), ("99601", 2, [])))
    mue = look(lines, 1, "medicaid-mue-2026q1/mue-99601")
    assert mue.fired and mue.facts == {"total_units": 5, "cap": 4, "per": "day", "lines": [1, 2]}
    assert mue.fix == "drop 1 unit of 99601 on 2026-01-05 (at most 4)"


def test_dropping_the_units_the_fix_names_pays_the_lines() -> None:
    engine = policyc.load(POLICIES)
    assert engine.check(claim("medicaid", ("99601", 3, []), ("99601", 1, []))).lines[0].status == "paid"


def test_an_add_on_without_its_primary_is_told_to_add_it_and_that_pays_it() -> None:
    lines = explain(claim("commercial", ("99602", 1, [])))
    addon = look(lines, 1, "home-infusion/rn-add-on")
    assert addon.fired and addon.facts["standing_primary_lines"] == []
    assert addon.fix == "add a payable 99601 on the same day by the same provider (2026-01-05)"
    fixed = policyc.load(POLICIES).check(claim("commercial", ("99602", 1, []), ("99601", 1, [])))
    assert fixed.lines[0].status == "paid"


def test_the_cascade_points_at_the_denied_primary() -> None:
    lines = explain(claim("medicaid", ("99601", 5, []), ("99602", 1, [])))
    addon = look(lines, 2, "home-infusion/rn-add-on")
    assert addon.facts["denied_primary_lines"] == [1]
    assert addon.fix == "make line 1 payable: it is the primary this add-on needs"
    assert look(lines, 1, "home-infusion/rn-add-on").facts == {"role": "primary of 99602"}


def test_a_sequence_names_the_rank_and_the_modifier_that_moves_the_line() -> None:
    lines = explain(claim("commercial", ("S9500", 1, []), ("S9338", 1, [])))
    rank = look(lines, 2, "home-infusion/concurrent-therapies")
    assert rank.facts == {
        "concurrent_lines": 2, "modifiers": [], "rank": "1st", "lines_in_rank": 2, "rank_admits": 1,
    }
    assert rank.fix == "add modifier SH (rank 2nd)"
    fixed = policyc.load(POLICIES).check(claim("commercial", ("S9500", 1, []), ("S9338", 1, ["SH"])))
    assert [line.status for line in fixed.lines] == ["paid", "paid"]


def test_a_bundled_supply_names_its_per_diem_and_the_per_diem_its_role() -> None:
    lines = explain(claim("commercial", ("S9500", 1, []), ("A4221", 1, [])))
    assert look(lines, 2, "home-infusion/per-diem-bundle").facts["lines"] == [1]
    assert look(lines, 1, "home-infusion/per-diem-bundle").facts == {"role": "bundles in_per_diem"}
    assert not look(lines, 1, "home-infusion/per-diem-bundle").fired


def test_a_when_rule_reports_the_modifier_to_remove() -> None:
    lines = explain(claim("commercial", ("99601", 1, ["SH"])))
    when = look(lines, 1, "home-infusion/concurrency-modifiers")
    assert when.fired and when.fix == "remove modifier SH"
    assert when.facts["fields"] == {"line.code": "99601"}


def test_silent_rules_are_listed_without_a_fix() -> None:
    lines = explain(claim("commercial", ("99601", 1, []), ("99602", 1, [])))
    addon = look(lines, 2, "home-infusion/rn-add-on")
    assert not addon.fired and addon.fix is None and addon.facts["standing_primary_lines"] == [1]


def test_a_line_no_rule_looks_at_has_no_looks() -> None:
    assert explain(claim("commercial", ("J3370", 2, [])))[0].looks == ()


def test_the_command_prints_json_for_one_line(tmp_path: Any) -> None:
    path = tmp_path / "claim.json"
    path.write_text(json.dumps(claim("medicaid", ("99601", 5, []), ("99602", 1, []))))
    result = CliRunner().invoke(explain_command, ["--policy", str(POLICIES), "--line", "2", "-f", "json", str(path)])
    assert result.exit_code == 0, result.output
    [document] = json.loads(result.output)
    assert [line["line"] for line in document["lines"]] == [2]
    assert {r["rule"] for r in document["lines"][0]["rules"] if r["fired"]} == {"home-infusion/rn-add-on"}


def test_the_command_prints_text_with_facts_and_fixes(tmp_path: Any) -> None:
    path = tmp_path / "claim.json"
    path.write_text(json.dumps(claim("medicaid", ("99601", 5, []))))
    result = CliRunner().invoke(explain_command, ["--policy", str(POLICIES), str(path)])
    assert result.exit_code == 0, result.output
    assert "fired  medicaid-mue-2026q1/mue-99601" in result.output
    assert "to pay it: drop 1 unit of 99601 on 2026-01-05 (at most 4)" in result.output


def test_an_unreadable_claims_file_exits_2(tmp_path: Any) -> None:
    result = CliRunner().invoke(explain_command, ["--policy", str(POLICIES), str(tmp_path / "missing.json")])
    assert result.exit_code == 2


# ------------------------------------------------------------------ table rules (policies/cms)


def cms_explainer() -> Explainer:
    paths = find_policy_files(["policies/cms", "examples/cms/medicaid-ncci-2024q3.pol"])
    return Explainer([to_ir(read_source(path)) for path in paths])


def explain_cms(plan: str, *lines: tuple[str, int, list[str]]) -> list[LineExplanation]:
    data = claim(plan, *lines)
    for line in data["lines"]:
        line["date"] = "2024-07-15"
    parsed = policyc.parse_claim(data)
    assert isinstance(parsed, policyc.Claim)
    return cms_explainer().explain(parsed)[1]


MUE = "cms-mue-practitioner-2024q3/mue"
AOC = "cms-aoc-2024q2/add-ons"
PTP = "cms-ptp-practitioner-2024q3/ptp"


def test_an_mue_row_over_the_day_shows_the_row_the_total_and_the_units_to_drop() -> None:
    lines = explain_cms("medicare", ("99213", 2, []), ("99213", 1, []))
    mue = look(lines, 2, MUE)
    assert mue.fired and mue.kind == "limit"
    assert mue.facts == {
        "code": "99213", "mue": 2, "mai": 3, "per": "day", "table": "mue_practitioner_2024-07-01.csv",
        "table_line": 10054, "total_units": 3, "lines": [1, 2],
    }
    assert mue.fix == (
        "drop 1 unit of 99213 on 2024-07-15 (at most 2); or appeal with records: MAI 3 findings are appealable"
    )


def test_an_mai_1_row_judges_the_line_alone() -> None:
    lines = explain_cms("medicare", ("A0425", 250, []), ("A0425", 251, []))
    assert not look(lines, 1, MUE).fired and look(lines, 1, MUE).fix is None
    mue = look(lines, 2, MUE)
    assert mue.fired and mue.facts["per"] == "line" and mue.facts["units"] == 251 and mue.facts["mai"] == 1
    assert mue.fix == "bill at most 250 units on this line (drop 1)"


def test_an_add_on_row_names_its_type_primaries_and_the_denied_primary() -> None:
    lines = explain_cms("medicare", ("99601", 1, []), ("99602", 1, []))
    addon = look(lines, 2, AOC)
    assert addon.fired and addon.kind == "addon"
    assert addon.facts["type"] == [1] and addon.facts["primaries"] == ["99601"]
    assert (addon.facts["standing_primary_lines"], addon.facts["denied_primary_lines"]) == ([], [1])
    assert addon.fix == "make line 1 payable: it is the primary this add-on needs"
    assert look(lines, 1, AOC).facts == {"role": "primary"}


def test_an_add_on_alone_is_told_which_primaries_to_add() -> None:
    lines = explain_cms("medicare", ("96366", 1, []))
    addon = look(lines, 1, AOC)
    assert addon.fired and addon.facts["primaries"] == ["96360", "96365", "96367", "96413"]
    assert addon.fix == "add a payable 96360, 96365, 96367, 96413 on the same day by the same provider (2024-07-15)"


def test_a_ptp_row_names_column_1_its_indicator_and_the_bypass() -> None:
    lines = explain_cms("medicare", ("96365", 1, []), ("96360", 1, []))
    ptp = look(lines, 2, PTP)
    assert ptp.fired and ptp.kind == "pair"
    assert ptp.facts["role"] == "column 2" and ptp.facts["column1_line"] == 1 and ptp.facts["indicator"] == 1
    assert "XU" in ptp.facts["bypass_modifiers"] and ptp.facts["deletion_date"] is None
    assert ptp.fix is not None and ptp.fix.startswith("add modifier 59 or XU")
    fixed = explain_cms("medicare", ("96365", 1, []), ("96360", 1, ["XU"]))
    assert fixed[1].status == "paid" and not look(fixed, 2, PTP).fired


def test_a_ptp_row_with_indicator_0_says_no_modifier_helps() -> None:
    lines = explain_cms("medicare", ("96360", 1, []), ("96523", 1, []))
    ptp = look(lines, 2, PTP)
    assert ptp.fired and ptp.facts["indicator"] == 0 and ptp.facts["bypass_modifiers"] == []
    assert ptp.fix == (
        "96523 is not payable with 96360 (line 1) on the same day by the same provider: "
        "no modifier bypasses it, so bill one of them"
    )
    assert look(lines, 1, PTP).facts == {"role": "column 1", "column2_lines": [2]}


def test_a_replaced_row_names_the_payer_rule_and_gives_no_fix() -> None:
    lines = explain_cms("medicaid", ("99601", 4, []))
    mue = look(lines, 1, MUE)
    assert not mue.fired and mue.facts["replaced_by"] == "medicaid-ncci-2024q3/mue-99601" and mue.fix is None
    switched = look(explain_cms("medicaid", ("J7175", 9001, [])), 1, MUE)
    assert not switched.fired and switched.facts["replaced_by"] == "medicaid-ncci-2024q3/factor-uncapped"
