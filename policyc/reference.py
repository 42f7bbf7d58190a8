"""A naive reference interpreter: the checked IR walked directly, one plain function per rule kind and table kind."""

from __future__ import annotations

import datetime
import functools
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence

import attrs

from policyc import ir
from policyc.claims import Claim, Line, Rejection, parse_claim
from policyc.compiler import find_policy_files, read_source, to_ir
from policyc.diagnostics import Diagnostic, PolicyError
from policyc.parser import parse
from policyc.reference_history import EarlierLine, ReferenceHistory, looks_across
from policyc.reference_rules import Fired, addon, covers, evaluate, in_force, of_its_types
from policyc.reference_tables import (
    TABLE_KIND,
    Replacement,
    TableKey,
    Window,
    addon_table,
    ancestors,
    merged,
    mue_table,
    pair_table,
    replaced_row,
    replacement,
    row_in_force,
)
from policyc.results import ClaimResult, Finding, LineResult

__all__ = ["ReferenceEngine", "ReferenceHistory", "Unsupported", "load"]

# Speed is no goal here: there is no dispatch index, no cache and no generated code; every rule looks at
# every line, scopes compare two lines at a time, add-ons settle by plain iteration, tables are read row by
# row. Each function should read as its paragraph of docs/language.md (the six written rule kinds, in
# reference_rules.py) or of docs/tables.md (table rules: section 3; `extends`, replaced rows and `switch off`:
# section 5; in reference_tables.py) or of the claim history (docs/tables.md section 6; earlier claims kept in
# a plain list, in reference_history.py), so that the compiled engine can be tested against it.

ACTION_STATUS = {"deny": "denied", "cut back": "reduced", "review": "review"}
STATUS_ORDER = ("denied", "reduced", "review", "paid")  # strongest first


# ---------------------------------------------------------------- one claim against the loaded policies


