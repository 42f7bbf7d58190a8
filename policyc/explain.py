"""`policyc explain`: for each claim line, every rule that looked at it, the facts it used and the smallest fix."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
from typing import Any

import attrs
import click
from rich.console import Console
from rich.padding import Padding
from rich.syntax import Syntax
from rich.text import Text

from policyc import ir
from policyc.claimfile import ClaimFileError, read_claims
from policyc.claims import Claim, Line, Rejection
from policyc.codegen import generate
from policyc.compiler import find_policy_files, load_python, read_source, to_ir
from policyc.engine import Engine
from policyc.fields import FIELDS
from policyc.results import ClaimResult, LineResult
from policyc.runtime import NCCI_BYPASS, CompiledRule, rendering_provider
from policyc.tables import AocTable, MueTable, PtpTable, in_force

Facts = dict[str, Any]


@attrs.frozen
class RuleLook:
    """One rule's look at one line: whether it fired, what it saw, and what would make the line pass it."""

    rule: str
    kind: str
    source: str
    text: str
    fired: bool
    facts: Facts
    fix: str | None

    def to_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)


@attrs.frozen
class LineExplanation:
    line: int
    code: str
    status: str
    looks: tuple[RuleLook, ...]

    def to_dict(self) -> dict[str, Any]:
        rules = [look.to_dict() for look in self.looks]
        return {"line": self.line, "code": self.code, "status": self.status, "rules": rules}


class Explainer:
    """Policies held both as IR (to read the rules) and compiled (to get the verdicts being explained)."""

    def __init__(self, policies: Sequence[ir.PolicyIR]) -> None:
        compiled = [load_python(generate(policy), policy) for policy in policies]
        self.engine = Engine(compiled)
        self.rules = {(p.id, r.id): r for p in policies for r in p.rules}
        self.policies = {p.id: p for p in policies}

    def explain(self, claim: Claim) -> tuple[ClaimResult, list[LineExplanation]]:
        result = self.engine.check(claim)
        buckets = self.engine.index_for(claim.plan, claim.claim_type).buckets(claim.lines)
        looked: dict[int, list[CompiledRule]] = {}
        for rule, bucket in buckets.items():
            for line in bucket:
                looked.setdefault(line.line, []).append(rule)
        standing = {line.line for line in result.lines if line.status != "denied" and line.allowed_units > 0}
        explanations = []
        for line, line_result in zip(claim.lines, result.lines, strict=True):
            rules = sorted(looked.get(line.line, []), key=lambda r: r.source)
            looks = tuple(self._look(rule, line, line_result, claim, standing) for rule in rules)
            explanations.append(LineExplanation(line.line, line.code, line_result.status, looks))
        return result, explanations

    def _look(
        self, compiled: CompiledRule, line: Line, result: LineResult, claim: Claim, standing: set[int]
    ) -> RuleLook:
        rule = self.rules[(compiled.policy_id, compiled.id)]
        fired = any(f.rule == compiled.name for f in result.findings)
        facts, fix = FACTS[type(rule.body)](rule.body, line, claim, standing)
        if isinstance(rule.body, (ir.TableLimitIR, ir.TableAddonIR, ir.TablePairIR)):
            replacing = self.replacing(compiled.policy_id, rule.body, line, claim, facts)
            if replacing is not None:
                facts = {**facts, "replaced_by": replacing}
                fix = None
        return RuleLook(compiled.name, compiled.kind, compiled.source, rule.text, fired, facts, fix if fired else None)


    def replacing(
        self, base: str, body: ir.TableBodyIR, line: Line, claim: Claim, facts: Facts
    ) -> str | None:
        """The rule of an extending policy that replaces (or switches off) the row the table rule read, if any.

        See docs/tables.md section 5: a policy applying to the line that extends `base`, directly or not, with
        a rule in force on the line's date naming the row.
        """
        for policy in self.policies.values():
            applies = policy.plans is None or claim.plan in policy.plans
            dated = policy.start <= line.date and (policy.end is None or line.date <= policy.end)
            if not (applies and dated and base in self.ancestors(policy)):
                continue
            for rule in policy.rules:
                in_date = rule.start <= line.date and (rule.end is None or line.date <= rule.end)
                if in_date and names_row(rule.body, body, line, facts):
                    return f"{policy.id}/{rule.id}"
        return None

    def ancestors(self, policy: ir.PolicyIR) -> set[str]:
        found: set[str] = set()
        queue = list(policy.extends)
        while queue:
            name = queue.pop()
            if name not in found and name != policy.id:
                found.add(name)
                queue.extend(self.policies[name].extends if name in self.policies else ())
        return found


