"""A naive reference interpreter: the checked IR walked directly, one plain function per rule kind."""

from __future__ import annotations

import datetime
import operator
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import attrs

from policyc import ir
from policyc.claims import Claim, Line, Rejection, parse_claim
from policyc.compiler import find_policy_files, read_source, to_ir
from policyc.diagnostics import Diagnostic, PolicyError
from policyc.fields import FIELDS
from policyc.parser import parse
from policyc.results import ClaimResult, Finding, LineResult

__all__ = ["ReferenceEngine", "Unsupported", "load"]

# Speed is no goal here: there is no dispatch index, no cache and no generated code; every rule looks at
# every line, scopes compare two lines at a time, add-ons settle by plain iteration. Each function should
# read as its paragraph of docs/language.md, so that the compiled engine can be tested against it.

ACTION_STATUS = {"deny": "denied", "cut back": "reduced", "review": "review"}
STATUS_ORDER = ("denied", "reduced", "review", "paid")  # strongest first
COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "=": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
}


@attrs.frozen
class Fired:
    """A rule's word on one line: the facts, and for a cut back the units left."""

    line: int
    facts: str
    allowed_units: int | None = None


# ---------------------------------------------------------------- which lines a rule sees


def covers(policy: ir.PolicyIR, claim: Claim) -> bool:
    return policy.plans is None or claim.plan in policy.plans


def in_force(rule: ir.RuleIR, day: datetime.date) -> bool:
    return rule.start <= day and (rule.end is None or day <= rule.end)


def lines_in_force(rule: ir.RuleIR, claim: Claim) -> list[Line]:
    """The claim's lines dated inside the rule's dates, in claim order."""
    return [line for line in claim.lines if in_force(rule, line.date)]


def rendering(claim: Claim, line: Line) -> str | None:
    return line.rendering_provider or claim.rendering_provider


def together(scope: ir.ScopeIR, claim: Claim, a: Line, b: Line) -> bool:
    """Whether the scope looks at lines `a` and `b` together (one claim has one billing provider)."""
    if scope.extent == "day" and a.date != b.date:
        return False
    return scope.provider != "rendering" or rendering(claim, a) == rendering(claim, b)


# ---------------------------------------------------------------- one function per rule kind


def addon(rule: ir.RuleIR, body: ir.AddonIR, claim: Claim, standing: frozenset[int]) -> list[Fired]:
    """Each add-on line without another standing primary line in its scope."""
    lines = lines_in_force(rule, claim)
    fired = []
    for line in lines:
        if line.code not in body.addons.members:
            continue
        supported = any(
            other.code in body.primaries.members and other.line in standing and other.line != line.line
            and together(body.scope, claim, line, other)
            for other in lines
        )
        if not supported:
            facts = f"no payable {body.primaries.describe()} {body.scope.describe()} ({line.date})"
            fired.append(Fired(line.line, facts))
    return fired


def limit(rule: ir.RuleIR, body: ir.LimitIR, claim: Claim) -> list[Fired]:
    """Lines over a per-line cap, or every line of a scope whose units add up to more than the cap."""
    counted = [line for line in lines_in_force(rule, claim) if line.code in body.codes.members]
    cutting = rule.action.kind == "cut back"
    fired = []
    for line in counted:
        if body.scope.extent == "line":
            if line.units > body.cap:
                facts = f"{line.units} units of {line.code} on the line exceed the limit of {body.cap} per line"
                fired.append(Fired(line.line, facts, body.cap if cutting else None))
            continue
        scope = [other for other in counted if together(body.scope, claim, line, other)]
        total = sum(other.units for other in scope)
        if total <= body.cap:
            continue
        where = f"on {line.date}" if body.scope.extent == "day" else "on the claim"
        per = f"per {body.scope.extent}{body.scope.provider_phrase()}"
        facts = f"{total} units of {body.codes.describe()} {where} exceed the limit of {body.cap} {per}"
        if not cutting:
            fired.append(Fired(line.line, facts))
            continue
        allowed = units_left(scope, body.cap, line)
        if allowed < line.units:
            fired.append(Fired(line.line, f"{facts}; {allowed} of {line.units} units allowed", allowed))
    return fired


def units_left(scope: Sequence[Line], cap: int, line: Line) -> int:
    """A cut back fills the scope's lines in line-number order: what the cap leaves for `line`."""
    before = sum(other.units for other in scope if other.line < line.line)
    return max(0, min(line.units, cap - before))


def sequence(rule: ir.RuleIR, body: ir.SequenceIR, claim: Claim) -> list[Fired]:
    """Lines whose modifiers fit no rank, and every line of a rank holding more lines than it admits."""
    counted = [line for line in lines_in_force(rule, claim) if line.code in body.codes.members]
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
            # The date of the rank's first line in claim order, as the compiled engine says it. Over a
            # claim-wide scope that date depends on line order (a known bug, reported): fix both together.
            kind = ("with " if rank.modifiers else "without ") + ", ".join(sorted(rank.modifiers or body.modifiers))
            facts = (
                f"{count} concurrent {what} line{'s' if count != 1 else ''} on {same_rank[0].date}: "
                f"{len(same_rank)} in rank {rank.label} ({kind}), which admits {admits(rank, count)}"
            )
            fired.append(Fired(line.line, facts))
    return fired


