"""The bundled lists lint checks codes against: HCPCS Level II codes with the dates each is in force, and modifiers."""

from __future__ import annotations

import csv
import datetime
import functools
from pathlib import Path

import attrs

DATA_DIR = Path(__file__).parent / "data"
HCPCS_FILE = DATA_DIR / "hcpcs_level2_2024-07.codes.csv"
MODIFIER_FILE = DATA_DIR / "modifiers.csv"
HCPCS_LIST = "the HCPCS Level II list of July 2024"


@attrs.frozen
class Window:
    """Dates something is in force, both ends included; an end of None never ends."""

    start: datetime.date
    end: datetime.date | None

    @property
    def empty(self) -> bool:
        """A rule whose own dates miss its policy's is narrowed to an empty window: it is never in force."""
        return self.end is not None and self.end < self.start

    def overlaps(self, other: Window) -> bool:
        if self.empty or other.empty:
            return False
        return (other.end is None or self.start <= other.end) and (self.end is None or other.start <= self.end)

    def contains(self, other: Window) -> bool:
        if self.empty or other.empty or self.start > other.start:
            return False
        return self.end is None or (other.end is not None and other.end <= self.end)

    def hull(self, other: Window) -> Window:
        end = None if self.end is None or other.end is None else max(self.end, other.end)
        return Window(min(self.start, other.start), end)

    def describe(self) -> str:
        if self.end is None:
            return f"from {self.start}"
        return str(self.start) if self.end == self.start else f"{self.start} until {self.end}"


# ------------------------------------------------------------------ bundled lists


@functools.cache
def hcpcs_codes() -> dict[str, Window]:
    """Every HCPCS Level II code of the bundled CMS list, with the dates it is in force."""
    with open(HCPCS_FILE, encoding="utf-8", newline="") as handle:
        return {
            row["hcpcs_code"]: Window(_date(row["date_added"]) or datetime.date.min, _date(row["date_terminated"]))
            for row in csv.DictReader(handle)
        }


@functools.cache
def modifiers() -> frozenset[str]:
    """Every HCPCS Level II and CPT modifier of the bundled list."""
    with open(MODIFIER_FILE, encoding="utf-8", newline="") as handle:
        return frozenset(row["modifier"] for row in csv.DictReader(handle))


def _date(text: str) -> datetime.date | None:
    return datetime.date.fromisoformat(text) if text else None