def names_row(replacing: ir.BodyIR, table: ir.TableBodyIR, line: Line, facts: Facts) -> bool:
    """Whether an extending policy's rule body names the table row the facts describe (docs/tables.md, 5)."""
    column1 = facts.get("column1_code")
    if isinstance(replacing, ir.SwitchOffIR):
        kind = {ir.TableLimitIR: "mue", ir.TableAddonIR: "addon", ir.TablePairIR: "pair"}[type(table)]
        if replacing.kind != kind or column1 is None and kind == "pair":
            return False
        if kind == "pair":
            return column1 in replacing.codes.members and (
                replacing.column2 is not None and line.code in replacing.column2.members
            )
        return line.code in replacing.codes.members
    if isinstance(table, ir.TableLimitIR) and isinstance(replacing, ir.LimitIR):
        return line.code in replacing.codes.members
    if isinstance(table, ir.TableAddonIR) and isinstance(replacing, ir.AddonIR):
        return 1 in facts.get("type", ()) and line.code in replacing.addons.members
    if isinstance(table, ir.TablePairIR) and isinstance(replacing, ir.PairIR):
        return column1 in replacing.column1.members and line.code in replacing.column2.members
    return False


# ------------------------------------------------------------------ facts per rule kind


def scope_key(scope: ir.ScopeIR, line: Line, claim: Claim) -> tuple[Any, ...]:
    """The same grouping the generated code uses (codegen.scope_key), for one line."""
    key: list[Any] = []
    if scope.extent == "day":
        key.append(line.date)
    if scope.provider == "billing":
        key.append(claim.billing_provider)
    elif scope.provider == "rendering":
        key.append(rendering_provider(line, claim))
    return tuple(key)


def in_scope(scope: ir.ScopeIR, line: Line, claim: Claim, codes: frozenset[str]) -> list[Line]:
    """The claim's lines of `codes` that the scope puts together with `line` (itself excluded)."""
    key = scope_key(scope, line, claim)
    return [
        other for other in claim.lines
        if other.line != line.line and other.code in codes and scope_key(scope, other, claim) == key
    ]


def limit_facts(body: ir.LimitIR, line: Line, claim: Claim, standing: set[int]) -> tuple[Facts, str | None]:
    if body.scope.extent == "line":
        over = line.units - body.cap
        fix = f"bill at most {body.cap} units on this line (drop {over})"
        return {"units": line.units, "cap": body.cap, "per": "line"}, fix
    lines = [line, *in_scope(body.scope, line, claim, body.codes.members)]
    total = sum(other.units for other in lines)
    facts = {"total_units": total, "cap": body.cap, "per": body.scope.extent, "lines": sorted(o.line for o in lines)}
    over = total - body.cap
    when = f"on {line.date}" if body.scope.extent == "day" else "on the claim"
    return facts, f"drop {over} unit{'s' if over != 1 else ''} of {body.codes.describe()} {when} (at most {body.cap})"


def addon_facts(body: ir.AddonIR, line: Line, claim: Claim, standing: set[int]) -> tuple[Facts, str | None]:
    if line.code not in body.addons.members:
        return {"role": f"primary of {body.addons.describe()}"}, None
    primaries = in_scope(body.scope, line, claim, body.primaries.members)
    found = sorted(p.line for p in primaries if p.line in standing)
    denied = sorted(p.line for p in primaries if p.line not in standing)
    facts = {
        "role": "add-on", "primaries": body.primaries.describe(),
        "standing_primary_lines": found, "denied_primary_lines": denied,
    }
    if denied:
        fix = f"make line {denied[0]} payable: it is the primary this add-on needs"
    else:
        fix = f"add a payable {body.primaries.describe()} {body.scope.describe()} ({line.date})"
    return facts, fix