def admits(rank: ir.RankIR, count: int) -> int:
    """How many of `count` concurrent lines a rank holds: rank k one when count >= k; `k+` the rest."""
    if rank.open_ended:
        return max(0, count - rank.ordinal + 1)
    return 1 if count >= rank.ordinal else 0


def bundle(rule: ir.RuleIR, body: ir.BundleIR, claim: Claim) -> list[Fired]:
    """Each bundled line sharing its scope with another line of the set it is bundled into."""
    lines = lines_in_force(rule, claim)
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


def pair(rule: ir.RuleIR, body: ir.PairIR, claim: Claim) -> list[Fired]:
    """Each column-2 line sharing its scope with a column-1 line, unless one of the two carries a bypass."""
    lines = lines_in_force(rule, claim)
    fired = []
    for line in lines:
        if line.code not in body.column2.members:
            continue
        anchors = [
            other for other in lines
            if other.code in body.column1.members and other.line != line.line
            and together(body.scope, claim, line, other)
            and body.bypass.isdisjoint(line.modifiers) and body.bypass.isdisjoint(other.modifiers)
        ]
        if anchors:
            anchor = min(anchors, key=lambda other: other.line)
            facts = f"{line.code} is not paid with {anchor.code} (line {anchor.line}) {body.scope.describe()}"
            if body.bypass:
                facts += f" and neither line carries a bypass modifier ({', '.join(sorted(body.bypass))})"
            fired.append(Fired(line.line, facts))
    return fired


def when(rule: ir.RuleIR, body: ir.WhenIR, claim: Claim) -> list[Fired]:
    """Each line the condition holds for; every line is asked, whatever the compiled dispatch would skip."""
    facts = f"the line meets `{rule.condition_text}`"
    return [Fired(line.line, facts) for line in lines_in_force(rule, claim) if holds(body.condition, claim, line)]


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


def evaluate(rule: ir.RuleIR, claim: Claim) -> list[Fired]:
    """What a rule other than an add-on says about the claim's lines."""
    body = rule.body
    if isinstance(body, ir.LimitIR):
        return limit(rule, body, claim)
    if isinstance(body, ir.SequenceIR):
        return sequence(rule, body, claim)
    if isinstance(body, ir.BundleIR):
        return bundle(rule, body, claim)
    if isinstance(body, ir.PairIR):
        return pair(rule, body, claim)
    assert isinstance(body, ir.WhenIR), "add-ons are evaluated against the lines that stand"
    return when(rule, body, claim)


# ---------------------------------------------------------------- adjudication


Rules = list[tuple[ir.PolicyIR, ir.RuleIR]]


def settle(addons: Rules, claim: Claim, standing: frozenset[int]) -> frozenset[int]:
    """The largest set of lines that can stand: drop every line a denying add-on flags, until none is.

    Fewer standing lines only ever flag more add-ons, so no dropped line could have stood, and what
    remains supports itself: the greatest fixed point.
    """
    denying = [(policy, rule) for policy, rule in addons if rule.action.kind == "deny"]
    while True:
        flagged: set[int] = set()
        for _, rule in denying:
            assert isinstance(rule.body, ir.AddonIR)
            flagged.update(fired.line for fired in addon(rule, rule.body, claim, standing))
        if not flagged & standing:
            return standing
        standing = standing - flagged


def finding(policy: ir.PolicyIR, rule: ir.RuleIR, fired: Fired) -> Finding:
    action = rule.action
    if action.kind == "review" and action.reason:
        message = f"{action.reason}: {fired.facts}"
    else:
        message = f"{rule.title}: {fired.facts}" if rule.title else fired.facts
    if rule.rationale:
        message += f" (rationale: {rule.rationale})"
    return Finding(
        rule=f"{policy.id}/{rule.id}",
        kind=rule.kind,
        action=action.kind,
        group=action.group,
        carc=action.carc,
        rarc=action.rarcs,
        appealable=action.appealable,
        message=message,
        source=f"{policy.path}:{rule.line}",
        allowed_units=fired.allowed_units,
    )


def stands(findings: Iterable[Finding]) -> bool:
    """A line stands unless a rule denied it or cut it back to nothing."""
    return not any(f.action == "deny" or f.allowed_units == 0 for f in findings)


