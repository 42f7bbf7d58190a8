"""`policyc diff`: the static summary of two policy versions and the lines whose verdict changes on claims."""

from __future__ import annotations

import json
import random
import shutil
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from policyc.policydiff import (
    PolicyChange,
    compact,
    diff,
    diff_command,
    estimate_total,
    load_version,
    progress_bar,
    static_diff,
    ticking,
)

HEADER = "policy {id}\n  plans     medicaid\n  effective {start}\n\n"
OLD = (
    "codes visits = 99601, S9325..S9330\n"
    "rule cap: limit visits to 4 units per day deny CO-151 N362\n"
    "rule addon: addon 99602 requires visits on the same day deny CO-107\n"
    "rule gone: when line.units > 9 review \"many\"\n"
)


def write_version(root: Path, body: str, start: str = "2025-01-01", policy_id: str = "p") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / f"{policy_id}.pol").write_text(HEADER.format(id=policy_id, start=start) + body, encoding="utf-8")
    return root


def changes(old: Path, new: Path) -> tuple[PolicyChange, ...]:
    return static_diff(load_version([old]).policies, load_version([new]).policies)


# ---------------------------------------------------------------- the static summary


def test_the_same_policies_have_no_static_change() -> None:
    assert changes(Path("policies"), Path("policies")) == ()


def test_caps_codes_rules_actions_and_dates_that_change_are_all_named(tmp_path: Path) -> None:
    new_body = (
        OLD.replace("S9325..S9330", "S9325..S9328, S9340")
        .replace("to 4 units", "to 3 units")
        .replace("deny CO-107", "deny CO-107 N122")
        .replace('rule gone: when line.units > 9 review "many"', "rule fresh: when line.units > 8 deny CO-4")
    )
    old, new = write_version(tmp_path / "old", OLD), write_version(tmp_path / "new", new_body, start="2025-02-01")
    (change,) = changes(old, new)
    assert change.status == "changed"
    assert change.header == ("dates: 2025-01-01, no end -> 2025-02-01, no end",)
    assert [s.describe() for s in change.code_sets] == ["visits: added S9340; removed S9329, S9330"]
    assert change.rules_added == ("fresh",) and change.rules_removed == ("gone",)
    facts = {r.rule: r.facts for r in change.rules_changed}
    assert "cap: 4 per day -> 3 per day" in facts["cap"]
    assert "action: deny CO-107 -> deny CO-107 N122" in facts["addon"]
    assert "dates: 2025-01-01, no end -> 2025-02-01, no end" in facts["cap"]
    codes = {r.rule: [c.describe() for c in r.codes] for r in change.rules_changed}
    assert codes["cap"] == ["limit codes: added S9340; removed S9329, S9330"]


def test_a_policy_added_or_removed_is_named(tmp_path: Path) -> None:
    old = write_version(tmp_path / "old", OLD)
    new = write_version(write_version(tmp_path / "new", OLD), OLD, policy_id="q")
    assert [(c.policy_id, c.status) for c in changes(old, new)] == [("q", "added")]
    assert [(c.policy_id, c.status) for c in changes(new, old)] == [("q", "removed")]


def test_codes_are_written_with_runs_as_ranges() -> None:
    assert compact(["S9325", "S9326", "S9327", "S9330", "99601", "99602", "0001F", "0002F", "0003F"]) == (
        "S9325..S9327, S9330, 99601, 99602, 0001F..0003F"
    )


# ---------------------------------------------------------------- the claims


@pytest.fixture
def new_policies(tmp_path: Path) -> Path:
    """The seed policies with the Medicaid 99601 cap lowered from 4 to 3 units a day."""
    root = tmp_path / "new"
    shutil.copytree("policies", root)
    mue = root / "medicaid" / "mue-home-infusion-2026q1.pol"
    mue.write_text(mue.read_text(encoding="utf-8").replace("to 4 units", "to 3 units"), encoding="utf-8")
    return root


