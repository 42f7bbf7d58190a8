"""A naive reference interpreter: the checked IR walked directly, one plain function per rule kind and table kind."""

from __future__ import annotations

import datetime
import functools
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
from policyc.tables import AocRow, AocTable, MueRow, MueTable, PtpRow, PtpTable

__all__ = ["ReferenceEngine", "Unsupported", "load"]

# Speed is no goal here: there is no dispatch index, no cache and no generated code; every rule looks at
# every line, scopes compare two lines at a time, add-ons settle by plain iteration, tables are read row by
# row. Each function should read as its paragraph of docs/language.md (the six written rule kinds) or of
# docs/tables.md (table rules: section 3; `extends`, replaced rows and `switch off`: section 5), so that the
# compiled engine can be tested against it. Claim history (docs/tables.md section 6) is not modelled.

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
    appealable: bool | None = None  # set when a table row decides it (MUE MAI 3), else the rule's action does


# ---------------------------------------------------------------- which lines a rule sees


def covers(policy: ir.PolicyIR, claim: Claim) -> bool:
    return policy.plans is None or claim.plan in policy.plans


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
    rule: ir.RuleIR, body: ir.AddonIR, claim: Claim, lines: Sequence[Line], standing: frozenset[int]
) -> list[Fired]:
    """Each add-on line without another standing primary line in its scope."""
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


def limit(rule: ir.RuleIR, body: ir.LimitIR, claim: Claim, lines: Sequence[Line]) -> list[Fired]:
    """Lines over a per-line cap, or every line of a scope whose units add up to more than the cap."""
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


def pair(rule: ir.RuleIR, body: ir.PairIR, claim: Claim, lines: Sequence[Line]) -> list[Fired]:
    """Each column-2 line sharing its scope with a column-1 line, unless one of the two carries a bypass."""
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


def evaluate(rule: ir.RuleIR, claim: Claim, lines: Sequence[Line]) -> list[Fired]:
    """What a written rule other than an add-on says about the lines it sees."""
    body = rule.body
    if isinstance(body, ir.LimitIR):
        return limit(rule, body, claim, lines)
    if isinstance(body, ir.SequenceIR):
        return sequence(rule, body, claim, lines)
    if isinstance(body, ir.BundleIR):
        return bundle(rule, body, claim, lines)
    if isinstance(body, ir.PairIR):
        return pair(rule, body, claim, lines)
    assert isinstance(body, ir.WhenIR), "add-ons are evaluated against the lines that stand"
    return when(rule, body, claim, lines)


# ---------------------------------------------------------------- table rules (docs/tables.md section 3)

TableKey = str | tuple[str, str]  # an MUE or add-on code, or a PTP (column 1, column 2) pair
Skip = Callable[[TableKey, datetime.date], bool]
Added = Callable[[str, datetime.date], frozenset[str]]

# The NCCI-associated modifiers that bypass a PTP row of modifier indicator 1 (docs/tables.md 3.3).
NCCI_MODIFIERS = frozenset({
    "59", "XE", "XS", "XP", "XU",  # distinct procedural service
    "E1", "E2", "E3", "E4", "FA", "F1", "F2", "F3", "F4", "F5", "F6", "F7", "F8", "F9",  # anatomic
    "TA", "T1", "T2", "T3", "T4", "T5", "T6", "T7", "T8", "T9", "LT", "RT", "LC", "LD", "LM", "RC", "RI",
    "24", "25", "27", "57", "58", "78", "79", "91",  # global surgery, 27, 91
})
MAI_TEXT = {1: "line edit", 2: "date of service edit: policy", 3: "date of service edit: clinical"}


def row_in_force(start: datetime.date | None, end: datetime.date | None, day: datetime.date) -> bool:
    """A table row's dates hold the day: effective <= day <= deletion, an open end always satisfied."""
    return (start is None or start <= day) and (end is None or day <= end)


def counted(count: int) -> tuple[str, str]:
    """(`1 unit`, `exceeds`), (`3 units`, `exceed`): the count with its noun, and the verb that agrees with it."""
    return (f"{count} unit", "exceeds") if count == 1 else (f"{count} units", "exceed")


