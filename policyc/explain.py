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
from policyc.runtime import CompiledRule

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

    def explain(self, claim: Claim) -> tuple[ClaimResult, list[LineExplanation]]:
        result = self.engine.check(claim)
        buckets = self.engine.index_for(claim.plan).buckets(claim.lines)
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
        return RuleLook(compiled.name, compiled.kind, compiled.source, rule.text, fired, facts, fix if fired else None)


# ------------------------------------------------------------------ facts per rule kind


def scope_key(scope: ir.ScopeIR, line: Line, claim: Claim) -> tuple[Any, ...]:
    """The same grouping the generated code uses (codegen.scope_key), for one line."""
    key: list[Any] = []
    if scope.extent == "day":
        key.append(line.date)
    if scope.provider == "billing":
        key.append(claim.billing_provider)
    elif scope.provider == "rendering":
        key.append(line.rendering_provider or claim.rendering_provider)
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


def _jsonable(value: object) -> object:
    return value if value is None or isinstance(value, (int, str)) else str(value)


FACTS: dict[type, Any] = {
    ir.LimitIR: limit_facts,
    ir.AddonIR: addon_facts,
    ir.SequenceIR: sequence_facts,
    ir.BundleIR: bundle_facts,
    ir.PairIR: pair_facts,
    ir.WhenIR: when_facts,
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
