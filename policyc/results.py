"""Adjudication results in the interchange shape: findings per line, a status per line and per claim."""

from __future__ import annotations

from typing import Any

import attrs

from policyc.claims import ClaimError
from policyc.runtime import Message

# A line's status is its strongest finding's; the action each status comes from.
STATUS_OF_ACTION = {"deny": "denied", "cut back": "reduced", "review": "review"}
STATUS_STRENGTH = {"denied": 3, "reduced": 2, "review": 1, "paid": 0}


# Results are made fresh for every claim and handed to the caller; the engine keeps no reference to them.
# They are plain slotted records rather than frozen ones because a frozen attrs class costs about four
# times as much to build, and building them is a large part of an engine's time on a claim (see bench/).


@attrs.define(repr=False)
class Finding:
    """One rule firing on one line."""

    rule: str  # "<policy-id>/<rule-id>"
    kind: str
    action: str
    group: str | None
    carc: str | None
    rarc: tuple[str, ...]
    appealable: bool
    # A string, or a runtime.Message written out when first read: read it through `message`.
    _message: str | Message = attrs.field(eq=str)
    source: str  # "policies/home-infusion.pol:14"
    allowed_units: int | None = attrs.field(default=None, eq=False)

    @property
    def message(self) -> str:
        return str(self._message)

    def __repr__(self) -> str:
        # As attrs would write it, but naming `message` (not the private field) and showing its text.
        names = [field.name.lstrip("_") for field in attrs.fields(Finding)]
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in names)
        return f"Finding({fields})"

    @property
    def status(self) -> str:
        return STATUS_OF_ACTION[self.action]

    @property
    def adjustment(self) -> str | None:
        """`CO-107`, or None for a review."""
        return f"{self.group}-{self.carc}" if self.group and self.carc else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "kind": self.kind,
            "action": self.action,
            "group": self.group,
            "carc": self.carc,
            "rarc": list(self.rarc),
            "appealable": self.appealable,
            "message": self.message,
            "source": self.source,
        }


@attrs.define
class LineResult:
    line: int
    code: str
    units: int
    allowed_units: int
    status: str  # "denied", "reduced", "review" or "paid"
    findings: tuple[Finding, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "code": self.code,
            "units": self.units,
            "allowed_units": self.allowed_units,
            "status": self.status,
            "findings": [f.to_dict() for f in self.findings],
        }


@attrs.define
class ClaimResult:
    """The result of one input claim: processed with its lines, or rejected with the reasons."""

    claim_id: str | None
    status: str  # "processed" or "rejected"
    lines: tuple[LineResult, ...] = ()
    errors: tuple[ClaimError, ...] = ()

    def line(self, number: int) -> LineResult:
        """The result of the line numbered `number`; KeyError when the claim has no such line."""
        for line in self.lines:
            if line.line == number:
                return line
        raise KeyError(f"claim {self.claim_id} has no line {number}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "claim_id": self.claim_id,
            "status": self.status,
            "lines": [line.to_dict() for line in self.lines],
            "errors": [{"field": e.field, "reason": e.reason} for e in self.errors],
        }


def _strongest_first(finding: Finding) -> tuple[int, str]:
    return -STATUS_STRENGTH[STATUS_OF_ACTION[finding.action]], finding.rule


def line_result(line: int, code: str, units: int, findings: list[Finding]) -> LineResult:
    """Combine a line's findings: the strongest decides the status, cut backs the allowed units."""
    if len(findings) == 1:  # the usual case: nothing to order, and most often a denial
        only = findings[0]
        if only.action == "deny":
            return LineResult(line, code, units, 0, "denied", (only,))
        ordered: tuple[Finding, ...] = (only,)
    else:
        ordered = tuple(sorted(findings, key=_strongest_first))
    status = STATUS_OF_ACTION[ordered[0].action] if ordered else "paid"
    if status == "denied":
        allowed = 0
    else:
        cuts = [f.allowed_units for f in ordered if f.allowed_units is not None]
        allowed = min(cuts) if cuts else units
    return LineResult(line, code, units, allowed, status, ordered)