def sequence_facts(body: ir.SequenceIR, line: Line, claim: Claim, standing: set[int]) -> tuple[Facts, str | None]:
    group = [line, *in_scope(body.scope, line, claim, body.codes.members)]
    count = len(group)
    carried = body.modifiers.intersection(line.modifiers)
    held: dict[frozenset[str], int] = {}
    for other in group:
        key = body.modifiers.intersection(other.modifiers)
        held[key] = held.get(key, 0) + 1
    rank = next((r for r in body.ranks if r.modifiers == carried), None)
    facts: Facts = {
        "concurrent_lines": count,
        "modifiers": sorted(carried),
        "rank": rank.label if rank else None,
        "lines_in_rank": held.get(carried, 0),
        "rank_admits": admits(rank, count) if rank else 0,
    }
    return facts, sequence_fix(body, carried, held, count)


def admits(rank: ir.RankIR, count: int) -> int:
    if rank.open_ended:
        return max(0, count - rank.ordinal + 1)
    return 1 if count >= rank.ordinal else 0


def sequence_fix(
    body: ir.SequenceIR, carried: frozenset[str], held: dict[frozenset[str], int], count: int
) -> str | None:
    """Move the line to the first rank with room, naming the modifier change that does it."""
    for rank in body.ranks:
        room = admits(rank, count) - held.get(rank.modifiers, 0)
        if rank.modifiers != carried and room > 0:
            add = sorted(rank.modifiers - carried)
            drop = sorted(carried - rank.modifiers)
            steps = [f"add modifier {m}" for m in add] + [f"remove modifier {m}" for m in drop]
            return " and ".join(steps) + f" (rank {rank.label})"
    return f"bill fewer concurrent {body.codes.describe()} lines on this day"


def bundle_facts(body: ir.BundleIR, line: Line, claim: Claim, standing: set[int]) -> tuple[Facts, str | None]:
    if line.code not in body.bundled.members:
        return {"role": f"bundles {body.bundled.describe()}"}, None
    anchors = sorted(o.line for o in in_scope(body.scope, line, claim, body.into.members))
    facts = {"role": "bundled", "included_in": body.into.describe(), "lines": anchors}
    return facts, f"do not bill {line.code} separately: it is included in line {anchors[0] if anchors else '?'}"


def pair_facts(body: ir.PairIR, line: Line, claim: Claim, standing: set[int]) -> tuple[Facts, str | None]:
    if line.code not in body.column2.members:
        return {"role": f"column 1 of {body.column2.describe()}"}, None
    anchors = in_scope(body.scope, line, claim, body.column1.members)
    column1_lines = sorted(o.line for o in anchors)
    facts = {"role": "column 2", "column1_lines": column1_lines, "bypass_modifiers": sorted(body.bypass)}
    if body.bypass:
        modifiers = " or ".join(sorted(body.bypass))
        return facts, f"add modifier {modifiers} when the services were distinct"
    return facts, f"{line.code} is not payable with {body.column1.describe()} {body.scope.describe()}"


def when_facts(body: ir.WhenIR, line: Line, claim: Claim, standing: set[int]) -> tuple[Facts, str | None]:
    values = {name: _jsonable(FIELDS[name].read(claim, line)) for name in sorted(fields_of(body.condition))}
    modifiers = sorted(modifiers_of(body.condition).intersection(line.modifiers))
    facts: Facts = {"fields": values, "modifiers": modifiers}
    if modifiers:
        return facts, " and ".join(f"remove modifier {m}" for m in modifiers)
    return facts, "change the line so the rule's condition no longer holds"


def fields_of(cond: ir.CondIR) -> set[str]:
    if isinstance(cond, (ir.CondAll, ir.CondAny)):
        return set().union(*(fields_of(c) for c in cond.items))
    if isinstance(cond, ir.CondNot):
        return fields_of(cond.item)
    if isinstance(cond, ir.CondCodeIn):
        return {"line.code"}
    if isinstance(cond, (ir.CondCompare, ir.CondValueIn)):
        return {cond.field}
    return set()


def modifiers_of(cond: ir.CondIR) -> frozenset[str]:
    """Modifiers whose presence makes the condition hold (not under a `not`)."""
    if isinstance(cond, (ir.CondAll, ir.CondAny)):
        return frozenset().union(*(modifiers_of(c) for c in cond.items))
    return cond.modifiers if isinstance(cond, ir.CondModifier) else frozenset()


