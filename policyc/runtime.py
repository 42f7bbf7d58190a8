"""What generated policy modules import: compiled rule objects, verdicts and the few helpers they share."""

from __future__ import annotations

from typing import TYPE_CHECKING

import datetime
from collections.abc import Callable, Iterable, Sequence
from collections.abc import Set as AbstractSet

import attrs

from policyc.codes import expand_range
from policyc.fields import member_age

__all__ = [
    "Action",
    "CompiledPolicy",
    "CompiledRule",
    "Rank",
    "Verdict",
    "code_set",
    "cut_back",
    "diagnoses",
    "member_age",
    "rank_verdicts",
]

if TYPE_CHECKING:
    from policyc.claims import Claim, Line


@attrs.frozen
class Verdict:
    """A rule's word on one line: the line number, the facts behind it and, for a cut back, the units left."""

    line: int
    message: str
    allowed_units: int | None = None


@attrs.frozen
class Action:
    """What a rule does to the lines it fires on."""

    kind: str  # "deny", "cut back" or "review"
    group: str | None = None
    carc: str | None = None
    rarcs: tuple[str, ...] = ()
    appealable: bool = False
    reason: str | None = None


Evaluate = Callable[[Sequence["Line"], "Claim", AbstractSet[int]], list[Verdict]]


@attrs.frozen(eq=False)
class CompiledRule:
    """One rule as generated Python: how it is dispatched, when it is in force, and its evaluator."""

    policy_id: str
    id: str
    title: str | None
    kind: str
    source: str  # "policies/home-infusion.pol:14"
    start: datetime.date
    end: datetime.date | None
    action: Action
    rationale: str | None
    # The lines worth handing to the rule: by code, else by modifier, else (both None) every line.
    dispatch_codes: frozenset[str] | None
    dispatch_modifiers: frozenset[str] | None
    evaluate: Evaluate

    @property
    def name(self) -> str:
        return f"{self.policy_id}/{self.id}"

    def in_force(self, day: datetime.date) -> bool:
        return self.start <= day and (self.end is None or day <= self.end)


@attrs.frozen(eq=False)
class CompiledPolicy:
    """A compiled `.pol` file: its header facts, its rules and the Python it was compiled to."""

    id: str
    title: str | None
    payer: str | None
    source_document: str | None
    plans: frozenset[str] | None  # None: every plan
    start: datetime.date
    end: datetime.date | None
    path: str
    rules: tuple[CompiledRule, ...]
    python_source: str = attrs.field(default="", repr=False)

    def covers_plan(self, plan: str) -> bool:
        return self.plans is None or plan in self.plans


@attrs.frozen
class Rank:
    """One rank of a sequence rule, as generated code declares it."""

    label: str
    ordinal: int
    open_ended: bool
    modifiers: frozenset[str]

    def admits(self, count: int) -> int:
        """How many of `count` concurrent lines this rank holds: one each, the open rank the rest."""
        if self.open_ended:
            return max(0, count - self.ordinal + 1)
        return 1 if count >= self.ordinal else 0

    def describe(self, sequence_modifiers: frozenset[str]) -> str:
        shown = self.modifiers or sequence_modifiers
        return ("with " if self.modifiers else "without ") + ", ".join(sorted(shown))


def code_set(codes: Iterable[str] = (), ranges: Iterable[tuple[str, str]] = ()) -> frozenset[str]:
    """The codes written out plus every code of each range."""
    members = set(codes)
    for low, high in ranges:
        members.update(expand_range(low, high))
    return frozenset(members)


def diagnoses(claim: Claim) -> frozenset[str]:
    """The claim's diagnosis codes, upper case and without dots, as conditions compare them."""
    return frozenset(d.replace(".", "").upper() for d in claim.diagnoses)


def rank_verdicts(lines: Sequence[Line], ranks: Sequence[Rank], modifiers: frozenset[str], what: str) -> list[Verdict]:
    """Deny every line of a rank holding more lines than it admits, and every line that fits no rank."""
    count = len(lines)
    classes: dict[frozenset[str], list[Line]] = {}
    for line in lines:
        classes.setdefault(modifiers.intersection(line.modifiers), []).append(line)
    by_modifiers = {rank.modifiers: rank for rank in ranks}
    verdicts = []
    for carried, members in classes.items():
        rank = by_modifiers.get(carried)
        if rank is None:
            carried_text = ", ".join(sorted(carried)) if carried else f"none of {', '.join(sorted(modifiers))}"
            message = f"a line with {carried_text} fits no rank of {what}"
        elif len(members) > rank.admits(count):
            message = (
                f"{count} concurrent {what} line{'s' if count != 1 else ''} on {members[0].date}: "
                f"{len(members)} in rank {rank.label} ({rank.describe(modifiers)}), which admits {rank.admits(count)}"
            )
        else:
            continue
        verdicts.extend(Verdict(line.line, message) for line in members)
    return verdicts


def cut_back(lines: Sequence[Line], cap: int, message: str) -> list[Verdict]:
    """Reduce the lines' units to `cap` in total, filling lines in line-number order so order on the claim never matters."""
    remaining = cap
    verdicts = []
    for line in sorted(lines, key=lambda l: l.line):
        allowed = min(line.units, remaining)
        remaining -= allowed
        if allowed < line.units:
            verdicts.append(Verdict(line.line, f"{message}; {allowed} of {line.units} units allowed", allowed))
    return verdicts
