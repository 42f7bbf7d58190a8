"""`policyc diff`: what a new version of the policies changes, in the rules and on a batch of claims."""

from __future__ import annotations

import itertools
import json
import os
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from policyc import ir
from policyc.claimfile import ClaimFileError, read_claims
from policyc.claims import Claim, Rejection
from policyc.codes import code_shape
from policyc.compiler import compile_paths, find_policy_files, read_source, to_ir
from policyc.diagnostics import PolicyError
from policyc.engine import Engine
from policyc.results import ClaimResult, Finding, LineResult

EXIT_OK, EXIT_POLICY_ERROR, EXIT_USAGE = 0, 1, 2
PROGRESS_EVERY = 500  # claims between progress bar updates: the bar costs nothing measurable at this rate
ARROW = "->"


# ---------------------------------------------------------------- static differences, from the IR


@attrs.frozen
class SetChange:
    """Codes a set gained and lost between the versions."""

    name: str  # a code set's name, or a rule's role for its codes (`limit codes`, `column 2`)
    added: tuple[str, ...]
    removed: tuple[str, ...]

    def describe(self) -> str:
        parts = [f"added {compact(self.added)}"] if self.added else []
        parts += [f"removed {compact(self.removed)}"] if self.removed else []
        return f"{self.name}: " + "; ".join(parts)


@attrs.frozen
class RuleChange:
    """A rule in both versions whose meaning differs: each changed fact, old -> new, and its codes."""

    rule: str
    facts: tuple[str, ...]  # "cap: 4 -> 3"
    codes: tuple[SetChange, ...]


@attrs.frozen
class PolicyChange:
    """What differs in one policy id between the versions."""

    policy_id: str
    status: str  # "added", "removed" or "changed"
    path: str
    header: tuple[str, ...] = ()
    code_sets: tuple[SetChange, ...] = ()
    rules_added: tuple[str, ...] = ()
    rules_removed: tuple[str, ...] = ()
    rules_changed: tuple[RuleChange, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)


def static_diff(old: Sequence[ir.PolicyIR], new: Sequence[ir.PolicyIR]) -> tuple[PolicyChange, ...]:
    """Every policy added, removed or changed between two versions, by policy id, in id order."""
    old_by_id, new_by_id = {p.id: p for p in old}, {p.id: p for p in new}
    changes = []
    for policy_id in sorted(old_by_id.keys() | new_by_id.keys()):
        before, after = old_by_id.get(policy_id), new_by_id.get(policy_id)
        if before is None or after is None:
            present = after or before
            assert present is not None
            changes.append(PolicyChange(policy_id, "added" if before is None else "removed", present.path))
            continue
        change = policy_change(before, after)
        if change is not None:
            changes.append(change)
    return tuple(changes)


def policy_change(old: ir.PolicyIR, new: ir.PolicyIR) -> PolicyChange | None:
    header = tuple(_fact_changes(header_facts(old), header_facts(new)))
    sets = tuple(_set_changes({s.name: s.expr.members for s in old.code_sets},
                              {s.name: s.expr.members for s in new.code_sets}))
    old_rules, new_rules = {r.id: r for r in old.rules}, {r.id: r for r in new.rules}
    changed = []
    for rule_id in [r.id for r in new.rules if r.id in old_rules]:
        facts = tuple(_fact_changes(rule_facts(old_rules[rule_id]), rule_facts(new_rules[rule_id])))
        codes = tuple(_set_changes(rule_codes(old_rules[rule_id]), rule_codes(new_rules[rule_id])))
        if facts or codes:
            changed.append(RuleChange(rule_id, facts, codes))
    added = tuple(r.id for r in new.rules if r.id not in old_rules)
    removed = tuple(r.id for r in old.rules if r.id not in new_rules)
    if not (header or sets or changed or added or removed):
        return None
    return PolicyChange(old.id, "changed", new.path, header, sets, added, removed, tuple(changed))


def header_facts(policy: ir.PolicyIR) -> dict[str, str]:
    return {
        "title": policy.title or "",
        "payer": policy.payer or "",
        "source": policy.source_document or "",
        "plans": "all" if policy.plans is None else ", ".join(sorted(policy.plans)),
        "claims": "all" if policy.claim_types is None else ", ".join(sorted(policy.claim_types)),
        "dates": _dates(policy.start, policy.end),
        "extends": ", ".join(policy.extends),
    }