# ------------------------------------------------------------------ table rules


def mue_table_facts(body: ir.TableLimitIR, line: Line, claim: Claim, standing: set[int]) -> tuple[Facts, str | None]:
    """An MUE row: MAI 1 judges the line alone, MAI 2 and 3 the code's units on the day in the scope."""
    assert isinstance(body.table.data, MueTable)
    row = body.table.data.rows[line.code]
    facts: Facts = {
        "code": line.code, "mue": row.value, "mai": row.mai, "per": "line" if row.mai == 1 else "day",
        "table": body.table.describe(), "table_line": row.line,
    }
    if row.mai == 1:
        facts["units"] = line.units
        over = line.units - row.value
        if row.value == 0:
            return facts, f"do not bill {line.code}: its MUE is 0 ({body.table.describe()} line {row.line})"
        return facts, f"bill at most {row.value} units on this line (drop {over})"
    lines = [line, *in_scope(body.scope, line, claim, frozenset({line.code}))]
    total = sum(other.units for other in lines)
    facts.update(total_units=total, lines=sorted(o.line for o in lines))
    if row.value == 0:
        fix = f"do not bill {line.code}: its MUE is 0 ({body.table.describe()} line {row.line})"
    else:
        over = total - row.value
        fix = f"drop {over} unit{'s' if over != 1 else ''} of {line.code} on {line.date} (at most {row.value})"
    if row.mai == 3:
        fix += "; or appeal with records: MAI 3 findings are appealable"
    return facts, fix


def addon_table_facts(
    body: ir.TableAddonIR, line: Line, claim: Claim, standing: set[int]
) -> tuple[Facts, str | None]:
    """An add-on table row in force on the line's date: its type, its primaries and the primary lines seen."""
    assert isinstance(body.table.data, AocTable)
    listed = body.table.data.in_force(line.code, line.date)
    if listed is None:
        return {"role": "primary"}, None
    _, primaries, first = listed
    rows = [r for r in body.table.data.rows[line.code] if in_force(r.start, r.end, line.date)]
    found = in_scope(body.scope, line, claim, primaries)
    facts: Facts = {
        "role": "add-on", "type": sorted({r.type for r in rows}), "primaries": sorted(primaries),
        "standing_primary_lines": sorted(p.line for p in found if p.line in standing),
        "denied_primary_lines": sorted(p.line for p in found if p.line not in standing),
        "table": body.table.describe(), "table_line": first.line,
    }
    if facts["denied_primary_lines"]:
        return facts, f"make line {facts['denied_primary_lines'][0]} payable: it is the primary this add-on needs"
    return facts, f"add a payable {shown(primaries)} {body.scope.describe()} ({line.date})"


def pair_table_facts(body: ir.TablePairIR, line: Line, claim: Claim, standing: set[int]) -> tuple[Facts, str | None]:
    """The PTP row pairing the line (column 2) with the lowest-numbered column 1 line in its scope."""
    assert isinstance(body.table.data, PtpTable)
    table = body.table.data.rows
    others = in_scope(body.scope, line, claim, frozenset(table))
    pairs = sorted(
        (
            (other, row)
            for other in others
            for row in table[other.code].get(line.code, ())
            if in_force(row.start, row.end, line.date) and row.indicator != 9
        ),
        key=lambda pair: (pair[0].line, pair[1].line),
    )
    if not pairs:
        column2 = [o.line for o in in_scope(body.scope, line, claim, frozenset(table.get(line.code, {})))]
        return {"role": "column 1" if column2 else "no pair in scope", "column2_lines": sorted(column2)}, None
    bypassed = not NCCI_BYPASS.isdisjoint(line.modifiers)
    denying = [
        (other, row) for other, row in pairs
        if row.indicator == 0 or not (bypassed or not NCCI_BYPASS.isdisjoint(other.modifiers))
    ]
    other, row = (denying or pairs)[0]
    facts: Facts = {
        "role": "column 2", "column1_line": other.line, "column1_code": other.code, "indicator": row.indicator,
        "bypass_modifiers": sorted(NCCI_BYPASS) if row.indicator == 1 else [],
        "deletion_date": str(row.end) if row.end else None,
        "table": body.table.describe(), "table_line": row.line,
    }
    if row.indicator == 1:
        return facts, f"add modifier 59 or XU (or another NCCI bypass modifier) when {line.code} was a distinct service"
    return facts, f"{line.code} is not payable with {other.code} (line {other.line}) {body.scope.describe()}: " \
        "no modifier bypasses it, so bill one of them"


