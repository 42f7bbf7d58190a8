"""Reference code lists bundled with policyc: claim adjustment group codes, CARCs and RARCs."""

from __future__ import annotations

import csv
import datetime
import functools
from pathlib import Path

import attrs

DATA_DIR = Path(__file__).parent / "data"


@attrs.frozen
class AdjustmentCode:
    """One group code, CARC or RARC with the dates it is in force."""

    code: str
    kind: str  # "Group", "CARC" or "RARC"
    start: datetime.date | None
    end: datetime.date | None


@functools.cache
def adjustment_codes() -> dict[tuple[str, str], AdjustmentCode]:
    """Every known adjustment code, keyed by (kind, code); read once from the bundled X12/CMS list."""
    codes: dict[tuple[str, str], AdjustmentCode] = {}
    with open(DATA_DIR / "adjustment_codes.csv", encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            entry = AdjustmentCode(row["code"], row["code_type"], _date(row["start_date"]), _date(row["end_date"]))
            codes[(entry.kind, entry.code)] = entry
    return codes


def codes_of_kind(kind: str) -> frozenset[str]:
    """The codes of one kind, for did-you-mean suggestions."""
    return frozenset(code for (k, code) in adjustment_codes() if k == kind)


def lookup(kind: str, code: str) -> AdjustmentCode | None:
    return adjustment_codes().get((kind, code))


def _date(text: str) -> datetime.date | None:
    return datetime.date.fromisoformat(text) if text else None
