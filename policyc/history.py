"""Claim history for cross-claim edits: every adjudicated line kept in SQLite, one transaction per claim."""

from __future__ import annotations

import contextlib
import datetime
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Protocol

import attrs

from policyc.claims import Claim, Line
from policyc.results import ClaimResult

SCHEMA_VERSION = 1
TIMEOUT_ENV = "POLICYC_HISTORY_TIMEOUT"
DEFAULT_TIMEOUT = 5.0

# Plain SQL types and explicit keys so the same tables can live in PostgreSQL (DATE and TIMESTAMP are stored
# as ISO text by SQLite; `?` becomes `%s` with a PostgreSQL driver). Nothing here is SQLite-only but the pragmas.
SCHEMA = (
    """CREATE TABLE IF NOT EXISTS policyc_schema (
        version INTEGER NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS claims (
        claim_id VARCHAR(80) PRIMARY KEY,
        plan VARCHAR(40) NOT NULL,
        member_id VARCHAR(80) NOT NULL,
        billing_provider VARCHAR(80) NOT NULL,
        adjudicated_at TIMESTAMP NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS claim_lines (
        claim_id VARCHAR(80) NOT NULL REFERENCES claims (claim_id) ON DELETE CASCADE,
        line INTEGER NOT NULL,
        member_id VARCHAR(80) NOT NULL,
        billing_provider VARCHAR(80) NOT NULL,
        rendering_provider VARCHAR(80),
        date_of_service DATE NOT NULL,
        code VARCHAR(5) NOT NULL,
        modifiers VARCHAR(20) NOT NULL,
        units INTEGER NOT NULL,
        allowed_units INTEGER NOT NULL,
        status VARCHAR(10) NOT NULL,
        PRIMARY KEY (claim_id, line)
    )""",
    """CREATE INDEX IF NOT EXISTS claim_lines_by_member_day
        ON claim_lines (member_id, date_of_service, billing_provider, code)""",
)


class HistoryError(Exception):
    """The history database cannot be used: missing folder, not a database, locked, read-only."""


@attrs.frozen
class PriorLine:
    """A line of an earlier claim that stood: what it was paid for (units are its allowed units)."""

    claim_id: str
    billing_provider: str
    line: Line  # `line.line` is the number it had on its claim; `rendering_provider` is resolved


class ClaimHistory(Protocol):
    """What the engine needs from a claim history (SQLite here; any store with these three calls will do)."""

    def transaction(self) -> contextlib.AbstractContextManager[None]:
        """Everything read and written for one claim happens inside one of these."""

    def prior_lines(self, claim: Claim) -> Sequence[PriorLine]:
        """Standing lines of the member's other claims under the same plan on the claim's dates of service.

        In any order: the engine sorts them by claim id and line number itself.
        """

    def record(self, claim: Claim, result: ClaimResult) -> None:
        """Keep a processed claim's lines, replacing the lines of an earlier claim with the same id."""