def rule_facts(rule: ir.RuleIR) -> dict[str, str]:
    """What a rule says apart from its codes, as comparable text: kind, action, cap, scope, ranks, dates."""
    body = rule.body
    facts = {
        "kind": rule.kind,
        "title": rule.title or "",
        "action": action_text(rule.action),
        "rationale": rule.rationale or "",
        "dates": _dates(rule.start, rule.end),
    }
    if isinstance(body, TABLE_BODIES):
        facts["kind"] = f"{body.table.kind} table"
        facts.update(table_facts(body.table))
    elif isinstance(body, ir.SwitchOffIR):
        facts["kind"] = f"switch off {body.kind}"
    if isinstance(body, ir.LimitIR):
        facts["cap"] = f"{body.cap} per {body.scope.extent}{body.scope.provider_phrase()}"
    elif not isinstance(body, (ir.WhenIR, ir.SwitchOffIR)):
        facts["scope"] = body.scope.describe()
    if isinstance(body, ir.SequenceIR):
        facts["ranks"] = "; ".join(f"{r.label} {_rank_modifiers(r, body.modifiers)}" for r in body.ranks)
    if isinstance(body, ir.PairIR):
        facts["bypass modifiers"] = ", ".join(sorted(body.bypass))
    if isinstance(body, ir.WhenIR):
        facts["condition"] = rule.text.removeprefix("when ")
    return facts


TABLE_BODIES = (ir.TableLimitIR, ir.TableAddonIR, ir.TablePairIR)


def table_facts(table: ir.TableIR) -> dict[str, str]:
    """A bound table as comparable text: its files, how they are read, its row count and its content hash."""
    return {
        "table files": table.describe(),
        "table format": table.format or "detected from the file",
        "table setting": table.setting or ("all" if table.kind == "pair" else ""),
        "table rows": f"{table.rows:,}",
        "table contents": f"sha256 {table.digest[:12]}",
    }


def _rank_modifiers(rank: ir.RankIR, modifiers: frozenset[str]) -> str:
    return ("with " if rank.modifiers else "without ") + ", ".join(sorted(rank.modifiers or modifiers))


def rule_codes(rule: ir.RuleIR) -> dict[str, frozenset[str]]:
    """The codes a rule names, by their role in it, with code set names resolved."""
    body = rule.body
    if isinstance(body, ir.AddonIR):
        return {"add-on codes": body.addons.members, "primary codes": body.primaries.members}
    if isinstance(body, (ir.LimitIR, ir.SequenceIR)):
        return {f"{rule.kind} codes": body.codes.members}
    if isinstance(body, ir.BundleIR):
        return {"bundled codes": body.bundled.members, "codes bundled into": body.into.members}
    if isinstance(body, ir.PairIR):
        return {"column 1": body.column1.members, "column 2": body.column2.members}
    if isinstance(body, TABLE_BODIES):
        return {}  # the table's codes are its rows: the facts report its files, rows and contents
    if isinstance(body, ir.SwitchOffIR):
        if body.column2 is not None:
            return {"switched-off column 1": body.codes.members, "switched-off column 2": body.column2.members}
        return {"switched-off codes": body.codes.members}
    return {"condition codes": frozenset().union(*(c.codes.members for c in _code_tests(body.condition)))}


def _code_tests(cond: ir.CondIR) -> Iterator[ir.CondCodeIn]:
    if isinstance(cond, ir.CondCodeIn):
        yield cond
    elif isinstance(cond, (ir.CondAll, ir.CondAny)):
        for item in cond.items:
            yield from _code_tests(item)
    elif isinstance(cond, ir.CondNot):
        yield from _code_tests(cond.item)


def action_text(action: ir.ActionIR) -> str:
    if action.kind == "review":
        return f'review "{action.reason}"'
    appealable = ["appealable"] if action.appealable else []
    return " ".join([action.kind, f"{action.group}-{action.carc}", *action.rarcs, *appealable])


