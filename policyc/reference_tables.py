"""The reference interpreter's national tables: MUE, add-on and PTP rows read one by one; what `extends` replaces."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Mapping, Sequence

import attrs

from policyc import ir
from policyc.claims import Claim, Line
from policyc.reference_history import EarlierLine, beside
from policyc.reference_rules import Fired, in_force, together, units_left
from policyc.tables import AocRow, AocTable, MueRow, MueTable, PtpRow, PtpTable

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


def mue_table(
    rule: ir.RuleIR, body: ir.TableLimitIR, claim: Claim, lines: Sequence[Line], skip: Skip,
    earlier: Sequence[EarlierLine] = (),
) -> list[Fired]:
    """MAI 1: each line over the MUE. MAI 2, 3: every line of a code whose units on a day in the scope exceed it.

    The day's units include the allowed units of earlier claims' lines in the scope; a cut back gives them theirs first.
    """
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
        paid_before = sum(
            other.units for other in earlier if other.code == line.code and beside(body.scope, claim, line, other)
        )
        total = paid_before + sum(other.units for other in scope)
        if total <= row.value:
            continue
        units, exceed = counted(total)
        history = f" ({paid_before} of them on earlier claims)" if paid_before else ""
        facts = (
            f"{units} of {line.code} on {line.date}{history} {exceed} the MUE of {row.value} per day"
            f"{body.scope.provider_phrase()} ({mue_facts(row, table)})"
        )
        appealable = row.mai == 3
        if not cutting:
            fired.append(Fired(line.line, facts, None, appealable))
            continue
        allowed = units_left(scope, row.value - paid_before, line)
        if allowed < line.units:
            fired.append(Fired(line.line, f"{facts}; {allowed} of {line.units} units allowed", allowed, appealable))
    return fired


def addon_table(
    body: ir.TableAddonIR, claim: Claim, lines: Sequence[Line], standing: frozenset[int], skip: Skip, added: Added,
    earlier: Sequence[EarlierLine] = (),
) -> list[Fired]:
    """Each add-on line with rows in force and primaries to name, without another standing primary in its scope.

    An earlier claim's line in the scope (it stood) is a standing primary too.
    """
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
        ) or any(
            (other.code in national or other.code in payer) and beside(body.scope, claim, line, other)
            for other in earlier
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


def pair_table(
    body: ir.TablePairIR, claim: Claim, lines: Sequence[Line], skip: Skip, earlier: Sequence[EarlierLine] = ()
) -> list[Fired]:
    """Each column 2 line beside a column 1 line in its scope whose pair has a denying row in force.

    A column 1 line of an earlier claim in the scope denies too; the claim's own lowest-numbered column 1 line
    names the edit, else the earlier claims' first (by claim id, then line number). Nothing reaches back to
    an earlier claim's column 2 line.
    """
    table = body.table
    assert isinstance(table.data, PtpTable)
    fired = []
    for line in lines:
        denying = []
        for other in lines:
            if other.line == line.line or not together(body.scope, claim, line, other):
                continue
            row = denying_row(table.data, skip, other.code, other.modifiers, line)
            if row is not None:
                denying.append((other, row))
        if denying:
            anchor, row = min(denying, key=lambda found: found[0].line)
            fired.append(Fired(line.line, pair_facts(anchor.code, f"line {anchor.line}", line, row, body)))
            continue
        before = []
        for prior in earlier:
            if not beside(body.scope, claim, line, prior):
                continue
            row = denying_row(table.data, skip, prior.code, prior.modifiers, line)
            if row is not None:
                before.append((prior, row))
        if before:
            first, row = min(before, key=lambda found: (found[0].claim_id, found[0].line))
            fired.append(Fired(line.line, pair_facts(first.code, "on an earlier claim", line, row, body)))
    return fired


def denying_row(table: PtpTable, skip: Skip, code: str, modifiers: tuple[str, ...], column2: Line) -> PtpRow | None:
    """The first row of the pair (code, column 2's code), not replaced on the day, that denies the column 2 line."""
    rows = table.rows.get(code, {}).get(column2.code, ())
    if not rows or skip((code, column2.code), column2.date):
        return None
    return next((row for row in rows if denies(row, modifiers, column2)), None)


def denies(row: PtpRow, column1_modifiers: tuple[str, ...], column2: Line) -> bool:
    """Indicator 0 always, 1 unless either line carries an NCCI modifier, 9 never; on the column 2 line's date."""
    if row.indicator == 9 or not row_in_force(row.start, row.end, column2.date):
        return False
    bypassed = not NCCI_MODIFIERS.isdisjoint(column1_modifiers) or not NCCI_MODIFIERS.isdisjoint(column2.modifiers)
    return row.indicator == 0 or not bypassed


def pair_facts(column1: str, anchor: str, column2: Line, row: PtpRow, body: ir.TablePairIR) -> str:
    if row.indicator == 0:
        bypass = "modifier indicator 0: no modifier bypasses it"
    else:
        bypass = "modifier indicator 1 and neither line carries an NCCI bypass modifier (59, XE, XS, XP, XU, ...)"
    because = f"; rationale: {row.rationale}" if row.rationale else ""
    return (
        f"{column2.code} on {column2.date} is not paid with {column1} ({anchor})"
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
    line: Line, rule: ir.RuleIR, claim: Claim, lines: Sequence[Line], tables: list[tuple[ir.PolicyIR, ir.RuleIR]],
    earlier: Sequence[EarlierLine] = (),
) -> str:
    """`; replaces cms-mue/mue's row for 99601 (MUE 0, MAI 3)`: the first base table row in force the line names.

    A pair is looked for with the claim's lines, then with the earlier claims' lines of the day (by claim id, then
    line number) that the rule reaches: its billing provider's for `by the same provider`, else any provider's.
    """
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
            reached = [
                other for other in sorted(earlier, key=lambda other: (other.claim_id, other.line))
                if rule.body.scope.provider != "billing" or other.billing_provider == claim.billing_provider
            ]
            candidates: list[Line | EarlierLine] = [*lines, *reached]
            for other in candidates:
                if other.code not in either:
                    continue
                pair_rows = data.rows.get(other.code, {}).get(line.code, ())
                held = next((row for row in pair_rows if row_in_force(row.start, row.end, line.date)), None)
                if held is not None and (other is not line) and other.date == line.date:
                    return f"; replaces {name}'s row {other.code}/{line.code} (modifier indicator {held.indicator})"
    return ""
