"""The benchmark's workload: the national tables as plain dictionaries, and synthetic claims made reproducibly."""

from __future__ import annotations

import csv
import datetime
import random
from collections.abc import Iterator
from pathlib import Path

import attrs

from policyc.claims import Claim, Line

REPO = Path(__file__).resolve().parent.parent
CMS = REPO / "policies" / "cms"
MUE_FILE = CMS / "mue_practitioner_2024-07-01.csv"
AOC_FILE = CMS / "aoc_pairs_2024-06-03.csv"
PTP_FILE = CMS / "ptp_pairs_home_infusion_subset.csv"
QUARTER_START = datetime.date(2024, 7, 1)
BYPASS_MODIFIERS = frozenset({
    "59", "XE", "XS", "XP", "XU", "24", "25", "27", "57", "58", "78", "79", "91",
    "E1", "E2", "E3", "E4", "FA", "F1", "F2", "F3", "F4", "F5", "F6", "F7", "F8", "F9",
    "TA", "T1", "T2", "T3", "T4", "T5", "T6", "T7", "T8", "T9", "LT", "RT", "LC", "LD", "LM", "RC", "RI",
})
NO_PRIMARY = "CCCCC"


@attrs.frozen
class Tables:
    """The three national tables, read straight from the CSVs the policies bind, as dictionaries."""

    mue: dict[str, tuple[int, int]]  # code -> (MUE value, MAI)
    aoc: dict[str, frozenset[str] | None]  # add-on -> listed primaries; None for type 2 (no national primary)
    ptp: dict[str, dict[str, tuple[int, datetime.date]]]  # column 2 -> column 1 -> (indicator, deletion date)


def read_tables() -> Tables:
    mue = {}
    with open(MUE_FILE, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            mue[row["hcpcs_code"]] = (int(row["mue_value"]), int(row["mai"]))
    aoc: dict[str, set[str] | None] = {}
    with open(AOC_FILE, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if row["primary_code"] == NO_PRIMARY:
                aoc.setdefault(row["add_on_code"], None)
            else:
                listed = aoc.setdefault(row["add_on_code"], set())
                if listed is not None:
                    listed.add(row["primary_code"])
    ptp: dict[str, dict[str, tuple[int, datetime.date]]] = {}
    with open(PTP_FILE, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if row["setting"] == "practitioner":
                deletion = datetime.date.fromisoformat(row["deletion_date"])
                ptp.setdefault(row["column_2"], {})[row["column_1"]] = (int(row["modifier_indicator"]), deletion)
    frozen_aoc = {code: frozenset(p) if p is not None else None for code, p in aoc.items()}
    return Tables(mue, frozen_aoc, ptp)


class ClaimMaker:
    """Claims aimed at the tables: add-ons with and without primaries, PTP pairs, units around each MUE."""

    def __init__(self, tables: Tables, seed: int) -> None:
        self.random = random.Random(seed)
        self.mue_codes = sorted(tables.mue)
        self.addons = sorted(code for code, primaries in tables.aoc.items() if primaries)
        self.aoc = tables.aoc
        self.pairs = sorted((c1, c2) for c2, firsts in tables.ptp.items() for c1 in firsts)
        self.mue = tables.mue
        self.serial = 0

    def claims(self, total_lines: int) -> Iterator[Claim]:
        made = 0
        while made < total_lines:
            claim = self.claim(min(self.random.randint(1, 8), total_lines - made))
            made += len(claim.lines)
            yield claim

    def claim(self, size: int) -> Claim:
        self.serial += 1
        # The last day is Sep 29 so that a line moved to the next day still falls in the quarter.
        day = QUARTER_START + datetime.timedelta(days=self.random.randrange(91))
        codes: list[str] = []
        while len(codes) < size:
            codes.extend(self.pick())
        lines = tuple(self.line(number, code, day) for number, code in enumerate(codes[:size], start=1))
        return Claim(
            claim_id=f"B-{self.serial}", claim_type="professional", plan="medicare",
            member_id=f"M-{self.serial % 50_000}", billing_provider=f"P-{self.serial % 2_000}", lines=lines,
        )

    def pick(self) -> list[str]:
        roll = self.random.random()
        if roll < 0.3:
            addon = self.random.choice(self.addons)
            primaries = self.aoc[addon] or frozenset()
            with_primary = self.random.random() < 0.7 and primaries
            return [addon, self.random.choice(sorted(primaries))] if with_primary else [addon]
        if roll < 0.5:
            return list(self.random.choice(self.pairs))
        return [self.random.choice(self.mue_codes)]

    def line(self, number: int, code: str, day: datetime.date) -> Line:
        value = self.mue.get(code, (3, 3))[0]
        units = max(1, value + self.random.choice((-1, 0, 0, 0, 1))) if value else self.random.choice((1, 1, 2))
        modifiers = ("59",) if self.random.random() < 0.1 else ()
        other_day = self.random.random() < 0.05
        return Line(
            line=number, code=code, modifiers=modifiers, units=units,
            date=day + datetime.timedelta(days=1) if other_day else day,
        )