def _dates(start: Any, end: Any) -> str:
    return f"{start.isoformat()} until {end.isoformat()}" if end else f"{start.isoformat()}, no end"


def _fact_changes(old: Mapping[str, str], new: Mapping[str, str]) -> Iterator[str]:
    for key in new:
        if old.get(key, "") != new[key]:
            yield f"{key}: {old.get(key) or '(none)'} {ARROW} {new[key] or '(none)'}"


def _set_changes(old: Mapping[str, frozenset[str]], new: Mapping[str, frozenset[str]]) -> Iterator[SetChange]:
    for name in [*old, *(k for k in new if k not in old)]:
        before, after = old.get(name, frozenset()), new.get(name, frozenset())
        if before != after:
            label = name if name in old and name in new else f"{name} ({'new' if name in new else 'gone'})"
            yield SetChange(label, tuple(sorted(after - before, key=_code_order)),
                            tuple(sorted(before - after, key=_code_order)))


def _code_order(code: str) -> tuple[str, str, int]:
    shape = code_shape(code)
    letters = "".join(ch for ch in code if ch.isalpha())
    return (shape.name if shape else "", letters, int("".join(ch for ch in code if ch.isdigit()) or 0))


def compact(codes: Sequence[str]) -> str:
    """Sorted codes with runs of consecutive codes written as ranges: `S9325..S9330, 99601`."""
    parts: list[str] = []
    run: list[str] = []
    for code in codes:
        if run and _code_order(code)[:2] == _code_order(run[-1])[:2] and \
                _code_order(code)[2] == _code_order(run[-1])[2] + 1:
            run.append(code)
            continue
        parts.extend(_run_text(run))
        run = [code]
    parts.extend(_run_text(run))
    return ", ".join(parts)


def _run_text(run: Sequence[str]) -> list[str]:
    if len(run) > 2:
        return [f"{run[0]}..{run[-1]}"]
    return list(run)


# ---------------------------------------------------------------- differences on claims


@attrs.frozen
class LineVerdict:
    """What a line got: its status, the units allowed and the adjustment codes of its findings."""

    status: str
    allowed_units: int
    codes: tuple[str, ...]  # "CO-151 N362" per finding, strongest first; "review" for a review

    @classmethod
    def of(cls, line: LineResult) -> LineVerdict:
        return cls(line.status, line.allowed_units, tuple(finding_codes(f) for f in line.findings))

    def describe(self, units: int) -> str:
        reduced = f" to {self.allowed_units} of {units} units" if self.status == "reduced" else ""
        codes = ", ".join(dict.fromkeys(self.codes))
        return f"{self.status}{reduced}" + (f" ({codes})" if codes else "")

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "allowed_units": self.allowed_units, "codes": list(self.codes)}


def finding_codes(finding: Finding) -> str:
    return " ".join([finding.adjustment, *finding.rarc]) if finding.adjustment else finding.action


def finding_signature(finding: Finding) -> tuple[object, ...]:
    return (finding.action, finding.adjustment, finding.rarc, finding.allowed_units)


@attrs.frozen
class ChangedLine:
    """One claim line whose verdict differs between the versions, and the rules that differ on it."""

    claim_id: str
    line: int
    code: str
    units: int
    charge: Decimal | None
    old: LineVerdict
    new: LineVerdict
    rules: tuple[str, ...]

    @property
    def transition(self) -> str:
        """`paid -> denied`; with the status unchanged, what else changed (`denied, codes changed`)."""
        if self.old.status != self.new.status:
            return f"{self.old.status} {ARROW} {self.new.status}"
        what = "allowed units" if self.old.allowed_units != self.new.allowed_units else "codes"
        return f"{self.old.status}, {what} changed"

    def to_dict(self) -> dict[str, Any]:
        return {
            "claim_id": self.claim_id, "line": self.line, "code": self.code, "units": self.units,
            "charge": None if self.charge is None else str(self.charge),
            "old": self.old.to_dict(), "new": self.new.to_dict(), "rules": list(self.rules),
        }