def mue_facts(row: MueRow, table: ir.TableIR) -> str:
    because = f"; rationale: {row.rationale}" if row.rationale else ""
    return f"MAI {row.mai}, {MAI_TEXT[row.mai]}{because}; table {table.describe()} line {row.line}"


def mue_table(rule: ir.RuleIR, body: ir.TableLimitIR, claim: Claim, lines: Sequence[Line], skip: Skip) -> list[Fired]:
    """MAI 1: each line over the MUE. MAI 2, 3: every line of a code whose units on a day in the scope exceed it."""
    table = body.table
    assert isinstance(table.data, MueTable)
    cutting = rule.action.kind == "cut back"
    fired = []
    for line in lines:
        row = table.data.rows.get(line.code)
        if row is None or skip(line.code, line.date):
            continue
        if row.mai == 1:
            if line.units > row.value:
                units, exceed = counted(line.units)
                facts = (
                    f"{units} of {line.code} on the line {exceed} the MUE of {row.value} per line"
                    f" ({mue_facts(row, table)})"
                )
                fired.append(Fired(line.line, facts, min(row.value, line.units) if cutting else None, False))
            continue
        scope = [other for other in lines if other.code == line.code and together(body.scope, claim, line, other)]
        total = sum(other.units for other in scope)
        if total <= row.value:
            continue
        units, exceed = counted(total)
        facts = (
            f"{units} of {line.code} on {line.date} {exceed} the MUE of {row.value} per day"
            f"{body.scope.provider_phrase()} ({mue_facts(row, table)})"
        )
        appealable = row.mai == 3
        if not cutting:
            fired.append(Fired(line.line, facts, None, appealable))
            continue
        allowed = units_left(scope, row.value, line)
        if allowed < line.units:
            fired.append(Fired(line.line, f"{facts}; {allowed} of {line.units} units allowed", allowed, appealable))
    return fired


def addon_table(
    body: ir.TableAddonIR, claim: Claim, lines: Sequence[Line], standing: frozenset[int], skip: Skip, added: Added
) -> list[Fired]:
    """Each add-on line with rows in force and primaries to name, without another standing primary in its scope."""
    table = body.table
    assert isinstance(table.data, AocTable)
    fired = []
    for line in lines:
        rows = [row for row in table.data.rows.get(line.code, ()) if row_in_force(row.start, row.end, line.date)]
        if not rows:
            continue
        national = frozenset(row.primary for row in rows if row.primary is not None)
        # A payer's primaries join a code none of whose rows in force is of type 1; a type 1 row it replaces.
        payer = frozenset() if any(row.type == 1 for row in rows) else added(line.code, line.date)
        if not payer and skip(line.code, line.date):
            continue
        if not national and not payer:
            continue  # a type 2 add-on (or a type 3 listing no primary) is never denied by the table
        supported = any(
            other.line != line.line and other.line in standing and (other.code in national or other.code in payer)
            and together(body.scope, claim, line, other)
            for other in lines
        )
        if not supported:
            fired.append(Fired(line.line, addon_facts(line, rows[0], national, payer, body)))
    return fired


def addon_facts(
    line: Line, first: AocRow, national: frozenset[str], payer: frozenset[str], body: ir.TableAddonIR
) -> str:
    shown = sorted(national)
    text = ", ".join(shown[:5]) + (f" and {len(shown) - 5} more" if len(shown) > 5 else "")
    if payer:
        added_text = "added by the payer: " + ", ".join(sorted(payer))
        text = f"{text} or {added_text}" if text else added_text
    return (
        f"add-on {line.code} on {line.date} has no payable primary ({text}) {body.scope.describe()}"
        f" (type {first.type} add-on; table {body.table.describe()} line {first.line})"
    )


def pair_table(body: ir.TablePairIR, claim: Claim, lines: Sequence[Line], skip: Skip) -> list[Fired]:
    """Each column 2 line beside a column 1 line in its scope whose pair has a denying row in force."""
    table = body.table
    assert isinstance(table.data, PtpTable)
    fired = []
    for line in lines:
        denying = []
        for other in lines:
            if other.line == line.line or not together(body.scope, claim, line, other):
                continue
            rows = table.data.rows.get(other.code, {}).get(line.code, ())
            if not rows or skip((other.code, line.code), line.date):
                continue
            row = next((row for row in rows if denies(row, other, line)), None)
            if row is not None:
                denying.append((other, row))
        if denying:
            anchor, row = min(denying, key=lambda found: found[0].line)
            fired.append(Fired(line.line, pair_facts(anchor, line, row, body)))
    return fired


