"""Claim history: cross-claim MUE sums and add-on primaries, resubmissions, crashes, broken databases, the CLI."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import policyc
from policyc.claims import Claim, parse_claim
from policyc.cli import main
from policyc.history import HistoryError, SqliteHistory

CMS = Path("policies/cms")
DAY = "2024-07-15"
NATIONAL = policyc.load(CMS)
SEEDS = policyc.load("policies/payer", "policies/medicaid")


@pytest.fixture(autouse=True)
def _private_table_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the tables these tests parse out of the user's cache folder."""
    monkeypatch.setenv("POLICYC_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "table-cache"))


def claim(
    claim_id: str,
    *lines: tuple[str, int],
    member: str = "M-1",
    provider: str = "1234567893",
    day: str = DAY,
    plan: str = "medicare",
) -> dict[str, Any]:
    return {
        "claim_id": claim_id,
        "plan": plan,
        "member_id": member,
        "billing_provider": provider,
        "lines": [{"line": i, "code": code, "units": units, "date": day} for i, (code, units) in enumerate(lines, 1)],
    }


def statuses(result: policyc.ClaimResult) -> dict[int, str]:
    return {
        line.line: " ".join([line.status, *sorted(f.adjustment or "review" for f in line.findings)])
        for line in result.lines
    }


@pytest.fixture
def history(tmp_path: Path) -> SqliteHistory:
    return SqliteHistory(tmp_path / "history.db")


@pytest.fixture
def engine(history: SqliteHistory) -> policyc.Engine:
    return policyc.Engine(NATIONAL.policies, history=history)


# ------------------------------------------------------------------ cross-claim edits


def test_a_date_of_service_mue_counts_earlier_claims(engine: policyc.Engine) -> None:
    assert statuses(engine.check(claim("A", ("99213", 2)))) == {1: "paid"}
    second = engine.check(claim("B", ("99213", 1)))
    assert statuses(second) == {1: "denied CO-151"}
    assert (
        "3 units of 99213 on 2024-07-15 (2 of them on earlier claims) exceed the MUE of 2"
        in second.lines[0].findings[0].message
    )
    # The earlier claim was adjudicated already: its line stays paid in the history.
    assert engine.history is not None
    assert engine.history.lines_of("A") == [(1, "99213", 2, 2, "paid")]  # type: ignore[attr-defined]


def test_only_the_same_member_provider_and_day_count(engine: policyc.Engine) -> None:
    engine.check(claim("A", ("99213", 2)))
    assert statuses(engine.check(claim("B", ("99213", 2), member="M-2"))) == {1: "paid"}
    assert statuses(engine.check(claim("C", ("99213", 2), provider="1111111111"))) == {1: "paid"}
    assert statuses(engine.check(claim("D", ("99213", 2), day="2024-07-16"))) == {1: "paid"}


def test_a_line_edit_mue_does_not_look_at_other_claims(engine: policyc.Engine) -> None:
    engine.check(claim("A", ("A0425", 250)))
    assert statuses(engine.check(claim("B", ("A0425", 250)))) == {1: "paid"}


def test_denied_lines_of_earlier_claims_do_not_count(engine: policyc.Engine) -> None:
    assert statuses(engine.check(claim("A", ("99213", 3)))) == {1: "denied CO-151"}
    assert statuses(engine.check(claim("B", ("99213", 2)))) == {1: "paid"}


def test_an_add_on_stands_on_a_primary_of_an_earlier_claim(engine: policyc.Engine) -> None:
    assert statuses(engine.check(claim("A", ("96365", 1)))) == {1: "paid"}
    assert statuses(engine.check(claim("B", ("96366", 1)))) == {1: "paid"}
    assert statuses(engine.check(claim("C", ("96366", 1), provider="1111111111"))) == {1: "denied CO-107"}


def test_a_denied_primary_of_an_earlier_claim_supports_no_add_on(engine: policyc.Engine) -> None:
    assert statuses(engine.check(claim("A", ("96365", 2)))) == {1: "denied CO-151"}
    assert statuses(engine.check(claim("B", ("96366", 1)))) == {1: "denied CO-107"}


def with_modifiers(record: dict[str, Any], line: int, *modifiers: str) -> dict[str, Any]:
    record["lines"][line - 1]["modifiers"] = list(modifiers)
    return record


def test_a_column_1_line_of_an_earlier_claim_denies_the_column_2_line(engine: policyc.Engine) -> None:
    assert statuses(engine.check(claim("A", ("96360", 1)))) == {1: "paid"}
    later = engine.check(claim("B", ("96523", 1)))
    assert statuses(later) == {1: "denied CO-236"}
    assert "96523 on 2024-07-15 is not paid with 96360 (on an earlier claim)" in later.lines[0].findings[0].message


def test_the_claims_own_column_1_line_names_the_edit_before_an_earlier_claims(engine: policyc.Engine) -> None:
    engine.check(claim("A", ("0001U", 1)))
    later = engine.check(claim("B", ("96523", 1), ("96360", 1)))
    assert statuses(later) == {1: "denied CO-236", 2: "paid"}
    assert "not paid with 96360 (line 2)" in later.lines[0].findings[0].message


def test_a_later_column_1_line_does_not_reach_back_to_an_earlier_column_2_line(
    engine: policyc.Engine, history: SqliteHistory
) -> None:
    engine.check(claim("A", ("96523", 1)))
    assert statuses(engine.check(claim("B", ("96360", 1)))) == {1: "paid"}
    assert history.lines_of("A") == [(1, "96523", 1, 1, "paid")]


def test_pair_edits_across_claims_need_the_same_member_provider_and_day(engine: policyc.Engine) -> None:
    engine.check(claim("A", ("96360", 1)))
    assert statuses(engine.check(claim("B", ("96523", 1), provider="1111111112"))) == {1: "paid"}
    assert statuses(engine.check(claim("C", ("96523", 1), member="M-2"))) == {1: "paid"}
    assert statuses(engine.check(claim("D", ("96523", 1), day="2024-07-16"))) == {1: "paid"}


def test_a_bypass_modifier_on_either_claim_lifts_an_indicator_1_edit(engine: policyc.Engine) -> None:
    engine.check(with_modifiers(claim("A", ("0018M", 1)), 1, "59"))
    assert statuses(engine.check(claim("B", ("96523", 1)))) == {1: "paid"}
    engine.check(claim("C", ("0018M", 1), member="M-2"))
    assert statuses(engine.check(claim("D", ("96523", 1), member="M-2"))) == {1: "denied CO-236"}
    resubmitted = with_modifiers(claim("D", ("96523", 1), member="M-2"), 1, "XU")
    assert statuses(engine.check(resubmitted)) == {1: "paid"}


def test_no_modifier_lifts_an_indicator_0_edit_across_claims(engine: policyc.Engine) -> None:
    engine.check(with_modifiers(claim("A", ("96360", 1)), 1, "59"))
    assert statuses(engine.check(with_modifiers(claim("B", ("96523", 1)), 1, "59"))) == {1: "denied CO-236"}


def test_a_denied_column_1_line_of_an_earlier_claim_denies_nothing(engine: policyc.Engine) -> None:
    # 96360 has an MUE of 1 (MAI 3): two units deny the line, so it never stood.
    assert statuses(engine.check(claim("A", ("96360", 2)))) == {1: "denied CO-151"}
    assert statuses(engine.check(claim("B", ("96523", 1)))) == {1: "paid"}


def test_only_earlier_claims_of_the_same_plan_count(engine: policyc.Engine) -> None:
    # The national policies edit plan medicare; a claim under another plan was billed to another payer.
    engine.check(claim("MCD-1", ("99213", 2), ("96360", 1), ("96365", 1), plan="medicaid"))
    assert statuses(engine.check(claim("MCR-1", ("96523", 1)))) == {1: "paid"}  # no Medicare column 1 line
    assert statuses(engine.check(claim("MCR-2", ("99213", 1)))) == {1: "paid"}  # MUE 2: only this unit counts
    assert statuses(engine.check(claim("MCR-3", ("96366", 1)))) == {1: "denied CO-107"}  # no Medicare primary


# Found by an independent review on 2026-12-02: the Medicaid example replaces the national row 96360/96523 with a
# written `pair` rule (to let 59 or XU through), and written pair rules looked at one claim only, so replacing the
# row lost its edit across claims. A written pair rule on the same day now looks across claims as a PTP table does.
def test_a_payer_pair_rule_replacing_a_national_row_looks_across_claims_too(tmp_path: Path) -> None:
    payer = policyc.load(CMS, "examples/cms/medicaid-ncci-2024q3.pol")
    engine = policyc.Engine(payer.policies, history=SqliteHistory(tmp_path / "h.db"))
    medicaid = {"plan": "medicaid"}
    assert statuses(engine.check(claim("A", ("96360", 1), **medicaid))) == {1: "paid"}
    second = engine.check(claim("B", ("96523", 1), **medicaid))
    assert statuses(second) == {1: "denied CO-236"}
    [finding] = second.lines[0].findings
    assert finding.rule == "medicaid-ncci-2024q3/flush-with-infusion"
    assert "96523 is not paid with 96360 (on an earlier claim) on the same day by the same provider" in finding.message
    assert "replaces cms-ptp-practitioner-2024q3/ptp's row 96360/96523 (modifier indicator 0)" in finding.message
    # The payer's bypass, which the national row (indicator 0) does not allow, works across claims too.
    assert statuses(engine.check(with_modifiers(claim("C", ("96523", 1), **medicaid), 1, "XU"))) == {1: "paid"}
    # Another provider's column 1 line denies nothing, and a later one does not reach back; resubmitted, D meets it.
    assert statuses(engine.check(claim("D", ("96523", 1), provider="1111111112", **medicaid))) == {1: "paid"}
    assert statuses(engine.check(claim("E", ("96360", 1), provider="1111111112", **medicaid))) == {1: "paid"}
    assert statuses(engine.check(claim("D", ("96523", 1), provider="1111111112", **medicaid))) == {1: "denied CO-236"}


def test_the_practitioner_tables_leave_an_institutional_claim_to_other_tables(engine: policyc.Engine) -> None:
    # Found by an independent review on 2026-12-02: the practitioner row 96360/99211 (indicator 0) denied an
    # outpatient hospital claim's 99211-25, which the hospital table's row (indicator 1) lets through.
    outpatient = {**claim("A", ("96360", 1), ("99211", 1), ("99213", 3), ("99602", 1)), "claim_type": "institutional"}
    outpatient["lines"][1]["modifiers"] = ["25"]
    # No practitioner PTP or MUE edit; the add-on table serves both settings: 99602 still needs 99601.
    assert statuses(engine.check(outpatient)) == {1: "paid", 2: "paid", 3: "paid", 4: "denied CO-107"}
    professional = {**outpatient, "claim_id": "B", "claim_type": "professional"}
    assert "CO-236" in statuses(engine.check(professional))[2]


def test_resubmitting_a_claim_replaces_its_lines(engine: policyc.Engine, history: SqliteHistory) -> None:
    engine.check(claim("A", ("99213", 2)))
    # Checking A again does not count A's own earlier lines against it.
    assert statuses(engine.check(claim("A", ("99213", 2)))) == {1: "paid"}
    assert statuses(engine.check(claim("B", ("99213", 1)))) == {1: "denied CO-151"}
    engine.check(claim("A", ("99213", 1), ("90471", 1)))  # a corrected claim with fewer units
    assert history.lines_of("A") == [(1, "99213", 1, 1, "paid"), (2, "90471", 1, 1, "paid")]
    assert statuses(engine.check(claim("B", ("99213", 1)))) == {1: "paid"}


def test_rejected_claims_are_not_recorded(engine: policyc.Engine, history: SqliteHistory) -> None:
    bad = claim("A", ("99213", 2))
    bad["lines"][0]["units"] = 0
    assert engine.check(bad).status == "rejected"
    assert history.lines_of("A") == []


def test_hand_written_per_day_limits_and_add_ons_use_the_history_too(tmp_path: Path) -> None:
    engine = policyc.Engine(SEEDS.policies, history=SqliteHistory(tmp_path / "h.db"))
    medicaid = {"plan": "medicaid", "day": "2026-01-05"}
    assert statuses(engine.check(claim("A", ("99601", 3), **medicaid))) == {1: "paid"}
    assert statuses(engine.check(claim("B", ("99601", 2), **medicaid))) == {1: "denied CO-151"}
    assert statuses(engine.check(claim("C", ("99602", 1), **medicaid))) == {1: "paid"}  # 99601 of claim A
    # A per-claim rule never looks at other claims: a lone 99602 on another day is still denied.
    assert statuses(engine.check(claim("D", ("99602", 1), plan="medicaid", day="2026-01-06"))) == {1: "denied CO-107"}


def test_the_history_keeps_what_each_line_was_paid(history: SqliteHistory, engine: policyc.Engine) -> None:
    engine.check(claim("A", ("99601", 1), ("99602", 1), ("96365", 1)))
    assert history.lines_of("A") == [
        (1, "99601", 1, 0, "denied"),
        (2, "99602", 1, 0, "denied"),
        (3, "96365", 1, 1, "paid"),
    ]
    parsed = parse_claim(claim("B", ("96366", 1)))
    assert isinstance(parsed, Claim)
    [prior] = history.prior_lines(parsed)
    assert (prior.claim_id, prior.line.code, prior.line.units, prior.billing_provider) == (
        "A",
        "96365",
        1,
        "1234567893",
    )


# ------------------------------------------------------------------ consistency and broken databases


def test_a_failure_inside_a_claim_rolls_the_claim_back(
    history: SqliteHistory, engine: policyc.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine.check(claim("A", ("99213", 1)))
    original = SqliteHistory.record

    def half_then_fail(self: SqliteHistory, data: Claim, result: policyc.ClaimResult) -> None:
        original(self, data, result)
        raise RuntimeError("killed after writing")

    monkeypatch.setattr(SqliteHistory, "record", half_then_fail)
    with pytest.raises(RuntimeError):
        engine.check(claim("A", ("99213", 2), ("96365", 1)))
    monkeypatch.undo()
    assert history.lines_of("A") == [(1, "99213", 1, 1, "paid")]


def run_check(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "policyc.cli", "check", *args]
    return subprocess.run(
        command, capture_output=True, text=True, timeout=60, env={**os.environ, **(env or {})}, stdin=subprocess.DEVNULL
    )


def test_a_kill_mid_batch_leaves_whole_claims(tmp_path: Path) -> None:
    claims = tmp_path / "batch.ndjson"
    with open(claims, "w", encoding="utf-8") as out:
        for index in range(20_000):
            out.write(
                json.dumps(claim(f"K{index}", ("99213", 1), ("96365", 1), ("96366", 2), member=f"M{index % 50}")) + "\n"
            )
    database = tmp_path / "h.db"
    command = [
        sys.executable,
        "-m",
        "policyc.cli",
        "check",
        "-p",
        str(CMS),
        "--history",
        str(database),
        "-f",
        "ndjson",
        str(claims),
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    recorded = 0
    while time.monotonic() < deadline and recorded < 200:
        time.sleep(0.1)
        try:
            with sqlite3.connect(database, timeout=1) as probe:
                recorded = probe.execute("SELECT count(*) FROM claims").fetchone()[0]
        except sqlite3.Error:
            continue
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    assert 200 <= recorded < 20_000, "the batch should be killed part-way"
    with sqlite3.connect(database) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        per_claim = db.execute(
            "SELECT c.claim_id, count(l.line) FROM claims c "
            "LEFT JOIN claim_lines l USING (claim_id) GROUP BY c.claim_id"
        ).fetchall()
        orphans = db.execute(
            "SELECT count(*) FROM claim_lines WHERE claim_id NOT IN (SELECT claim_id FROM claims)"
        ).fetchone()
    assert per_claim and all(count == 3 for _, count in per_claim)
    assert orphans == (0,)
    # The database is still usable: the next run carries on from it.
    rest = tmp_path / "rest.json"
    rest.write_text(json.dumps(claim("K0", ("99213", 1))), encoding="utf-8")
    again = run_check(["-p", str(CMS), "--history", str(database), "-f", "ndjson", str(rest)])
    assert again.returncode == 0, again.stderr


def test_a_corrupt_database_is_a_clear_error(tmp_path: Path) -> None:
    database = tmp_path / "h.db"
    database.write_bytes(b"this is not a database" * 100)
    with pytest.raises(HistoryError, match="is not a usable SQLite database"):
        SqliteHistory(database)
    result = CliRunner().invoke(main, ["check", "-p", str(CMS), "--history", str(database), "examples/claims.json"])
    assert result.exit_code == 2
    assert f"policyc: the history database {database} is not a usable SQLite database" in result.stderr
    assert "Traceback" not in result.output + result.stderr


def test_a_locked_database_is_a_clear_error(tmp_path: Path) -> None:
    database = tmp_path / "h.db"
    SqliteHistory(database).close()
    holder = sqlite3.connect(database, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(HistoryError, match="is locked by another process"):
            SqliteHistory(database, timeout=0.05)  # opening waits on the lock too
        result = run_check(
            ["-p", str(CMS), "--history", str(database), "examples/claims.json"], {"POLICYC_HISTORY_TIMEOUT": "0.05"}
        )
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert result.returncode == 2
    assert "is locked by another process" in result.stderr and "Traceback" not in result.stderr


def test_a_database_in_a_missing_folder(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["check", "-p", str(CMS), "--history", str(tmp_path / "no" / "h.db"), "examples/claims.json"]
    )
    assert result.exit_code == 2
    assert "cannot be opened" in result.stderr and "check that its folder exists" in result.stderr


def test_the_cli_keeps_history_across_runs(tmp_path: Path) -> None:
    database = tmp_path / "h.db"
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    first.write_text(json.dumps(claim("A", ("90471", 1), ("96365", 1))), encoding="utf-8")
    second.write_text(json.dumps([claim("B", ("90471", 1), ("96366", 1))]), encoding="utf-8")
    runner = CliRunner()
    args = ["check", "-p", str(CMS), "--history", str(database), "-f", "ndjson"]
    assert runner.invoke(main, [*args, str(first)]).exit_code == 0
    result = runner.invoke(main, [*args, str(second)])
    assert result.exit_code == 0, result.stderr
    [line_one, line_two] = json.loads(result.stdout)["lines"]
    assert (line_one["status"], line_two["status"]) == ("denied", "paid")
    without = runner.invoke(main, ["check", "-p", str(CMS), "-f", "ndjson", str(second)])
    assert [line["status"] for line in json.loads(without.stdout)["lines"]] == ["paid", "denied"]


# Found in review on 2026-12-02: 2 ** 63 units passed the reader, then stopped the batch writing its history
# (SQLite stores 64-bit integers), leaving the output unfinished and the claims after it unchecked.
def test_units_too_large_to_keep_reject_their_claim_and_the_batch_goes_on(tmp_path: Path) -> None:
    database = tmp_path / "h.db"
    batch = tmp_path / "batch.json"
    huge = claim("A", ("99213", 1))
    huge["lines"][0]["units"] = 2**63
    batch.write_text(json.dumps([huge, claim("B", ("99213", 1))]), encoding="utf-8")
    result = CliRunner().invoke(main, ["check", "-p", str(CMS), "--history", str(database), "-f", "ndjson", str(batch)])
    first, second = (json.loads(text) for text in result.stdout.splitlines())
    assert first["status"] == "rejected" and first["errors"][0]["field"] == "lines[0].units"
    assert "at most 999,999,999,999,999" in first["errors"][0]["reason"]
    assert second["status"] == "processed" and second["lines"][0]["status"] == "paid"
    assert "Traceback" not in result.output + result.stderr


def test_the_schema_uses_plain_sql_with_explicit_keys(tmp_path: Path) -> None:
    SqliteHistory(tmp_path / "h.db").close()
    with sqlite3.connect(tmp_path / "h.db") as db:
        tables = {name: sql for name, sql in db.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table'")}
        indexes = [
            row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")
        ]
    assert set(tables) == {"policyc_schema", "claims", "claim_lines"}
    assert (
        "PRIMARY KEY (claim_id, line)" in tables["claim_lines"]
        and "claim_id VARCHAR(80) PRIMARY KEY" in tables["claims"]
    )
    assert indexes == ["claim_lines_by_member_day"]