def run_json(*args: str) -> dict[str, Any]:
    result = CliRunner().invoke(diff_command, [*args, "--format", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_a_lower_cap_denies_the_lines_it_now_exceeds_and_the_add_on_beside_them(new_policies: Path) -> None:
    report = run_json("--old", "policies", "--new", str(new_policies), "examples/claims.json")
    assert report["claims"]["claims"] == 15 and report["claims"]["lines_changed"] == 3
    by_rule = {group["rule"]: group for group in report["rules"]}
    mue = by_rule["medicaid-mue-2026q1/mue-99601"]
    assert mue["lines_changed"] == 2 and mue["billed"] == "300.00"
    assert mue["transitions"] == [{"change": "paid -> denied", "lines": 2, "billed": "300.00"}]
    assert {(line["claim_id"], line["line"]) for line in mue["lines"]} == {
        ("MCD-01-four-visits-paid", 1), ("MCD-01-four-visits-paid", 2)
    }
    # The 99602 beside them loses its primary: the add-on rule is behind that change.
    (cascade,) = by_rule["home-infusion/rn-add-on"]["lines"]
    assert cascade["old"]["status"] == "paid" and cascade["new"]["codes"] == ["CO-107 N122"]
    (policy,) = report["policy_changes"]
    assert policy["rules_changed"][0]["facts"] == [
        "cap: 4 per day by the same provider -> 3 per day by the same provider"
    ]


def test_the_text_report_groups_by_rule_with_counts_and_dollars(new_policies: Path) -> None:
    result = CliRunner().invoke(diff_command, ["--old", "policies", "--new", str(new_policies), "examples/claims.json"])
    assert result.exit_code == 0
    out = result.stdout
    assert "rule mue-99601: cap: 4 per day by the same provider -> 3 per day by the same provider" in out
    assert "15 claims, 30 lines, 3 lines changed, $450.00 billed on them" in out
    assert "  medicaid-mue-2026q1/mue-99601 (" in out and "): 2 lines, $300.00" in out
    assert "claim MCD-01-four-visits-paid line 1: 99601 x2, $150.00: paid -> denied (CO-151 N362)" in out
    sampled = CliRunner().invoke(
        diff_command, ["--old", "policies", "--new", str(new_policies), "--sample", "1", "examples/claims.json"]
    )
    assert "... and 1 more lines" in sampled.stdout


def test_the_same_policies_change_no_line() -> None:
    report = run_json("--old", "policies", "--new", "policies", "examples/claims.json")
    assert report["claims"]["lines_changed"] == 0 and report["rules"] == []


def test_rejected_claims_are_counted_and_not_compared(new_policies: Path) -> None:
    report = run_json("--old", "policies", "--new", str(new_policies), "examples/malformed.ndjson")
    assert report["claims"]["rejected"] > 0
    assert report["claims"]["claims"] > report["claims"]["rejected"]


def test_a_line_without_charge_is_counted_apart(tmp_path: Path) -> None:
    old = write_version(tmp_path / "old", OLD)
    new = write_version(tmp_path / "new", OLD.replace("to 4 units", "to 1 unit"))
    claims = tmp_path / "c.json"
    claims.write_text(json.dumps({"claim_id": "C", "plan": "medicaid", "member_id": "M", "billing_provider": "1",
                                  "lines": [{"line": 1, "code": "99601", "units": 2, "date": "2025-03-01"},
                                            {"line": 2, "code": "S9325", "units": 1, "date": "2025-03-01",
                                             "charge": "10.10"}]}), encoding="utf-8")
    report = run_json("--old", str(old), "--new", str(new), str(claims))
    assert report["claims"]["billed"] == "10.10" and report["claims"]["lines_without_charge"] == 1


# ---------------------------------------------------------------- a batch, streamed


CODES = ("99601", "99601", "99602", "S9500", "S9338", "A4221", "J3370")


def generated_claims(count: int, seed: int = 7) -> list[dict[str, Any]]:
    """Claims of one to five lines on Medicaid and commercial plans around the Q1 2026 MUE quarter."""
    rng = random.Random(seed)
    claims = []
    for number in range(count):
        day = f"2026-{rng.choice(('01', '03', '04'))}-{rng.randint(1, 28):02d}"
        lines = [{"line": n, "code": rng.choice(CODES), "modifiers": rng.choice(([], [], ["SH"])),
                  "units": rng.randint(1, 4), "date": day, "charge": f"{rng.randint(20, 300)}.{rng.randint(0, 99):02d}"}
                 for n in range(1, rng.randint(1, 5) + 1)]
        claims.append({"claim_id": f"G{number}", "plan": rng.choice(("medicaid", "commercial")), "member_id": "M",
                       "billing_provider": "1234567893", "lines": lines})
    return claims


def test_a_streamed_batch_agrees_with_checking_each_claim_with_both_versions(
    tmp_path: Path, new_policies: Path
) -> None:
    claims = generated_claims(1500)
    path = tmp_path / "batch.ndjson"
    path.write_text("".join(json.dumps(c) + "\n" for c in claims), encoding="utf-8")
    old, new = load_version(["policies"]), load_version([new_policies])
    expected_lines, expected_dollars = 0, Decimal(0)
    for claim in claims:
        results = old.engine.check(claim).lines, new.engine.check(claim).lines
        for line, a, b in zip(claim["lines"], *results, strict=True):
            verdicts = [(r.status, r.allowed_units, [(f.adjustment, f.rarc) for f in r.findings]) for r in (a, b)]
            if verdicts[0] != verdicts[1]:
                expected_lines += 1
                expected_dollars += Decimal(line["charge"])
    assert expected_lines > 50  # the batch exercises the change
    report = run_json("--old", "policies", "--new", str(new_policies), "--no-progress", str(path))
    assert report["claims"]["claims"] == 1500
    assert report["claims"]["lines_changed"] == expected_lines
    assert Decimal(report["claims"]["billed"]) == expected_dollars


def test_the_progress_bar_counts_every_claim_of_an_ndjson_file(tmp_path: Path) -> None:
    path = tmp_path / "batch.ndjson"
    path.write_text("".join(json.dumps(c) + "\n\n" for c in generated_claims(1200)), encoding="utf-8")
    assert estimate_total(str(path)) == 1200
    assert estimate_total("examples/claims.json") is None  # an array: not known before reading it
    progress = progress_bar(enabled=False)
    version = load_version(["policies"])
    report = diff(version, version, ticking(str(path), progress))
    task = progress.tasks[0]
    assert report.tally.claims == 1200 and task.completed == 1200 and task.total == 1200


def test_the_progress_bar_stays_off_when_stderr_is_not_a_terminal(new_policies: Path) -> None:
    result = CliRunner().invoke(diff_command, ["--old", "policies", "--new", str(new_policies), "examples/claims.json"])
    assert result.exit_code == 0 and "comparing claims" not in result.stderr


# ---------------------------------------------------------------- errors


def test_an_unreadable_claims_file_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("[{", encoding="utf-8")
    result = CliRunner().invoke(diff_command, ["--old", "policies", "--new", "policies", str(bad)])
    assert result.exit_code == 2 and "policyc:" in result.stderr


def test_a_policy_that_does_not_compile_exits_1(tmp_path: Path) -> None:
    broken = write_version(tmp_path / "new", "rule r: limit nope to 4 units per day deny CO-151\n")
    result = CliRunner().invoke(diff_command, ["--old", "policies", "--new", str(broken), "examples/claims.json"])
    assert result.exit_code == 1 and "unknown code set `nope`" in result.stderr


# ---------------------------------------------------------------- tables, overrides and `extends`

TABLES = (
    'rule mue: mue table "mue.csv" by the same provider deny CO-151 N362\n'
    'rule aoc: addon table "aoc.csv" on the same day by the same provider deny CO-107 N122\n'
    'rule ptp: pair table "ptp.csv" on the same day by the same provider deny CO-236\n'
)


def write_tables(root: Path, mue_rows: str = "99601,2,3\n", mue_name: str = "mue.csv") -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / mue_name).write_text("hcpcs_code,mue_value,mai\n" + mue_rows, encoding="utf-8")
    (root / "aoc.csv").write_text("add_on_code,primary_code,aoc_edit_type\n99602,99601,1\n", encoding="utf-8")
    (root / "ptp.csv").write_text("column_1,column_2,deletion_date,modifier_indicator\n96360,96523,,1\n",
                                  encoding="utf-8")


def test_the_same_table_rules_have_no_static_change(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POLICYC_CACHE_DIR", "")
    for side in ("old", "new"):
        write_tables(tmp_path / side)
        write_version(tmp_path / side, TABLES)
    assert changes(tmp_path / "old", tmp_path / "new") == ()
    assert changes(Path("policies/cms"), Path("policies/cms")) == ()


def test_a_table_file_renamed_or_with_other_rows_is_named_with_its_row_count(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POLICYC_CACHE_DIR", "")
    write_tables(tmp_path / "old")
    write_version(tmp_path / "old", TABLES)
    write_tables(tmp_path / "new", "99601,2,3\n99602,1,2\n", mue_name="mue-q4.csv")
    write_version(tmp_path / "new", TABLES.replace("mue.csv", "mue-q4.csv").replace("deny CO-236", "deny CO-97 M80"))
    (change,) = changes(tmp_path / "old", tmp_path / "new")
    facts = {rule.rule: rule.facts for rule in change.rules_changed}
    assert set(facts) == {"mue", "ptp"}
    assert "table files: mue.csv -> mue-q4.csv" in facts["mue"]
    assert "table rows: 1 -> 2" in facts["mue"]
    assert any(fact.startswith("table contents: sha256 ") for fact in facts["mue"])
    assert facts["ptp"] == ("action: deny CO-236 -> deny CO-97 M80",)


def test_a_table_rule_added_or_removed_and_a_kind_change_are_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POLICYC_CACHE_DIR", "")
    write_tables(tmp_path / "old")
    write_version(tmp_path / "old", OLD + TABLES.replace("rule mue:", "rule mue-old:"))
    write_tables(tmp_path / "new")
    table_cap = 'rule cap: mue table "mue.csv" by the same provider'
    new_body = OLD.replace("rule cap: limit visits to 4 units per day", table_cap)
    write_version(tmp_path / "new", new_body + TABLES)
    (change,) = changes(tmp_path / "old", tmp_path / "new")
    assert change.rules_added == ("mue",) and change.rules_removed == ("mue-old",)
    (cap,) = [rule for rule in change.rules_changed if rule.rule == "cap"]
    assert "kind: limit -> mue table" in cap.facts and "table files: (none) -> mue.csv" in cap.facts
    text = "\n".join(report_lines(tmp_path / "old", tmp_path / "new"))
    assert "rule mue: added" in text and "rule mue-old: removed" in text


def test_switch_off_rules_and_extends_are_compared(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POLICYC_CACHE_DIR", "")
    for side, extra in (("old", "rule off: switch off pair 96360 with 96523\n"),
                        ("new", "rule off: switch off mue 99601, 99602\n")):
        write_tables(tmp_path / side)
        write_version(tmp_path / side, TABLES, policy_id="base")
        payer = "policy payer\n  plans     medicaid\n  effective 2025-01-01\n  extends   base\n\n" + extra
        (tmp_path / side / "payer.pol").write_text(payer, encoding="utf-8")
    (change,) = changes(tmp_path / "old", tmp_path / "new")
    (off,) = change.rules_changed
    assert off.facts == ("kind: switch off pair -> switch off mue",)
    assert {codes.name for codes in off.codes} == {
        "switched-off column 1 (gone)", "switched-off column 2 (gone)", "switched-off codes (new)"
    }
    (tmp_path / "new" / "payer.pol").unlink()
    assert [c.status for c in changes(tmp_path / "old", tmp_path / "new")] == ["removed"]


def report_lines(old: Path, new: Path) -> list[str]:
    result = CliRunner().invoke(diff_command, ["--old", str(old), "--new", str(new), "examples/claims.json"])
    assert result.exit_code == 0, result.output
    return result.stdout.splitlines()


def test_a_policy_that_starts_extending_another_says_so_in_its_header(tmp_path: Path) -> None:
    for side, extends in (("old", ""), ("new", "  extends   base\n")):
        write_version(tmp_path / side, "rule cap: limit 99601 to 4 units per day deny CO-151\n", policy_id="base")
        payer = f"policy payer\n  plans     medicaid\n  effective 2025-01-01\n{extends}\n" + OLD
        (tmp_path / side / "payer.pol").write_text(payer, encoding="utf-8")
    (change,) = changes(tmp_path / "old", tmp_path / "new")
    assert change.policy_id == "payer" and change.header == ("extends: (none) -> base",)