def switch_off_facts(body: ir.SwitchOffIR, line: Line, claim: Claim, standing: set[int]) -> tuple[Facts, str | None]:
    """A switch-off judges no line (it reaches none through dispatch); for completeness only."""
    return {"switched_off": body.kind}, None


def shown(codes: frozenset[str], most: int = 5) -> str:
    ordered = sorted(codes)
    text = ", ".join(ordered[:most])
    return text + (f" and {len(ordered) - most} more" if len(ordered) > most else "")


def _jsonable(value: object) -> object:
    return value if value is None or isinstance(value, (int, str)) else str(value)


FACTS: dict[type, Any] = {
    ir.LimitIR: limit_facts,
    ir.AddonIR: addon_facts,
    ir.SequenceIR: sequence_facts,
    ir.BundleIR: bundle_facts,
    ir.PairIR: pair_facts,
    ir.WhenIR: when_facts,
    ir.TableLimitIR: mue_table_facts,
    ir.TableAddonIR: addon_table_facts,
    ir.TablePairIR: pair_table_facts,
    ir.SwitchOffIR: switch_off_facts,
}


# ------------------------------------------------------------------ output


def explanation_dict(result: ClaimResult, lines: Sequence[LineExplanation]) -> dict[str, Any]:
    return {"claim_id": result.claim_id, "status": result.status, "lines": [line.to_dict() for line in lines]}


def print_explanation(console: Console, result: ClaimResult, lines: Sequence[LineExplanation]) -> None:
    console.print(Text.assemble(("claim ", "bold"), (result.claim_id or "?", "bold")))
    for line in lines:
        console.print(Text.assemble(f"  line {line.line} ", (line.code, "bold"), f"  {line.status}"))
        if not line.looks:
            console.print("    no rule looks at this line", style="dim")
        for look in line.looks:
            verdict = Text("fired", style="bold red") if look.fired else Text("silent", style="green")
            console.print(Text.assemble("    ", verdict, f"  {look.rule}  ", (look.source, "dim")))
            syntax = Syntax(look.text, "pol", theme="ansi_dark", background_color="default", word_wrap=True)
            console.print(Padding(syntax, (0, 0, 0, 6)))
            facts = ", ".join(f"{key} {value}" for key, value in look.facts.items())
            console.print(f"      facts: {facts}", highlight=False)
            if look.fix:
                console.print(f"      to pay it: {look.fix}", style="yellow", highlight=False)


def _claims(path: str) -> Iterator[Claim | Rejection]:
    try:
        for record in read_claims(path):
            yield record.parsed
    except ClaimFileError as error:
        click.echo(f"policyc: {error}", err=True)
        sys.exit(2)


@click.command("explain")
@click.option("--policy", "-p", "policies", multiple=True, required=True, metavar="PATH",
              help="A .pol file or a directory searched recursively; repeat for more.")
@click.option("--line", "line_number", type=int, default=None, help="Explain only this line of each claim.")
@click.option("--format", "-f", "output_format", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.argument("claim", metavar="CLAIM")
def explain_command(policies: tuple[str, ...], line_number: int | None, output_format: str, claim: str) -> None:
    """Explain each line of the claims in CLAIM: every rule that looked at it, its facts, and what would pay it."""
    explainer = Explainer([to_ir(read_source(path)) for path in find_policy_files(policies)])
    console = Console()
    documents = []
    for parsed in _claims(claim):
        if isinstance(parsed, Rejection):
            click.echo(f"claim {parsed.claim_id or '?'} rejected: {parsed.describe()}", err=True)
            continue
        result, lines = explainer.explain(parsed)
        chosen = [line for line in lines if line_number is None or line.line == line_number]
        if output_format == "json":
            documents.append(explanation_dict(result, chosen))
        else:
            print_explanation(console, result, chosen)
    if output_format == "json":
        click.echo(json.dumps(documents, indent=2))