class SqliteHistory:
    """Claim history in an SQLite file (the embedded default); safe to share between threads."""

    def __init__(self, path: str | Path, timeout: float | None = None) -> None:
        self.path = str(path)
        if timeout is None:
            # How long to wait for another process's write to finish before calling the database locked.
            timeout = float(os.environ.get(TIMEOUT_ENV, DEFAULT_TIMEOUT))
        self._lock = threading.RLock()
        try:
            self._db = sqlite3.connect(self.path, timeout=timeout, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as error:
            raise HistoryError(self._explain(error)) from None
        with self._guard():
            self._db.execute("PRAGMA foreign_keys = ON")
            # WAL keeps readers and one writer apart; NORMAL sync is durable at each commit's checkpoint.
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = NORMAL")
            self._create()

    def _create(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            for statement in SCHEMA:
                self._db.execute(statement)
            row = self._db.execute("SELECT version FROM policyc_schema").fetchone()
            if row is None:
                self._db.execute("INSERT INTO policyc_schema (version) VALUES (?)", (SCHEMA_VERSION,))
            elif row[0] != SCHEMA_VERSION:
                raise HistoryError(
                    f"the history database {self.path} has schema version {row[0]}, this policyc reads version "
                    f"{SCHEMA_VERSION}"
                )
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """One claim's reads and writes, all or nothing; a kill before COMMIT leaves the earlier state."""
        with self._lock, self._guard():
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def prior_lines(self, claim: Claim) -> list[PriorLine]:
        days = sorted({line.date.isoformat() for line in claim.lines})
        marks = ", ".join("?" for _ in days)
        # Only claims of the same plan: another plan's claims were judged by other policies (or none), and
        # a Medicare edit counts what was billed to Medicare.
        query = (
            "SELECT l.claim_id, l.billing_provider, l.line, l.code, l.modifiers, l.allowed_units, "
            "l.date_of_service, l.rendering_provider FROM claim_lines l JOIN claims c ON c.claim_id = l.claim_id "
            f"WHERE l.member_id = ? AND l.claim_id <> ? AND l.date_of_service IN ({marks}) AND c.plan = ? "
            "AND l.status <> 'denied' AND l.allowed_units > 0 ORDER BY l.claim_id, l.line"
        )
        with self._guard():
            rows = self._db.execute(query, (claim.member_id, claim.claim_id, *days, claim.plan)).fetchall()
        return [
            PriorLine(
                claim_id,
                provider,
                Line(
                    number,
                    code,
                    tuple(modifiers.split()),
                    units,
                    datetime.date.fromisoformat(day),
                    rendering_provider=rendering,
                ),
            )
            for claim_id, provider, number, code, modifiers, units, day, rendering in rows
        ]

    def record(self, claim: Claim, result: ClaimResult) -> None:
        if result.status != "processed":
            return
        outcome = {line.line: line for line in result.lines}
        now = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
        rows = [
            (
                claim.claim_id,
                line.line,
                claim.member_id,
                claim.billing_provider,
                line.rendering_provider or claim.rendering_provider,
                line.date.isoformat(),
                line.code,
                " ".join(line.modifiers),
                line.units,
                outcome[line.line].allowed_units,
                outcome[line.line].status,
            )
            for line in claim.lines
        ]
        with self._guard():
            # Deleting the claim first makes a resubmission replace its earlier lines (ON DELETE CASCADE).
            self._db.execute("DELETE FROM claim_lines WHERE claim_id = ?", (claim.claim_id,))
            self._db.execute("DELETE FROM claims WHERE claim_id = ?", (claim.claim_id,))
            self._db.execute(
                "INSERT INTO claims (claim_id, plan, member_id, billing_provider, adjudicated_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (claim.claim_id, claim.plan, claim.member_id, claim.billing_provider, now),
            )
            self._db.executemany(
                "INSERT INTO claim_lines (claim_id, line, member_id, billing_provider, rendering_provider, "
                "date_of_service, code, modifiers, units, allowed_units, status) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )

    def lines_of(self, claim_id: str) -> list[tuple[int, str, int, int, str]]:
        """(line, code, units, allowed units, status) of a recorded claim, for tools and tests."""
        query = "SELECT line, code, units, allowed_units, status FROM claim_lines WHERE claim_id = ? ORDER BY line"
        with self._guard():
            return [tuple(row) for row in self._db.execute(query, (claim_id,)).fetchall()]

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        """Turn SQLite's errors into a HistoryError that says what is wrong with the file."""
        try:
            yield
        except sqlite3.Error as error:
            raise HistoryError(self._explain(error)) from None

    def _explain(self, error: sqlite3.Error) -> str:
        text = str(error)
        if "locked" in text or "busy" in text:
            return f"the history database {self.path} is locked by another process ({text}); try again when it is free"
        if "not a database" in text or "malformed" in text or "corrupt" in text:
            fix = "restore it or use a new file"
            return f"the history database {self.path} is not a usable SQLite database ({text}); {fix}"
        if "unable to open" in text:
            return f"the history database {self.path} cannot be opened ({text}); check that its folder exists"
        if "readonly" in text:
            return f"the history database {self.path} is read-only ({text})"
        return f"the history database {self.path} cannot be used ({text})"
