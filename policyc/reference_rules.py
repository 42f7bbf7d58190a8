"""The reference interpreter's six written rule kinds (docs/language.md): one plain function per kind."""

from __future__ import annotations

import datetime
import operator
from collections.abc import Callable, Sequence
from typing import Any

import attrs

from policyc import ir
from policyc.claims import Claim, Line
from policyc.fields import FIELDS
from policyc.reference_history import EarlierLine, beside

# Each function should read as its paragraph of docs/language.md, so that the compiled engine can be tested
# against it: every rule looks at every line, and scopes compare two lines at a time.

COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "=": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
}


@attrs.frozen
class Fired:
    """A rule's word on one line: the facts, and for a cut back the units left."""

    line: int
    facts: str
    allowed_units: int | None = None
    appealable: bool | None = None  # set when a table row decides it (MUE MAI 3), else the rule's action does


# ---------------------------------------------------------------- which lines a rule sees


def covers(policy: ir.PolicyIR, claim: Claim) -> bool:
    return policy.plans is None or claim.plan in policy.plans


def of_its_types(policy: ir.PolicyIR, claim: Claim) -> bool:
    """Whether the claim is of a type the policy's `claims` line names (every type, without one)."""
    return policy.claim_types is None or claim.claim_type in policy.claim_types


def in_force(rule: ir.RuleIR, day: datetime.date) -> bool:
    return rule.start <= day and (rule.end is None or day <= rule.end)


def rendering(claim: Claim, line: Line) -> str | None:
    return line.rendering_provider or claim.rendering_provider


def together(scope: ir.ScopeIR, claim: Claim, a: Line, b: Line) -> bool:
    """Whether the scope looks at lines `a` and `b` together (one claim has one billing provider)."""
    if scope.extent == "day" and a.date != b.date:
        return False
    return scope.provider != "rendering" or rendering(claim, a) == rendering(claim, b)


# ---------------------------------------------------------------- one function per rule kind


def addon(
    rule: ir.RuleIR, body: ir.AddonIR, claim: Claim, lines: Sequence[Line], standing: frozenset[int],
    earlier: Sequence[EarlierLine] = (),
) -> list[Fired]:
    """Each add-on line without another standing primary line in its scope (an earlier claim's line stood)."""
    fired = []
    for line in lines:
        if line.code not in body.addons.members:
            continue
        supported = any(
            other.code in body.primaries.members and other.line in standing and other.line != line.line
            and together(body.scope, claim, line, other)
            for other in lines
        ) or any(
            other.code in body.primaries.members and beside(body.scope, claim, line, other) for other in earlier
        )
        if not supported:
            facts = f"no payable {body.primaries.describe()} {body.scope.describe()} ({line.date})"
            fired.append(Fired(line.line, facts))
    return fired


def limit(
    rule: ir.RuleIR, body: ir.LimitIR, claim: Claim, lines: Sequence[Line], earlier: Sequence[EarlierLine] = ()
) -> list[Fired]:
    """Lines over a per-line cap, or every line of a scope whose units add up to more than the cap.

    A per-day cap also counts the allowed units of earlier claims' lines in the scope, and a cut back gives
    them their units first.
    """
    counted = [line for line in lines if line.code in body.codes.members]
    cutting = rule.action.kind == "cut back"
    fired = []
    for line in counted:
        if body.scope.extent == "line":
            if line.units > body.cap:
                facts = f"{line.units} units of {line.code} on the line exceed the limit of {body.cap} per line"
                fired.append(Fired(line.line, facts, body.cap if cutting else None))
            continue
        scope = [other for other in counted if together(body.scope, claim, line, other)]
        paid_before = sum(
            other.units for other in earlier
            if other.code in body.codes.members and beside(body.scope, claim, line, other)
        )
        total = paid_before + sum(other.units for other in scope)
        if total <= body.cap:
            continue
        where = f"on {line.date}" if body.scope.extent == "day" else "on the claim"
        per = f"per {body.scope.extent}{body.scope.provider_phrase()}"
        facts = f"{total} units of {body.codes.describe()} {where} exceed the limit of {body.cap} {per}"
        if not cutting:
            fired.append(Fired(line.line, facts))
            continue
        allowed = units_left(scope, body.cap - paid_before, line)
        if allowed < line.units:
            fired.append(Fired(line.line, f"{facts}; {allowed} of {line.units} units allowed", allowed))
    return fired


def units_left(scope: Sequence[Line], cap: int, line: Line) -> int:
    """A cut back fills the scope's lines in line-number order: what the cap leaves for `line`."""
    before = sum(other.units for other in scope if other.line < line.line)
    return max(0, min(line.units, cap - before))


def sequence(rule: ir.RuleIR, body: ir.SequenceIR, claim: Claim, lines: Sequence[Line]) -> list[Fired]:
    """Lines whose modifiers fit no rank, and every line of a rank holding more lines than it admits."""
    counted = [line for line in lines if line.code in body.codes.members]
    what = body.codes.describe()
    fired = []
    for line in counted:
        scope = [other for other in counted if together(body.scope, claim, line, other)]
        carried = body.modifiers.intersection(line.modifiers)
        same_rank = [other for other in scope if body.modifiers.intersection(other.modifiers) == carried]
        rank = next((r for r in body.ranks if r.modifiers == carried), None)
        if rank is None:
            shown = ", ".join(sorted(carried)) if carried else f"none of {', '.join(sorted(body.modifiers))}"
            fired.append(Fired(line.line, f"a line with {shown} fits no rank of {what}"))
        elif len(same_rank) > admits(rank, len(scope)):
            count = len(scope)
            # The rank's earliest date: over a claim-wide scope its lines may fall on several days, and
            # naming the first line's date would make the message depend on line order.
            kind = ("with " if rank.modifiers else "without ") + ", ".join(sorted(rank.modifiers or body.modifiers))
            facts = (
                f"{count} concurrent {what} line{'s' if count != 1 else ''} on {min(line.date for line in same_rank)}: "
                f"{len(same_rank)} in rank {rank.label} ({kind}), which admits {admits(rank, count)}"
            )
            fired.append(Fired(line.line, facts))
    return fired