def changed_lines(claim: Claim, old: ClaimResult, new: ClaimResult) -> Iterator[ChangedLine]:
    """The lines of one claim whose status, allowed units or adjustment codes differ."""
    for line, before, after in zip(claim.lines, old.lines, new.lines, strict=True):
        old_verdict, new_verdict = LineVerdict.of(before), LineVerdict.of(after)
        if old_verdict == new_verdict:
            continue
        yield ChangedLine(claim.claim_id, line.line, line.code, line.units, line.charge, old_verdict, new_verdict,
                          rules_that_differ(before, after))


def rules_that_differ(old: LineResult, new: LineResult) -> tuple[str, ...]:
    """Rules whose finding on the line appears, disappears or changes between the versions."""
    before = {f.rule: finding_signature(f) for f in old.findings}
    after = {f.rule: finding_signature(f) for f in new.findings}
    differ = sorted(rule for rule in before.keys() | after.keys() if before.get(rule) != after.get(rule))
    return tuple(differ) or ("(no single rule)",)


@attrs.frozen
class RuleGroup:
    """The changed lines one rule is behind, with their count and billed dollars by transition."""

    rule: str
    source: str
    lines: tuple[ChangedLine, ...]

    @property
    def billed(self) -> Decimal:
        return billed(self.lines)

    def transitions(self) -> list[tuple[str, int, Decimal]]:
        """(`paid -> denied`, lines, billed dollars), most lines first."""
        by_transition: dict[str, list[ChangedLine]] = {}
        for line in self.lines:
            by_transition.setdefault(line.transition, []).append(line)
        rows = [(name, len(lines), billed(lines)) for name, lines in by_transition.items()]
        return sorted(rows, key=lambda row: (-row[1], row[0]))

    def to_dict(self, sample: int | None) -> dict[str, Any]:
        shown = self.lines if sample is None else self.lines[:sample]
        return {
            "rule": self.rule, "source": self.source, "lines_changed": len(self.lines),
            "billed": str(self.billed), "lines_without_charge": sum(1 for line in self.lines if line.charge is None),
            "transitions": [{"change": t, "lines": c, "billed": str(b)} for t, c, b in self.transitions()],
            "lines": [line.to_dict() for line in shown],
        }


def billed(lines: Iterable[ChangedLine]) -> Decimal:
    return sum((line.charge for line in lines if line.charge is not None), Decimal(0))


class DiffTally:
    """Counts claims and keeps every changed line while the batch streams past."""

    def __init__(self) -> None:
        self.claims = 0
        self.rejected = 0
        self.lines = 0
        self.changed: list[ChangedLine] = []

    def add(self, claim: Claim | Rejection, old: ClaimResult, new: ClaimResult) -> None:
        self.claims += 1
        if isinstance(claim, Rejection):
            self.rejected += 1
            return
        self.lines += len(claim.lines)
        self.changed.extend(changed_lines(claim, old, new))

    def groups(self, sources: Mapping[str, str]) -> list[RuleGroup]:
        """One group per rule behind a change (a line two rules changed is in both), most lines first."""
        by_rule: dict[str, list[ChangedLine]] = {}
        for line in self.changed:
            for rule in line.rules:
                by_rule.setdefault(rule, []).append(line)
        groups = [RuleGroup(rule, sources.get(rule, ""), tuple(lines)) for rule, lines in by_rule.items()]
        return sorted(groups, key=lambda group: (-len(group.lines), group.rule))


def diff_claims(
    old: Engine, new: Engine, claims: Iterable[Claim | Rejection], tally: DiffTally | None = None
) -> DiffTally:
    """Check every claim with both engines, streaming, and tally the lines whose verdict changes."""
    tally = tally or DiffTally()
    # tee keeps only the claims between the three iterators, which zip advances in step: one at a time.
    mine, for_old, for_new = itertools.tee(claims, 3)
    for claim, before, after in zip(mine, old.check_many(for_old), new.check_many(for_new), strict=True):
        tally.add(claim, before, after)
    return tally


# ---------------------------------------------------------------- loading the two versions


@attrs.frozen
class Version:
    """One version of the policies: its engine, its IR (for the static summary) and what it was loaded from."""

    paths: tuple[str, ...]
    engine: Engine
    policies: tuple[ir.PolicyIR, ...]

    def sources(self) -> dict[str, str]:
        return {rule.name: rule.source for rule in self.engine.rules()}


