"""The same national edits written by hand three ways: plain Python dictionaries, one DuckDB query, rule engines."""

from __future__ import annotations

import csv
import json
import sys
import tempfile
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

from bench.workload import AOC_FILE, BYPASS_MODIFIERS, MUE_FILE, PTP_FILE, Tables
from policyc.claims import Claim, Line
from policyc.results import ClaimResult, Finding, LineResult

MUE, PTP, AOC = "CO-151", "CO-236", "CO-107"


def handwritten(claims: Iterable[Claim], tables: Tables) -> Counter[str]:
    """MUE (MAI 1 per line, 2 and 3 per day), PTP column 2 denials, then add-ons without a standing primary."""
    denied: Counter[str] = Counter()
    for claim in claims:
        reasons = handwritten_claim(claim.lines, tables)
        for found in reasons.values():
            denied.update(found)
    return denied


def interned(tables: Tables) -> Tables:
    """The same tables with every code interned (sys.intern), as policyc interns its tables' and lines' codes.

    A claim line's code is interned (`policyc.Line`), so a lookup in these dictionaries compares pointers
    rather than text: the hand-written baseline given the one trick that policyc's tables use.
    """
    intern = sys.intern
    return Tables(
        {intern(code): row for code, row in tables.mue.items()},
        {intern(code): None if found is None else frozenset(map(intern, found)) for code, found in tables.aoc.items()},
        {intern(c2): {intern(c1): edit for c1, edit in inner.items()} for c2, inner in tables.ptp.items()},
    )


# What a finding of each edit says when the hand-written baseline builds result records: CARC, RARCs, words.
RECORDED = {MUE: ("151", ("N362",), "units over the MUE"), PTP: ("236", (), "billed with its column 1 code"),
            AOC: ("107", ("N122",), "add-on without a payable primary")}


def handwritten_records(claims: Iterable[Claim], tables: Tables) -> Counter[str]:
    """As `handwritten`, but each claim's outcome becomes the records policyc returns, counted the same way.

    A line result per line and a finding per denial, so the gap between this row and policyc's is the cost of
    policyc being general (dispatch, rules as functions, overrides, dates), not of the results it returns.
    """
    denied: Counter[str] = Counter()
    for claim in claims:
        reasons = handwritten_claim(claim.lines, tables)
        lines = []
        for line in claim.lines:
            found = reasons.get(line.line)
            if found is None:
                lines.append(LineResult(line.line, line.code, line.units, line.units, "paid", ()))
                continue
            findings = tuple(
                Finding(f"bench/{code}", "edit", "deny", "CO", RECORDED[code][0], RECORDED[code][1], False,
                        RECORDED[code][2], "bench/baselines.py")
                for code in sorted(found)
            )
            lines.append(LineResult(line.line, line.code, line.units, 0, "denied", findings))
        for result in ClaimResult(claim.claim_id, "processed", tuple(lines)).lines:
            if result.findings:
                denied.update({f.adjustment for f in result.findings if f.action == "deny" and f.adjustment})
    return denied


def handwritten_claim(lines: Sequence[Line], tables: Tables) -> dict[int, set[str]]:
    reasons: dict[int, set[str]] = {}
    mue, ptp, aoc = tables.mue, tables.ptp, tables.aoc
    per_day: dict[tuple[object, str], int] = {}
    for line in lines:
        per_day[(line.date, line.code)] = per_day.get((line.date, line.code), 0) + line.units
    by_day: dict[object, list[Line]] = {}
    for line in lines:
        by_day.setdefault(line.date, []).append(line)
    for line in lines:
        row = mue.get(line.code)
        if row is not None:
            value, mai = row
            units = line.units if mai == 1 else per_day[(line.date, line.code)]
            if units > value:
                reasons.setdefault(line.line, set()).add(MUE)
        firsts = ptp.get(line.code)
        if firsts:
            for other in by_day[line.date]:
                edit = firsts.get(other.code)
                if edit is None or other.line == line.line or edit[1] < line.date or edit[0] == 9:
                    continue
                bypassed = edit[0] == 1 and not BYPASS_MODIFIERS.isdisjoint((*line.modifiers, *other.modifiers))
                if not bypassed:
                    reasons.setdefault(line.line, set()).add(PTP)
                    break
    settle_addons(lines, aoc, by_day, reasons)
    return reasons