def admits(rank: ir.RankIR, count: int) -> int:
    """How many of `count` concurrent lines a rank holds: rank k one when count >= k; `k+` the rest."""
    if rank.open_ended:
        return max(0, count - rank.ordinal + 1)
    return 1 if count >= rank.ordinal else 0


def bundle(rule: ir.RuleIR, body: ir.BundleIR, claim: Claim, lines: Sequence[Line]) -> list[Fired]:
    """Each bundled line sharing its scope with another line of the set it is bundled into."""
    fired = []
    for line in lines:
        if line.code not in body.bundled.members:
            continue
        anchors = [
            other for other in lines
            if other.code in body.into.members and other.line != line.line
            and together(body.scope, claim, line, other)
        ]
        if anchors:
            anchor = min(anchors, key=lambda other: other.line)
            facts = f"{line.code} is included in {anchor.code} (line {anchor.line}) {body.scope.describe()}"
            fired.append(Fired(line.line, facts))
    return fired


def pair(
    rule: ir.RuleIR, body: ir.PairIR, claim: Claim, lines: Sequence[Line], earlier: Sequence[EarlierLine] = ()
) -> list[Fired]:
    """Each column-2 line sharing its scope with a column-1 line, unless one of the two carries a bypass.

    On the same day, a column-1 line of an earlier claim in the scope denies too; the claim's own lowest-numbered
    column-1 line names the edit, else the earlier claims' first (by claim id, then line number).
    """
    fired = []
    for line in lines:
        if line.code not in body.column2.members or not body.bypass.isdisjoint(line.modifiers):
            continue
        anchors = [
            other for other in lines
            if other.code in body.column1.members and other.line != line.line
            and together(body.scope, claim, line, other) and body.bypass.isdisjoint(other.modifiers)
        ]
        before = [
            other for other in earlier
            if other.code in body.column1.members and beside(body.scope, claim, line, other)
            and body.bypass.isdisjoint(other.modifiers)
        ]
        if anchors:
            anchor = min(anchors, key=lambda other: other.line)
            where = f"line {anchor.line}"
            code = anchor.code
        elif before:
            code = min(before, key=lambda other: (other.claim_id, other.line)).code
            where = "on an earlier claim"
        else:
            continue
        facts = f"{line.code} is not paid with {code} ({where}) {body.scope.describe()}"
        if body.bypass:
            facts += f" and neither line carries a bypass modifier ({', '.join(sorted(body.bypass))})"
        fired.append(Fired(line.line, facts))
    return fired


def when(rule: ir.RuleIR, body: ir.WhenIR, claim: Claim, lines: Sequence[Line]) -> list[Fired]:
    """Each line the condition holds for; every line is asked, whatever the compiled dispatch would skip."""
    facts = f"the line meets `{rule.condition_text}`"
    return [Fired(line.line, facts) for line in lines if holds(body.condition, claim, line)]


def holds(cond: ir.CondIR, claim: Claim, line: Line) -> bool:
    """Whether a condition holds for one line; a missing field value makes a comparison false."""
    if isinstance(cond, ir.CondAll):
        return all(holds(item, claim, line) for item in cond.items)
    if isinstance(cond, ir.CondAny):
        return any(holds(item, claim, line) for item in cond.items)
    if isinstance(cond, ir.CondNot):
        return not holds(cond.item, claim, line)
    if isinstance(cond, ir.CondModifier):
        return not cond.modifiers.isdisjoint(line.modifiers)
    if isinstance(cond, ir.CondDiagnosis):
        return any(d.replace(".", "").upper() in cond.diagnoses for d in claim.diagnoses)
    if isinstance(cond, ir.CondCodeIn):
        return (line.code in cond.codes.members) != cond.negated
    value = FIELDS[cond.field].read(claim, line)
    if value is None:
        return False
    if isinstance(cond, ir.CondValueIn):
        return (value in cond.values) != cond.negated
    return bool(COMPARE[cond.operator](value, cond.value))


def evaluate(
    rule: ir.RuleIR, claim: Claim, lines: Sequence[Line], earlier: Sequence[EarlierLine] = ()
) -> list[Fired]:
    """What a written rule other than an add-on says about the lines it sees (a per-day cap or a pair: and earlier
    claims')."""
    body = rule.body
    if isinstance(body, ir.LimitIR):
        return limit(rule, body, claim, lines, earlier)
    if isinstance(body, ir.SequenceIR):
        return sequence(rule, body, claim, lines)
    if isinstance(body, ir.BundleIR):
        return bundle(rule, body, claim, lines)
    if isinstance(body, ir.PairIR):
        return pair(rule, body, claim, lines, earlier)
    assert isinstance(body, ir.WhenIR), "add-ons are evaluated against the lines that stand"
    return when(rule, body, claim, lines)