def load_version(paths: Sequence[str | os.PathLike[str]]) -> Version:
    """Compile the policies under `paths`; raises PolicyError holding every problem."""
    files = find_policy_files(paths)
    engine = Engine(compile_paths(files))
    return Version(tuple(os.fspath(p) for p in paths), engine, tuple(to_ir(read_source(f)) for f in files))


@attrs.frozen
class DiffReport:
    """Everything `policyc diff` reports."""

    old: Version
    new: Version
    static: tuple[PolicyChange, ...]
    tally: DiffTally
    groups: tuple[RuleGroup, ...]

    def to_dict(self, sample: int | None = None) -> dict[str, Any]:
        changed = self.tally.changed
        return {
            "old": list(self.old.paths),
            "new": list(self.new.paths),
            "policy_changes": [change.to_dict() for change in self.static],
            "claims": {
                "claims": self.tally.claims, "rejected": self.tally.rejected, "lines": self.tally.lines,
                "lines_changed": len(changed), "billed": str(billed(changed)),
                "lines_without_charge": sum(1 for line in changed if line.charge is None),
            },
            "rules": [group.to_dict(sample) for group in self.groups],
        }


def diff(old: Version, new: Version, claims: Iterable[Claim | Rejection]) -> DiffReport:
    """The library entry point: compare two loaded versions over claims."""
    tally = diff_claims(old.engine, new.engine, claims)
    sources = {**old.sources(), **new.sources()}
    return DiffReport(old, new, static_diff(old.policies, new.policies), tally, tuple(tally.groups(sources)))


# ---------------------------------------------------------------- printing


def money(amount: Decimal) -> str:
    return f"${amount:,.2f}"


def report_text(report: DiffReport, sample: int | None) -> Iterator[str]:
    yield f"old: {', '.join(report.old.paths)} ({_policies(report.old)})"
    yield f"new: {', '.join(report.new.paths)} ({_policies(report.new)})"
    yield ""
    yield "What changed in the policies"
    if not report.static:
        yield "  nothing: the rules, codes, caps and dates are the same"
    for change in report.static:
        yield from policy_change_text(change)
    yield ""
    yield from claims_text(report, sample)


def _policies(version: Version) -> str:
    count = len(version.policies)
    return f"{count} polic{'ies' if count != 1 else 'y'}"


def policy_change_text(change: PolicyChange) -> Iterator[str]:
    yield f"  {change.policy_id}: {change.status} ({change.path})"
    for fact in change.header:
        yield f"    header {fact}"
    for code_set in change.code_sets:
        yield f"    code set {code_set.describe()}"
    for rule_id in change.rules_added:
        yield f"    rule {rule_id}: added"
    for rule_id in change.rules_removed:
        yield f"    rule {rule_id}: removed"
    for rule in change.rules_changed:
        for fact in rule.facts:
            yield f"    rule {rule.rule}: {fact}"
        for codes in rule.codes:
            yield f"    rule {rule.rule}: {codes.describe()}"


def claims_text(report: DiffReport, sample: int | None) -> Iterator[str]:
    tally = report.tally
    rejected = f" ({tally.rejected} rejected, not compared)" if tally.rejected else ""
    yield (f"What changed on the claims: {_lines(tally.claims, 'claim')}{rejected}, {_lines(tally.lines)}, "
           f"{_lines(len(tally.changed))} changed, {money(billed(tally.changed))} billed on them")
    unpriced = sum(1 for line in tally.changed if line.charge is None)
    if unpriced:
        yield f"  ({unpriced} changed lines carry no charge and add nothing to the dollars)"
    for group in report.groups:
        yield f"  {group.rule} ({group.source or 'no longer in the policies'}): " \
              f"{_lines(len(group.lines))}, {money(group.billed)}"
        for transition, count, amount in group.transitions():
            yield f"    {transition}: {_lines(count)}, {money(amount)}"
        shown = group.lines if sample is None else group.lines[:sample]
        for line in shown:
            yield "      " + changed_line_text(line)
        if len(shown) < len(group.lines):
            yield f"      ... and {len(group.lines) - len(shown)} more lines (--format json or --sample 0 lists all)"


