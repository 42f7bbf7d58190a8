"""Adjudication results in the interchange shape: findings per line, a status per line and per claim."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs

from policyc.claims import ClaimError, Line
from policyc.runtime import Message, Verdict, framed

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


@attrs.frozen
class FindingTemplate:
    """What every finding of one rule shares, worked out once per plan; a verdict fills in the rest."""

    rule: str
    kind: str
    action: str
    group: str | None
    carc: str | None
    rarc: tuple[str, ...]
    appealable: bool
    prefix: str  # the words around each verdict's message
    suffix: str
    source: str
    denies: bool = attrs.field(init=False)
    adjustment: str | None = attrs.field(init=False)
    # What a denial by this rule adds to `ClaimResult.denials`: its adjustment, if it has one.
    denied_as: frozenset[str] = attrs.field(init=False)

    @denies.default
    def _denies(self) -> bool:
        return self.action == "deny"

    @adjustment.default
    def _adjustment(self) -> str | None:
        return f"{self.group}-{self.carc}" if self.group and self.carc else None

    @denied_as.default
    def _denied_as(self) -> frozenset[str]:
        return frozenset([self.adjustment]) if self.denies and self.adjustment else frozenset()

    def finding(self, verdict: Verdict) -> Finding:
        return Finding(
            self.rule, self.kind, self.action, self.group, self.carc, self.rarc,
            self.appealable if verdict.appealable is None else verdict.appealable,
            framed(self.prefix, verdict.message, self.suffix), self.source, verdict.allowed_units,
        )


# A rule's word on a line, as the engine keeps it until someone reads the line's findings.
Judgement = tuple[FindingTemplate, Verdict]
# What the engine hands a result: the claim's lines, line number -> its judgements, and line number -> the
# adjustments denying it when the engine noted them as it went (None: `denials` reads them from the judgements)
Judged = tuple[Sequence[Line], dict[int, list[Judgement]], dict[int, frozenset[str]] | None]


class ClaimResult:
    """The result of one input claim: processed with its lines, or rejected with the reasons.

    The engine hands over its rules' verdicts and the line results are built from them when `lines` is first
    read: most of a batch's lines are paid, and a caller counting denials (`denials`) needs no record of
    them. Built or not, a result reads and compares the same.
    """

    __slots__ = ("claim_id", "status", "errors", "_lines", "_claim_lines", "_judged", "_denied")

    def __init__(
        self,
        claim_id: str | None,
        status: str,  # "processed" or "rejected"
        lines: Sequence[LineResult] = (),
        errors: Sequence[ClaimError] = (),
        *,
        judged: Judged | None = None,
    ) -> None:
        self.claim_id = claim_id
        self.status = status
        self.errors = errors if type(errors) is tuple else tuple(errors)
        if judged is None:
            self._lines: tuple[LineResult, ...] | None = lines if type(lines) is tuple else tuple(lines)
            self._claim_lines: Sequence[Line] = ()
            self._judged: dict[int, list[Judgement]] | None = None
            self._denied: dict[int, frozenset[str]] | None = None
        else:  # the line results are built from these when first read
            self._lines = None
            self._claim_lines, self._judged, self._denied = judged

    @property
    def lines(self) -> tuple[LineResult, ...]:
        lines = self._lines
        if lines is None:
            # Two threads reading at once may both build them; they build equal results and one is kept.
            lines = self._lines = self._line_results()
        return lines

    def _line_results(self) -> tuple[LineResult, ...]:
        judged = self._judged or {}
        return tuple(
            LineResult(line.line, line.code, line.units, line.units, "paid", ())
            if (found := judged.get(line.line)) is None
            else line_result(line.line, line.code, line.units, [template.finding(v) for template, v in found])
            for line in self._claim_lines
        )

    def denials(self) -> dict[int, frozenset[str]]:
        """Line number -> the adjustments (`CO-151`) of the findings that deny the line; other lines are left out.

        Read straight from the verdicts, without writing out findings or line results: the cheap way to count
        a batch's denials.
        """
        if self._denied is not None:
            return dict(self._denied)  # a copy: the result does not change, whatever the caller does with it
        if self._judged is None:
            return {
                line.line: frozenset(f.adjustment for f in line.findings if f.action == "deny" and f.adjustment)
                for line in self.lines
                if line.status == "denied"
            }
        found: dict[int, frozenset[str]] = {}
        for number, judgements in self._judged.items():
            denied_as = None  # each denying rule's adjustments, worked out once per rule (`denied_as`)
            for template, _ in judgements:
                if template.denies:
                    denied_as = template.denied_as if denied_as is None else denied_as | template.denied_as
            if denied_as is not None:
                found[number] = denied_as
        return found

    def line(self, number: int) -> LineResult:
        """The result of the line numbered `number`; KeyError when the claim has no such line."""
        for line in self.lines:
            if line.line == number:
                return line
        raise KeyError(f"claim {self.claim_id} has no line {number}")

    def _fields(self) -> tuple[str | None, str, tuple[LineResult, ...], tuple[ClaimError, ...]]:
        return self.claim_id, self.status, self.lines, self.errors

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        assert isinstance(other, ClaimResult)
        return self._fields() == other._fields()

    __hash__ = None  # type: ignore[assignment]  # equal results may be built at different times: not a key

    def __repr__(self) -> str:
        return (
            f"ClaimResult(claim_id={self.claim_id!r}, status={self.status!r}, lines={self.lines!r}, "
            f"errors={self.errors!r})"
        )

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