def settle_addons(
    lines: Sequence[Line], aoc: dict[str, frozenset[str] | None], by_day: dict[object, list[Line]],
    reasons: dict[int, set[str]],
) -> None:
    standing = {line.line for line in lines if line.line not in reasons}
    changed = True
    while changed:
        changed = False
        for line in lines:
            primaries = aoc.get(line.code)
            if primaries and line.line in standing and not _supported(line, primaries, by_day, standing):
                standing.discard(line.line)
                changed = True
    for line in lines:
        primaries = aoc.get(line.code)
        if primaries and not _supported(line, primaries, by_day, standing):
            reasons.setdefault(line.line, set()).add(AOC)


def _supported(line: Line, primaries: frozenset[str], by_day: dict[object, list[Line]], standing: set[int]) -> bool:
    return any(o.code in primaries and o.line in standing and o.line != line.line for o in by_day[line.date])


# ------------------------------------------------------------------ DuckDB

DUCKDB_QUERY = """
WITH per_day AS (
    SELECT claim_id, dos, code, SUM(units) AS day_units FROM lines GROUP BY claim_id, dos, code
), mue_denied AS (
    SELECT l.claim_id, l.line FROM lines l
    JOIN mue m ON m.code = l.code
    JOIN per_day d ON d.claim_id = l.claim_id AND d.dos = l.dos AND d.code = l.code
    WHERE (m.mai = 1 AND l.units > m.value) OR (m.mai <> 1 AND d.day_units > m.value)
), same_day AS MATERIALIZED (
    -- pairs of lines first, then ptp: one column 2 code (96523) has ~11,000 column 1 rows, so joining lines
    -- to ptp before pairing explodes (230M rows at 200k lines); DuckDB 2.0 picks that order unless fenced
    SELECT l2.claim_id, l2.line, l2.dos, l1.code AS code_1, l2.code AS code_2, l1.bypass OR l2.bypass AS bypass
    FROM lines l2 JOIN lines l1 ON l1.claim_id = l2.claim_id AND l1.dos = l2.dos AND l1.line <> l2.line
    WHERE l1.code IN (SELECT column_1 FROM ptp) AND l2.code IN (SELECT column_2 FROM ptp)
), ptp_denied AS (
    SELECT DISTINCT s.claim_id, s.line FROM same_day s
    -- both codes are hash keys, so the date test stays a residual check, never an inequality join
    JOIN ptp p ON p.column_1 = s.code_1 AND p.column_2 = s.code_2 AND p.deletion >= s.dos
    WHERE p.indicator <> 9 AND (p.indicator = 0 OR NOT s.bypass)
), first_denials AS (
    SELECT claim_id, line FROM mue_denied UNION SELECT claim_id, line FROM ptp_denied
), addon_lines AS (
    SELECT claim_id, line, code, dos FROM lines WHERE code IN (SELECT add_on FROM aoc)
), supported AS (
    SELECT DISTINCT a.claim_id, a.line FROM addon_lines a
    JOIN aoc ON aoc.add_on = a.code
    JOIN lines p ON p.claim_id = a.claim_id AND p.dos = a.dos AND p.code = aoc.primary_code AND p.line <> a.line
    LEFT JOIN first_denials f ON f.claim_id = p.claim_id AND f.line = p.line
    WHERE f.line IS NULL
), addon_denied AS (
    SELECT claim_id, line FROM addon_lines EXCEPT SELECT claim_id, line FROM supported
)
SELECT 'CO-151', COUNT(*) FROM mue_denied
UNION ALL SELECT 'CO-236', COUNT(*) FROM ptp_denied
UNION ALL SELECT 'CO-107', COUNT(*) FROM addon_denied
"""

# The tables come straight from the CSV files the policies bind, as DuckDB reads them.
DUCKDB_TABLES = (
    "CREATE TABLE mue AS SELECT hcpcs_code AS code, mue_value AS value, mai FROM read_csv('{mue}', header = true,"
    " all_varchar = true, columns = {{'hcpcs_code': 'VARCHAR', 'mue_value': 'INTEGER', 'mai': 'INTEGER',"
    " 'mue_rationale': 'VARCHAR'}})",
    "CREATE TABLE aoc AS SELECT add_on_code AS add_on, primary_code FROM read_csv('{aoc}', header = true,"
    " all_varchar = true) WHERE primary_code <> 'CCCCC'",
    "CREATE TABLE ptp AS SELECT column_1, column_2, CAST(modifier_indicator AS INTEGER) AS indicator,"
    " CAST(deletion_date AS DATE) AS deletion FROM read_csv('{ptp}', header = true, all_varchar = true)"
    " WHERE setting = 'practitioner'",
)