def line_outcome(line: Line, findings: list[Finding]) -> LineResult:
    """The strongest finding decides the status; the smallest cut back the units of a line not denied."""
    ordered = tuple(sorted(findings, key=lambda f: (STATUS_ORDER.index(ACTION_STATUS[f.action]), f.rule)))
    status = ACTION_STATUS[ordered[0].action] if ordered else "paid"
    cuts = [f.allowed_units for f in findings if f.allowed_units is not None]
    allowed = 0 if status == "denied" else min([line.units, *cuts])
    return LineResult(line.line, line.code, line.units, allowed, status, ordered)


def adjudicate(policies: Sequence[ir.PolicyIR], claim: Claim) -> ClaimResult:
    """Every applicable rule on the claim; add-ons last, against the lines that stand."""
    rules: Rules = [(policy, rule) for policy in policies if covers(policy, claim) for rule in policy.rules]
    addons = [(policy, rule) for policy, rule in rules if isinstance(rule.body, ir.AddonIR)]
    findings: dict[int, list[Finding]] = {line.line: [] for line in claim.lines}
    for policy, rule in rules:
        if not isinstance(rule.body, ir.AddonIR):
            for fired in evaluate(rule, claim):
                findings[fired.line].append(finding(policy, rule, fired))
    standing = frozenset(line.line for line in claim.lines if stands(findings[line.line]))
    standing = settle(addons, claim, standing)
    for policy, rule in addons:
        assert isinstance(rule.body, ir.AddonIR)
        for fired in addon(rule, rule.body, claim, standing):
            findings[fired.line].append(finding(policy, rule, fired))
    lines = tuple(line_outcome(line, findings[line.line]) for line in claim.lines)
    return ClaimResult(claim.claim_id, "processed", lines)


MODELLED = (ir.AddonIR, ir.LimitIR, ir.SequenceIR, ir.BundleIR, ir.PairIR, ir.WhenIR)


class Unsupported(ValueError):
    """A policy uses something the reference interpreter does not model, so it cannot vouch for it."""


def refuse_unmodelled(policy: ir.PolicyIR) -> None:
    """Raise Unsupported for a policy beyond the six rule kinds: better no answer than a wrong one."""
    extends = getattr(policy, "extends", None)
    if extends:
        raise Unsupported(f"{policy.path}: policy `{policy.id}` extends `{extends}`, which the reference "
                          "interpreter does not model")
    for rule in policy.rules:
        if not isinstance(rule.body, MODELLED):
            raise Unsupported(f"{policy.path}:{rule.line}: rule `{rule.id}` ({type(rule.body).__name__}) is not "
                              "one of the six rule kinds the reference interpreter models")


class ReferenceEngine:
    """The reference interpreter with the compiled Engine's interface: `check` and `check_many`.

    Raises Unsupported for a policy beyond the six rule kinds of docs/language.md (tables, `extends`).
    """

    def __init__(self, policies: Sequence[ir.PolicyIR]) -> None:
        self.policies = tuple(policies)
        for policy in self.policies:
            refuse_unmodelled(policy)

    def check(self, claim: Claim | Mapping[str, object]) -> ClaimResult:
        """Adjudicate one claim; a mapping that is not a valid claim gives a rejected result."""
        parsed = claim if isinstance(claim, Claim) else parse_claim(claim)
        if isinstance(parsed, Rejection):
            return ClaimResult(parsed.claim_id, "rejected", (), parsed.errors)
        return adjudicate(self.policies, parsed)

    def check_many(self, claims: Iterable[Claim | Rejection | Mapping[str, object]]) -> Iterator[ClaimResult]:
        """One result per input claim, in input order."""
        for claim in claims:
            if isinstance(claim, Rejection):
                yield ClaimResult(claim.claim_id, "rejected", (), claim.errors)
            else:
                yield self.check(claim)


def load(*paths: str | os.PathLike[str]) -> ReferenceEngine:
    """Check the `.pol` files and directories like `policyc.load`, and interpret their IR directly.

    Raises PolicyError holding every diagnostic of every file that fails its checks, and Unsupported for
    a policy beyond the six rule kinds.
    """
    return ReferenceEngine(read_policies(paths))


def read_policies(paths: Iterable[str | os.PathLike[str]]) -> list[ir.PolicyIR]:
    """The checked IR of every policy under `paths`; one PolicyError holds every file's diagnostics."""
    policies: list[ir.PolicyIR] = []
    problems: list[Diagnostic] = []
    first_file: dict[str, str] = {}
    for path in find_policy_files(paths):
        try:
            source = read_source(path)
            policy = to_ir(source)
        except PolicyError as error:
            problems.extend(error.diagnostics)
            continue
        if policy.id in first_file:
            message = f"policy id `{policy.id}` is also used by {first_file[policy.id]}"
            help_text = "give each policy file its own id: findings name rules as `<policy-id>/<rule-id>`"
            problems.append(Diagnostic("POL230", message, source, parse(source).id_span, help_text))
            continue
        first_file[policy.id] = source.name
        policies.append(policy)
    if problems:
        raise PolicyError(problems)
    return policies