def denies(row: PtpRow, column1: Line, column2: Line) -> bool:
    """Indicator 0 always, 1 unless either line carries an NCCI modifier, 9 never; on the column 2 line's date."""
    if row.indicator == 9 or not row_in_force(row.start, row.end, column2.date):
        return False
    bypassed = not NCCI_MODIFIERS.isdisjoint(column1.modifiers) or not NCCI_MODIFIERS.isdisjoint(column2.modifiers)
    return row.indicator == 0 or not bypassed


def pair_facts(column1: Line, column2: Line, row: PtpRow, body: ir.TablePairIR) -> str:
    if row.indicator == 0:
        bypass = "modifier indicator 0: no modifier bypasses it"
    else:
        bypass = "modifier indicator 1 and neither line carries an NCCI bypass modifier (59, XE, XS, XP, XU, ...)"
    because = f"; rationale: {row.rationale}" if row.rationale else ""
    return (
        f"{column2.code} on {column2.date} is not paid with {column1.code} (line {column1.line})"
        f" {body.scope.describe()} ({bypass}{because}; table {body.table.describe()} line {row.line})"
    )


# ---------------------------------------------------------------- extends (docs/tables.md section 5)

Window = tuple[datetime.date, datetime.date | None]
TABLE_KIND = {ir.TableLimitIR: "mue", ir.TableAddonIR: "addon", ir.TablePairIR: "pair"}


def ancestors(policy: ir.PolicyIR, by_id: Mapping[str, ir.PolicyIR]) -> list[ir.PolicyIR]:
    """The policies `policy` extends, directly or through others, nearest first, each once (cycles stop)."""
    found: list[ir.PolicyIR] = []
    queue = list(policy.extends)
    while queue:
        base = by_id.get(queue.pop(0))
        if base is None or base is policy or base in found:
            continue
        found.append(base)
        queue.extend(base.extends)
    return found


@attrs.frozen
class Replacement:
    """The table rows a rule of an extending policy names: replaced (or switched off), or given more primaries."""

    kind: str  # "mue", "addon" or "pair"
    codes: frozenset[str]  # MUE codes, add-on codes or column 1 codes
    column2: frozenset[str] | None
    primaries: frozenset[str]  # an add-on rule's primaries (its add-on codes aside)

    def names(self, key: TableKey) -> bool:
        if isinstance(key, tuple):
            return self.column2 is not None and key[0] in self.codes and key[1] in self.column2
        return key in self.codes


def replacement(policy: ir.PolicyIR, rule: ir.RuleIR) -> Replacement | None:
    """What a rule of a policy that extends others names in their tables; None for a rule naming no row."""
    body = rule.body
    if not policy.extends:
        return None
    if isinstance(body, ir.SwitchOffIR):
        column2 = body.column2.members if body.column2 is not None else None
        return Replacement(body.kind, body.codes.members, column2, frozenset())
    if isinstance(body, ir.LimitIR):
        return Replacement("mue", body.codes.members, None, frozenset())
    if isinstance(body, ir.AddonIR):
        return Replacement("addon", body.addons.members, None, body.primaries.members - body.addons.members)
    if isinstance(body, ir.PairIR):
        return Replacement("pair", body.column1.members, body.column2.members, frozenset())
    return None