def write_lines_csv(claims: Iterable[Claim], path: Path) -> int:
    count = 0
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["claim_id", "line", "code", "units", "dos", "bypass"])
        for claim in claims:
            for line in claim.lines:
                bypass = not BYPASS_MODIFIERS.isdisjoint(line.modifiers)
                writer.writerow([claim.claim_id, line.line, line.code, line.units, line.date.isoformat(), bypass])
                count += 1
    return count


def duckdb_connection(lines_csv: Path) -> object:
    """An in-memory DuckDB holding the lines and the three tables (loading is timed apart from the query)."""
    import duckdb

    con = duckdb.connect()
    con.execute(f"CREATE TABLE lines AS SELECT * FROM read_csv('{lines_csv}', header = true, "
                "columns = {'claim_id': 'VARCHAR', 'line': 'INTEGER', 'code': 'VARCHAR', 'units': 'INTEGER', "
                "'dos': 'DATE', 'bypass': 'BOOLEAN'})")
    for statement in DUCKDB_TABLES:
        con.execute(statement.format(mue=MUE_FILE, aoc=AOC_FILE, ptp=PTP_FILE))
    return con


def duckdb_denials(con: object) -> Counter[str]:
    return Counter(dict(con.execute(DUCKDB_QUERY).fetchall()))  # type: ignore[attr-defined]


# ------------------------------------------------------------------ general-purpose rule engines


def rule_engine_mue(lines: Sequence[Line], tables: Tables) -> int:
    """The per-line MUE check as one `rule-engine` rule per table row, tried in order until one matches."""
    import rule_engine

    rules = [rule_engine.Rule(f'code == "{code}" and units > {value}') for code, (value, _) in tables.mue.items()]
    denied = 0
    for line in lines:
        facts = {"code": line.code, "units": line.units}
        denied += any(rule.matches(facts) for rule in rules)
    return denied


def zen_engine_decision(tables: Tables) -> object:
    """The MUE table as one GoRules JDM decision table (hit policy first), compiled once by zen-engine."""
    import zen

    rules = [
        {"_id": f"r{i}", "code": json.dumps(code), "units": f"> {value}", "denied": "true"}
        for i, (code, (value, _)) in enumerate(tables.mue.items())
    ]
    rules.append({"_id": "default", "code": "", "units": "", "denied": "false"})
    graph = {
        "contentType": "application/vnd.gorules.decision",
        "nodes": [
            {"id": "in", "type": "inputNode", "name": "Request", "position": {"x": 0, "y": 0}},
            {"id": "out", "type": "outputNode", "name": "Response", "position": {"x": 0, "y": 0}},
            {"id": "mue", "type": "decisionTableNode", "name": "MUE", "position": {"x": 0, "y": 0}, "content": {
                "hitPolicy": "first",
                "inputs": [{"id": "code", "name": "code", "type": "expression", "field": "code"},
                           {"id": "units", "name": "units", "type": "expression", "field": "units"}],
                "outputs": [{"id": "denied", "name": "denied", "type": "expression", "field": "denied"}],
                "rules": rules,
            }},
        ],
        "edges": [{"id": "e1", "sourceId": "in", "targetId": "mue", "type": "edge"},
                  {"id": "e2", "sourceId": "mue", "targetId": "out", "type": "edge"}],
    }
    return zen.ZenEngine().create_decision(json.dumps(graph))


def zen_engine_mue(lines: Sequence[Line], decision: object) -> int:
    denied = 0
    for line in lines:
        result = decision.evaluate({"code": line.code, "units": line.units})  # type: ignore[attr-defined]
        denied += bool(result["result"]["denied"])
    return denied


def temp_csv() -> Path:
    return Path(tempfile.mkdtemp(prefix="policyc-bench-")) / "lines.csv"
