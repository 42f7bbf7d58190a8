"""The engine: dispatch each claim line to the rules that mention it, run them, and settle add-ons last."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence

import attrs

from policyc.claims import Claim, Line, Rejection, parse_claim
from policyc.results import ClaimResult, Finding, LineResult, line_result
from policyc.runtime import CompiledPolicy, CompiledRule, Verdict

NOTHING_STANDS: frozenset[int] = frozenset()


@attrs.frozen
class PlanIndex:
    """The rules of every policy covering one plan, keyed so a line reaches only the rules that name it."""

    by_code: Mapping[str, tuple[CompiledRule, ...]]
    by_modifier: Mapping[str, tuple[CompiledRule, ...]]
    every_line: tuple[CompiledRule, ...]

    @classmethod
    def build(cls, rules: Iterable[CompiledRule]) -> PlanIndex:
        by_code: dict[str, list[CompiledRule]] = {}
        by_modifier: dict[str, list[CompiledRule]] = {}
        every_line: list[CompiledRule] = []
        for rule in rules:
            if rule.dispatch_codes is not None:
                for code in rule.dispatch_codes:
                    by_code.setdefault(code, []).append(rule)
            elif rule.dispatch_modifiers is not None:
                for modifier in rule.dispatch_modifiers:
                    by_modifier.setdefault(modifier, []).append(rule)
            else:
                every_line.append(rule)
        return cls(
            {code: tuple(rs) for code, rs in by_code.items()},
            {mod: tuple(rs) for mod, rs in by_modifier.items()},
            tuple(every_line),
        )

    def buckets(self, lines: Sequence[Line]) -> dict[CompiledRule, list[Line]]:
        """For each rule, the claim's lines it should look at (in force on the line's date of service)."""
        buckets: dict[CompiledRule, list[Line]] = {}
        for line in lines:
            for rule in self._rules_for(line):
                if rule.in_force(line.date):
                    bucket = buckets.setdefault(rule, [])
                    # A line carrying the same dispatch modifier twice must still enter a bucket once.
                    if not bucket or bucket[-1] is not line:
                        bucket.append(line)
        return buckets

    def _rules_for(self, line: Line) -> Iterator[CompiledRule]:
        yield from self.by_code.get(line.code, ())
        for modifier in line.modifiers:
            yield from self.by_modifier.get(modifier, ())
        yield from self.every_line


class Engine:
    """Compiled policies ready to check claims; immutable after loading, so threads may share one."""

    def __init__(self, policies: Sequence[CompiledPolicy]) -> None:
        self.policies = tuple(policies)
        self._indexes: dict[str, PlanIndex] = {}
        self._lock = threading.Lock()

    def rules(self) -> Iterator[CompiledRule]:
        for policy in self.policies:
            yield from policy.rules

    def index_for(self, plan: str) -> PlanIndex:
        """The dispatch index for a plan, built on first use."""
        index = self._indexes.get(plan)
        if index is None:
            with self._lock:
                index = self._indexes.get(plan)
                if index is None:
                    rules = (r for p in self.policies if p.covers_plan(plan) for r in p.rules)
                    index = self._indexes[plan] = PlanIndex.build(rules)
        return index

    def check(self, claim: Claim | Mapping[str, object]) -> ClaimResult:
        """Adjudicate one claim; a mapping that is not a valid claim gives a rejected result."""
        parsed = claim if isinstance(claim, Claim) else parse_claim(claim)
        if isinstance(parsed, Rejection):
            return rejected(parsed)
        return self._adjudicate(parsed)

    def check_many(self, claims: Iterable[Claim | Rejection | Mapping[str, object]]) -> Iterator[ClaimResult]:
        """One result per input claim, in input order, streamed."""
        for claim in claims:
            yield rejected(claim) if isinstance(claim, Rejection) else self.check(claim)

    def _adjudicate(self, claim: Claim) -> ClaimResult:
        buckets = self.index_for(claim.plan).buckets(claim.lines)
        findings: dict[int, list[Finding]] = {}
        addon_rules: list[tuple[CompiledRule, list[Line]]] = []
        for rule, bucket in buckets.items():
            if rule.kind == "addon":
                addon_rules.append((rule, bucket))
            else:
                record(findings, rule, rule.evaluate(bucket, claim, NOTHING_STANDS))
        standing = {line.line for line in claim.lines if stands(findings.get(line.line, ()))}
        settle_addons(addon_rules, claim, standing)
        for rule, bucket in addon_rules:
            record(findings, rule, rule.evaluate(bucket, claim, standing))
        return ClaimResult(claim.claim_id, "processed", tuple(self._line_result(line, findings) for line in claim.lines))

    @staticmethod
    def _line_result(line: Line, findings: dict[int, list[Finding]]) -> LineResult:
        return line_result(line.line, line.code, line.units, findings.get(line.line, []))


def settle_addons(addon_rules: Sequence[tuple[CompiledRule, list[Line]]], claim: Claim, standing: set[int]) -> None:
    """Remove add-on lines without a standing primary until none is left: the largest consistent set stands.

    Only denying add-on rules take lines away; an add-on rule that sends a line to review leaves it standing.

    Removal only ever takes support away, so the loop reaches the greatest fixed point whatever the rule
    order, and lines that support each other in a cycle stand together.
    """
    denying = [(rule, bucket) for rule, bucket in addon_rules if rule.action.kind == "deny"]
    changed = True
    while changed:
        changed = False
        for rule, bucket in denying:
            for verdict in rule.evaluate(bucket, claim, standing):
                if verdict.line in standing:
                    standing.discard(verdict.line)
                    changed = True


def stands(findings: Iterable[Finding]) -> bool:
    """Whether a line is still paid in part: not denied and not cut back to nothing."""
    return not any(f.action == "deny" or f.allowed_units == 0 for f in findings)


def record(findings: dict[int, list[Finding]], rule: CompiledRule, verdicts: Iterable[Verdict]) -> None:
    for verdict in verdicts:
        findings.setdefault(verdict.line, []).append(to_finding(rule, verdict))


def to_finding(rule: CompiledRule, verdict: Verdict) -> Finding:
    action = rule.action
    facts = verdict.message
    if action.kind == "review" and action.reason:
        message = f"{action.reason}: {facts}"
    else:
        message = f"{rule.title}: {facts}" if rule.title else facts
    if rule.rationale:
        message += f" (rationale: {rule.rationale})"
    return Finding(
        rule=rule.name,
        kind=rule.kind,
        action=action.kind,
        group=action.group,
        carc=action.carc,
        rarc=action.rarcs,
        appealable=action.appealable,
        message=message,
        source=rule.source,
        allowed_units=verdict.allowed_units,
    )


def rejected(rejection: Rejection) -> ClaimResult:
    return ClaimResult(rejection.claim_id, "rejected", (), rejection.errors)