class Adjudication:
    """One claim against the loaded policies: which policies apply to it, on which dates, and what rows are replaced."""

    def __init__(self, policies: Sequence[ir.PolicyIR], claim: Claim) -> None:
        self.policies = tuple(policies)
        self.claim = claim
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
        lines = self.seen(policy, rule)
        body = rule.body
        if isinstance(body, ir.SwitchOffIR):
            return []  # it judges no line: the rows it names are skipped by their tables
        if isinstance(body, ir.TableLimitIR):
            return mue_table(rule, body, self.claim, lines, functools.partial(self.skipped, policy, "mue"))
        if isinstance(body, ir.TableAddonIR):
            skip, added = functools.partial(self.skipped, policy, "addon"), functools.partial(self.added, policy)
            return addon_table(body, self.claim, lines, standing, skip, added)
        if isinstance(body, ir.TablePairIR):
            return pair_table(body, self.claim, lines, functools.partial(self.skipped, policy, "pair"))
        if isinstance(body, ir.AddonIR):
            fired = addon(rule, body, self.claim, lines, standing)
        else:
            fired = evaluate(rule, self.claim, lines)
        named = replacement(policy, rule)
        if named is None or not fired:
            return fired
        tables = [
            (base, table_rule) for base in ancestors(policy, self.by_id) for table_rule in base.rules
            if TABLE_KIND.get(type(table_rule.body)) == named.kind
        ]
        if not tables:
            return fired
        return self.noted(rule, fired, lines, tables)

    def noted(
        self, rule: ir.RuleIR, fired: list[Fired], lines: Sequence[Line], tables: list[tuple[ir.PolicyIR, ir.RuleIR]]
    ) -> list[Fired]:
        """A replacing rule's findings end with the row they replace; an add-on rule's on a line whose national
        rows in force are all of type 2 or 3 are dropped (its primaries joined the table's, which judges)."""
        by_number = {line.line: line for line in self.claim.lines}
        kept = []
        for one in fired:
            line = by_number[one.line]
            if isinstance(rule.body, ir.AddonIR) and merged(line, tables):
                continue
            note = replaced_row(line, rule, lines, tables)
            kept.append(attrs.evolve(one, facts=one.facts + note) if note else one)
        return kept


def merged(line: Line, tables: list[tuple[ir.PolicyIR, ir.RuleIR]]) -> bool:
    """Whether a base's add-on table, in force on the line's date, lists the line's code there as type 2 or 3 only."""
    for _, table_rule in tables:
        assert isinstance(table_rule.body, ir.TableAddonIR) and isinstance(table_rule.body.table.data, AocTable)
        rows = table_rule.body.table.data.rows.get(line.code, ())
        listed = [row for row in rows if row_in_force(row.start, row.end, line.date)]
        if listed and in_force(table_rule, line.date) and all(row.type != 1 for row in listed):
            return True
    return False


def replaced_row(
    line: Line, rule: ir.RuleIR, lines: Sequence[Line], tables: list[tuple[ir.PolicyIR, ir.RuleIR]]
) -> str:
    """`; replaces cms-mue/mue's row for 99601 (MUE 0, MAI 3)`: the first base table row in force the line names."""
    for base, table_rule in tables:
        if not in_force(table_rule, line.date):
            continue
        assert isinstance(table_rule.body, (ir.TableLimitIR, ir.TableAddonIR, ir.TablePairIR))
        data, name = table_rule.body.table.data, f"{base.id}/{table_rule.id}"
        if isinstance(data, MueTable) and line.code in data.rows:
            row = data.rows[line.code]
            return f"; replaces {name}'s row for {line.code} (MUE {row.value}, MAI {row.mai})"
        if isinstance(data, AocTable):
            listed = [row for row in data.rows.get(line.code, ()) if row_in_force(row.start, row.end, line.date)]
            if listed:
                primaries = ", ".join(sorted({row.primary for row in listed if row.primary})[:5])
                return f"; replaces {name}'s type {listed[0].type} row for {line.code} (primaries {primaries})"
        if isinstance(data, PtpTable):
            assert isinstance(rule.body, ir.PairIR)
            either = rule.body.column1.members | rule.body.column2.members
            for other in lines:
                if other.code not in either:
                    continue
                pair_rows = data.rows.get(other.code, {}).get(line.code, ())
                held = next((row for row in pair_rows if row_in_force(row.start, row.end, line.date)), None)
                if held is not None and other.line != line.line and other.date == line.date:
                    return f"; replaces {name}'s row {other.code}/{line.code} (modifier indicator {held.indicator})"
    return ""


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


def adjudicate(policies: Sequence[ir.PolicyIR], claim: Claim) -> ClaimResult:
    """Every rule of every policy reaching the claim; add-ons (rules and tables) last, against the lines that stand."""
    seen = Adjudication(policies, claim)
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
    Claim history is not modelled: each claim is judged alone.
    """

    def __init__(self, policies: Sequence[ir.PolicyIR]) -> None:
        self.policies = tuple(policies)
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