class Adjudication:
    """One claim against the loaded policies: which policies apply to it, on which dates, and what rows are replaced."""

    def __init__(self, policies: Sequence[ir.PolicyIR], claim: Claim, earlier: Sequence[EarlierLine] = ()) -> None:
        # A policy with a `claims` line does not exist for claims of other types, nor for those extending it.
        self.policies = tuple(policy for policy in policies if of_its_types(policy, claim))
        self.claim = claim
        self.earlier = tuple(earlier)  # the standing lines of the member's earlier claims (docs/tables.md 6)
        self.by_id = {policy.id: policy for policy in self.policies}
        # For each policy that applies to the claim: None when it covers the plan itself, else the dates of the
        # covering policies that extend it (directly or through others). Covering wins over inheriting.
        self.reached: dict[str, list[Window] | None] = {}
        for policy in self.policies:
            if covers(policy, claim):
                self.reached[policy.id] = None
        for policy in self.policies:
            if not covers(policy, claim):
                continue
            for base in ancestors(policy, self.by_id):
                windows = self.reached.setdefault(base.id, [])
                if windows is not None:
                    windows.append((policy.start, policy.end))

    def applies(self, policy: ir.PolicyIR, rule: ir.RuleIR, day: datetime.date) -> bool:
        """Whether a rule applies to a line of this date: in its own dates, and where its policy reaches."""
        if policy.id not in self.reached or not in_force(rule, day):
            return False
        windows = self.reached[policy.id]
        return windows is None or any(row_in_force(start, end, day) for start, end in windows)

    def seen(self, policy: ir.PolicyIR, rule: ir.RuleIR) -> list[Line]:
        """The claim's lines the rule applies to, in claim order."""
        return [line for line in self.claim.lines if self.applies(policy, rule, line.date)]

    def seen_before(self, policy: ir.PolicyIR, rule: ir.RuleIR) -> list[EarlierLine]:
        """The earlier claims' lines a cross-claim rule also counts: those on dates it applies to."""
        if not looks_across(rule.body):
            return []
        return [line for line in self.earlier if self.applies(policy, rule, line.date)]

    def replacing(self, base: ir.PolicyIR, kind: str, key: TableKey, day: datetime.date) -> list[Replacement]:
        """The rules naming a row of `base`'s tables on a day: of policies applying then that extend `base`."""
        found = []
        for policy in self.policies:
            if base not in ancestors(policy, self.by_id):
                continue
            for rule in policy.rules:
                named = replacement(policy, rule)
                if named is not None and named.kind == kind and named.names(key) and self.applies(policy, rule, day):
                    found.append(named)
        return found

    def skipped(self, base: ir.PolicyIR, kind: str, key: TableKey, day: datetime.date) -> bool:
        return bool(self.replacing(base, kind, key, day))

    def added(self, base: ir.PolicyIR, code: str, day: datetime.date) -> frozenset[str]:
        return frozenset().union(*(named.primaries for named in self.replacing(base, "addon", code, day)))

    def judge(self, policy: ir.PolicyIR, rule: ir.RuleIR, standing: frozenset[int]) -> list[Fired]:
        """What one rule says about the claim (add-ons against the `standing` lines)."""
        lines, earlier = self.seen(policy, rule), self.seen_before(policy, rule)
        body = rule.body
        if isinstance(body, ir.SwitchOffIR):
            return []  # it judges no line: the rows it names are skipped by their tables
        if isinstance(body, ir.TableLimitIR):
            return mue_table(rule, body, self.claim, lines, functools.partial(self.skipped, policy, "mue"), earlier)
        if isinstance(body, ir.TableAddonIR):
            skip, added = functools.partial(self.skipped, policy, "addon"), functools.partial(self.added, policy)
            return addon_table(body, self.claim, lines, standing, skip, added, earlier)
        if isinstance(body, ir.TablePairIR):
            return pair_table(body, self.claim, lines, functools.partial(self.skipped, policy, "pair"), earlier)
        if isinstance(body, ir.AddonIR):
            fired = addon(rule, body, self.claim, lines, standing, earlier)
        else:
            fired = evaluate(rule, self.claim, lines, earlier)
        named = replacement(policy, rule)
        if named is None or not fired:
            return fired
        tables = [
            (base, table_rule) for base in ancestors(policy, self.by_id) for table_rule in base.rules
            if TABLE_KIND.get(type(table_rule.body)) == named.kind
        ]
        if not tables:
            return fired
        return self.noted(rule, fired, lines, tables, earlier)

    def noted(
        self, rule: ir.RuleIR, fired: list[Fired], lines: Sequence[Line], tables: list[tuple[ir.PolicyIR, ir.RuleIR]],
        earlier: Sequence[EarlierLine] = (),
    ) -> list[Fired]:
        """A replacing rule's findings end with the row they replace; an add-on rule's on a line whose national
        rows in force are all of type 2 or 3 are dropped (its primaries joined the table's, which judges)."""
        by_number = {line.line: line for line in self.claim.lines}
        kept = []
        for one in fired:
            line = by_number[one.line]
            if isinstance(rule.body, ir.AddonIR) and merged(line, tables):
                continue
            note = replaced_row(line, rule, self.claim, lines, tables, earlier)
            kept.append(attrs.evolve(one, facts=one.facts + note) if note else one)
        return kept



# ---------------------------------------------------------------- adjudication


Rules = list[tuple[ir.PolicyIR, ir.RuleIR]]
ADDON_BODIES = (ir.AddonIR, ir.TableAddonIR)


def settle(seen: Adjudication, addons: Rules, standing: frozenset[int]) -> frozenset[int]:
    """The largest set of lines that can stand: drop every line a denying add-on flags, until none is.

    Fewer standing lines only ever flag more add-ons, so no dropped line could have stood, and what
    remains supports itself: the greatest fixed point.
    """
    denying = [(policy, rule) for policy, rule in addons if rule.action.kind == "deny"]
    while True:
        flagged: set[int] = set()
        for policy, rule in denying:
            flagged.update(fired.line for fired in seen.judge(policy, rule, standing))
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
        appealable=action.appealable if fired.appealable is None else fired.appealable,
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