def _lines(count: int, noun: str = "line") -> str:
    return f"{count} {noun}{'s' if count != 1 else ''}"


def changed_line_text(line: ChangedLine) -> str:
    charge = money(line.charge) if line.charge is not None else "no charge"
    return (f"claim {line.claim_id} line {line.line}: {line.code} x{line.units}, {charge}: "
            f"{line.old.describe(line.units)} {ARROW} {line.new.describe(line.units)}")


# ---------------------------------------------------------------- the command


def estimate_total(path: str) -> int | None:
    """The number of claims in an NDJSON file (its non-blank lines), for the progress bar; None if unknown."""
    if path == "-" or not Path(path).is_file():
        return None
    try:
        with open(path, "rb") as handle:
            first = handle.readline()
            try:
                if not isinstance(json.loads(first), dict):
                    return None
            except ValueError:
                return None  # not one claim per line: an array or a pretty-printed object
            return 1 + sum(1 for line in handle if line.strip())
    except OSError:
        return None


def progress_bar(enabled: bool) -> Progress:
    columns = (
        SpinnerColumn(), TextColumn("comparing claims"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[rate]} claims/s"), TimeElapsedColumn(), TimeRemainingColumn(),
    )
    return Progress(*columns, console=Console(file=sys.stderr), disable=not enabled, transient=False)


def ticking(paths: str, progress: Progress) -> Iterator[Claim | Rejection]:
    """The claims of the file, advancing the progress bar as they are taken."""
    task = progress.add_task("claims", total=estimate_total(paths), rate="-")
    count = 0
    for count, record in enumerate(read_claims(paths), start=1):
        yield record.parsed
        if count % PROGRESS_EVERY == 0:
            elapsed = progress.tasks[task].elapsed or 0
            progress.update(task, completed=count, rate=f"{count / elapsed:,.0f}" if elapsed else "-")
    progress.update(task, completed=count, total=count)


@click.command("diff")
@click.option("--old", "old_paths", multiple=True, required=True, metavar="PATH",
              help="The policies as they are: a .pol file or a directory; repeat for more.")
@click.option("--new", "new_paths", multiple=True, required=True, metavar="PATH",
              help="The policies as they would be: a .pol file or a directory; repeat for more.")
@click.option("--format", "-f", "output_format", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="text: for a person; json: every changed line, for tools.")
@click.option("--sample", type=int, default=None, metavar="N",
              help="List at most N changed lines per rule (default: every line; 0 lists every line too).")
@click.option("--no-progress", is_flag=True, help="No progress bar (it is off anyway when stderr is not a terminal).")
@click.argument("claims", metavar="CLAIMS")
def diff_command(
    old_paths: tuple[str, ...], new_paths: tuple[str, ...], output_format: str, sample: int | None,
    no_progress: bool, claims: str,
) -> None:
    """Show what the --new policies change against the --old ones: in the rules, and on the claims in CLAIMS.

    CLAIMS is a JSON object, array or NDJSON file (- for stdin). Every line whose status, allowed
    units or adjustment codes change is reported, grouped by the rule behind the change, with the
    billed dollars (line `charge`) affected. Exit status: 0 when the run completed, 1 when a policy
    does not compile, 2 for bad usage or an unreadable claims file.
    """
    from policyc.cli import policy_files  # at call time: the command line imports this module

    policy_files(old_paths), policy_files(new_paths)  # a missing path is a usage error before any work
    try:
        old, new = load_version(old_paths), load_version(new_paths)
    except PolicyError as error:
        click.echo(error.render(), err=True)
        sys.exit(EXIT_POLICY_ERROR)
    progress = progress_bar(enabled=not no_progress and sys.stderr.isatty())
    try:
        with progress:
            report = diff(old, new, ticking(claims, progress))
    except ClaimFileError as error:
        click.echo(f"policyc: {error}", err=True)
        sys.exit(EXIT_USAGE)
    shown = sample or None  # 0 lists every line, like no --sample at all
    if output_format == "json":
        click.echo(json.dumps(report.to_dict(shown), indent=1))
    else:
        click.echo("\n".join(report_text(report, shown)))