def adjudicate(policies: Sequence[ir.PolicyIR], claim: Claim, earlier: Sequence[EarlierLine] = ()) -> ClaimResult:
    """Every rule of every policy reaching the claim; add-ons (rules and tables) last, against the lines that stand.

    `earlier`: the standing lines of the member's earlier claims, which cross-claim rules count but never judge.
    """
    seen = Adjudication(policies, claim, earlier)
    rules: Rules = [(policy, rule) for policy in policies if policy.id in seen.reached for rule in policy.rules]
    addons = [(policy, rule) for policy, rule in rules if isinstance(rule.body, ADDON_BODIES)]
    findings: dict[int, list[Finding]] = {line.line: [] for line in claim.lines}
    for policy, rule in rules:
        if not isinstance(rule.body, ADDON_BODIES):
            for fired in seen.judge(policy, rule, frozenset()):
                findings[fired.line].append(finding(policy, rule, fired))
    standing = frozenset(line.line for line in claim.lines if stands(findings[line.line]))
    standing = settle(seen, addons, standing)
    for policy, rule in addons:
        for fired in seen.judge(policy, rule, standing):
            findings[fired.line].append(finding(policy, rule, fired))
    lines = tuple(line_outcome(line, findings[line.line]) for line in claim.lines)
    return ClaimResult(claim.claim_id, "processed", lines)


# The six written rule kinds (policyc.testing aims claims at these), then every body the interpreter models.
MODELLED = (ir.AddonIR, ir.LimitIR, ir.SequenceIR, ir.BundleIR, ir.PairIR, ir.WhenIR)
KNOWN = (*MODELLED, ir.TableLimitIR, ir.TableAddonIR, ir.TablePairIR, ir.SwitchOffIR)


class Unsupported(ValueError):
    """A policy uses something the reference interpreter does not model, so it cannot vouch for it."""


def refuse_unmodelled(policy: ir.PolicyIR) -> None:
    """Raise Unsupported for a rule body the interpreter does not know: better no answer than a wrong one."""
    for rule in policy.rules:
        if not isinstance(rule.body, KNOWN):
            raise Unsupported(f"{policy.path}:{rule.line}: rule `{rule.id}` ({type(rule.body).__name__}) is not "
                              "one of the rule kinds the reference interpreter models")


class ReferenceEngine:
    """The reference interpreter with the compiled Engine's interface: `check` and `check_many`.

    Raises Unsupported for a rule body it does not model, and ValueError for a policy extending one not given.
    With a `history`, each claim is judged with the standing lines of the member's earlier claims (docs/tables.md
    section 6) and then recorded in it; without one, each claim is judged alone.
    """

    def __init__(self, policies: Sequence[ir.PolicyIR], history: ReferenceHistory | None = None) -> None:
        self.policies = tuple(policies)
        self.history = history
        known = {policy.id for policy in self.policies}
        for policy in self.policies:
            refuse_unmodelled(policy)
            for base in policy.extends:
                if base not in known:
                    raise ValueError(f"policy `{policy.id}` extends `{base}`, which is not loaded")

    def check(self, claim: Claim | Mapping[str, object]) -> ClaimResult:
        """Adjudicate one claim; a mapping that is not a valid claim gives a rejected result."""
        parsed = claim if isinstance(claim, Claim) else parse_claim(claim)
        if isinstance(parsed, Rejection):
            return ClaimResult(parsed.claim_id, "rejected", (), parsed.errors)
        if self.history is None:
            return adjudicate(self.policies, parsed)
        result = adjudicate(self.policies, parsed, self.history.earlier_lines(parsed))
        self.history.record(parsed, result)
        return result

    def check_many(self, claims: Iterable[Claim | Rejection | Mapping[str, object]]) -> Iterator[ClaimResult]:
        """One result per input claim, in input order."""
        for claim in claims:
            if isinstance(claim, Rejection):
                yield ClaimResult(claim.claim_id, "rejected", (), claim.errors)
            else:
                yield self.check(claim)


def load(*paths: str | os.PathLike[str], history: ReferenceHistory | None = None) -> ReferenceEngine:
    """Check the `.pol` files and directories like `policyc.load`, and interpret their IR directly.

    Raises PolicyError holding every diagnostic of every file that fails its checks, and Unsupported for
    a policy beyond the six rule kinds. A `history` (a new ReferenceHistory()) makes it keep earlier claims.
    """
    return ReferenceEngine(read_policies(paths), history)


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
