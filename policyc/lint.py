"""Lint a policy that compiles: warnings (POL5xx) about what the language allows but an analyst rarely means."""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import click

from policyc import ir, refdata
from policyc import nodes as n
from policyc.codes import CodeShape, code_shape, expand_range
from policyc.compiler import check_source, find_policy_files, read_source
from policyc.diagnostics import Diagnostic, DiagnosticSink, PolicyError, Severity
from policyc.lint_bodies import (
    always_hit,
    body_covers,
    body_modifiers,
    body_sets,
    code_index,
    semantic_key,
    set_refs,
    targets,
)
from policyc.lint_lists import HCPCS_LIST, Window, hcpcs_codes, modifiers
from policyc.lower import lower
from policyc.source import SourceFile, Span

# Window, hcpcs_codes and modifiers live in lint_lists; code importing them from policyc.lint keeps working.
__all__ = [
    "Linter",
    "Window",
    "diagnostic_json",
    "hcpcs_codes",
    "lint_command",
    "lint_files",
    "lint_policy",
    "lint_source",
    "modifiers",
]

# A line's status comes from its strongest finding (results.STATUS_STRENGTH); this is the action behind each.
ACTION_STRENGTH = {"deny": 3, "cut back": 2, "review": 1}
DONE_TO_LINE = {"deny": "denied", "cut back": "cut back", "review": "sent to review"}
_WORD = re.compile(r'#[^\n]*|"(?:[^"\\\n]|\\.)*"|[A-Za-z0-9][A-Za-z0-9.+-]*')
_ADJUSTMENT = re.compile(r"[A-Z]{2}-[A-Z0-9]{1,4}")


# ------------------------------------------------------------------ reading the source and the rules


def words(text: str, span: Span) -> list[tuple[str, Span]]:
    """The words written inside a span, with their own spans; comments and quoted text are skipped."""
    found = []
    for match in _WORD.finditer(text, span.start, span.end):
        if match.group()[0] not in '#"':
            found.append((match.group(), Span(match.start(), match.end())))
    return found


def describe_codes(codes: Iterable[str], most: int = 3) -> str:
    ordered = sorted(codes)
    shown = ", ".join(ordered[:most])
    return shown + (f" and {len(ordered) - most} more" if len(ordered) > most else "")


def _always_denied(rule: ir.RuleIR) -> frozenset[str]:
    """The codes a rule denies (or cuts back) every line of, or bundles, whatever its scope."""
    if rule.action.kind == "review":
        return frozenset()
    bundled = rule.body.bundled.members if isinstance(rule.body, ir.BundleIR) else frozenset()
    return always_hit(rule.body) | bundled


def _window(rule: ir.RuleIR) -> Window:
    return Window(rule.start, rule.end)


# ------------------------------------------------------------------ the linter


class Linter:
    """Runs every lint check over one policy that passed the compiler's checks."""

    def __init__(self, policy: n.Policy, source: SourceFile) -> None:
        self.policy = policy
        self.source = source
        self.sink = DiagnosticSink(source)
        self.ir = lower(policy, source)
        self.rules = list(zip(policy.rules, self.ir.rules, strict=True))
        self.policy_window = Window(self.ir.start, self.ir.end)
        self.usage = self.set_usage()

    def run(self) -> list[Diagnostic]:
        self.check_codes()
        self.check_test_lines()
        self.check_modifiers()
        self.check_adjustments()
        self.check_conflicts()
        self.check_shadowed()
        self.check_caps()
        self.check_overlaps()
        self.check_rule_dates()
        self.check_unused_sets()
        return self.sink.diagnostics

    def live_rules(self) -> list[tuple[n.Rule, ir.RuleIR]]:
        """The rules in force on some day; POL509 reports the others, and no date check should pile on them."""
        return [(rule, rule_ir) for rule, rule_ir in self.rules if not _window(rule_ir).empty]

    def set_usage(self) -> dict[str, Window | None]:
        """Each code set a rule reaches (directly or through other sets): the hull of the live ones' dates."""
        deps = {d.name: set_refs(d.expr) for d in self.policy.code_sets}
        usage: dict[str, Window | None] = {}
        for rule, rule_ir in self.rules:
            todo = [name for expr in body_sets(rule.body) for name in set_refs(expr)]
            seen: set[str] = set()
            while todo:
                name = todo.pop()
                if name not in seen:
                    seen.add(name)
                    todo.extend(deps.get(name, ()))
            window = None if _window(rule_ir).empty else _window(rule_ir)
            for name in seen:
                known = usage.get(name)
                usage[name] = window if known is None else (known if window is None else known.hull(window))
        return usage

    # -------------------------------------------------------------- POL501, POL502: codes and their dates

    def check_codes(self) -> None:
        for definition in self.policy.code_sets:
            if definition.name not in self.usage:
                self.check_expr_codes(definition.expr, self.policy_window, "the policy's dates")
            elif (window := self.usage[definition.name]) is not None:
                self.check_expr_codes(definition.expr, window, f"the dates of the rules using `{definition.name}`")
        for rule, rule_ir in self.live_rules():
            for expr in body_sets(rule.body):
                self.check_expr_codes(expr, _window(rule_ir), "the rule's dates")

    def check_expr_codes(self, expr: n.SetExpr, window: Window, whose: str) -> None:
        for item in (*expr.items, *expr.excluded):
            if isinstance(item, n.CodeItem):
                self.check_code(item.code, item.span, window, whose)
            elif isinstance(item, n.RangeItem):
                self.check_range(item, window, whose)

    def check_code(self, code: str, span: Span, window: Window, whose: str) -> None:
        # CPT codes belong to the AMA and no list of them ships with policyc: the compiler checks their shape only.
        if code_shape(code) is not CodeShape.HCPCS_II:
            return
        known = hcpcs_codes().get(code)
        if known is None:
            self.sink.warning(
                "POL501", span, f"`{code}` is not in {HCPCS_LIST}",
                "check the code for a typo; a code CMS added after July 2024 is not in the bundled list yet",
            )
        elif not known.overlaps(window):
            self.sink.warning("POL502", span, _inactive(f"`{code}`", known, window, whose), _INACTIVE_HELP)

    def check_range(self, item: n.RangeItem, window: Window, whose: str) -> None:
        if code_shape(item.low) is not CodeShape.HCPCS_II:
            return
        table = hcpcs_codes()
        listed = [table[code] for code in expand_range(item.low, item.high) if code in table]
        text = f"`{item.low}..{item.high}`"
        if not listed:
            message = f"no code of {text} is in {HCPCS_LIST}"
            self.sink.warning("POL501", item.span, message, "check both ends of the range")
        elif not any(known.overlaps(window) for known in listed):
            message = f"no code of {text} is in force on {whose} ({window.describe()})"
            self.sink.warning("POL502", item.span, message, _INACTIVE_HELP)

    def check_test_lines(self) -> None:
        for test in self.policy.tests:
            for claim in test.claims:
                for line in claim.lines:
                    self.check_test_line(line, line.date or claim.date)

    def check_test_line(self, line: n.TestLine, date: datetime.date | None) -> None:
        # `line N: CODE MODIFIERS...`: the code is the third word.
        written = words(self.source.text, line.span)
        if len(written) < 3 or written[2][0] != line.code:
            return
        window = Window(date, date) if date else self.policy_window
        self.check_code(line.code, written[2][1], window, "the test line's date" if date else "the policy's dates")
        for modifier, span in written[3 : 3 + len(line.modifiers)]:
            self.check_modifier(modifier, span)

    # -------------------------------------------------------------- POL503: modifiers

    def check_modifiers(self) -> None:
        for rule in self.policy.rules:
            for modifier in body_modifiers(rule.body):
                self.check_modifier(modifier.code, modifier.span)

    def check_modifier(self, modifier: str, span: Span) -> None:
        if modifier not in modifiers():
            self.sink.warning(
                "POL503", span, f"modifier `{modifier}` is not in the modifier list",
                "check it for a typo; the bundled list holds the HCPCS Level II and CPT modifiers of 2024 "
                "(like `SH`, `59`, `XU`)",
            )

    # -------------------------------------------------------------- POL504: CARC and RARC dates

    def check_adjustments(self) -> None:
        for rule, rule_ir in self.live_rules():
            for action in rule.actions:
                if isinstance(action, (n.Deny, n.CutBack)):
                    self.check_action_dates(action, _window(rule_ir))

    def check_action_dates(self, action: n.Deny | n.CutBack, window: Window) -> None:
        for word, span in words(self.source.text, action.span):
            if _ADJUSTMENT.fullmatch(word):
                self.check_adjustment_dates("CARC", word.split("-", 1)[1], span, window)
            elif word in action.rarcs:
                self.check_adjustment_dates("RARC", word, span, window)

    def check_adjustment_dates(self, kind: str, code: str, span: Span, window: Window) -> None:
        entry = refdata.lookup(kind, code)
        if entry is None:
            return
        active = Window(entry.start or datetime.date.min, entry.end)
        name = f"{kind} `{code}`"
        if not active.overlaps(window):
            message = _inactive(name, active, window, "the rule's dates", added="starts on", ended="was retired on")
        elif active.start > window.start:
            message = f"{name} only starts on {active.start}, after the rule's dates start ({window.describe()})"
        elif active.end is not None and (window.end is None or active.end < window.end):
            message = f"{name} is retired on {active.end}, while the rule stays in force ({window.describe()})"
        else:
            return
        help = "use a code in force on every date the rule covers, or narrow the rule's `effective` dates"
        self.sink.warning("POL504", span, message, help)

    # -------------------------------------------------------------- POL505: rules that cannot both be satisfied

    def check_conflicts(self) -> None:
        deniers = code_index(self.ir.rules, _always_denied)
        for rule, rule_ir in self.rules:
            if isinstance(rule.body, n.Addon) and isinstance(rule_ir.body, ir.AddonIR):
                found = {i for code in rule_ir.body.primaries.members for i in deniers.get(code, ())}
                for other in (self.ir.rules[i] for i in sorted(found)):
                    if other is not rule_ir and _window(other).overlaps(_window(rule_ir)):
                        self.check_addon_against(rule.body, rule_ir, other)

    def check_addon_against(self, addon: n.Addon, rule: ir.RuleIR, other: ir.RuleIR) -> None:
        assert isinstance(rule.body, ir.AddonIR)
        primaries = rule.body.primaries.members
        if always_hit(other.body):
            taken = primaries & always_hit(other.body)
            why = "a limit of 0 units" if isinstance(other.body, ir.LimitIR) else "a `when` rule on the code"
            how = f"denies every line of it ({why})"
        elif isinstance(other.body, ir.BundleIR):
            taken = primaries & other.body.bundled.members
            how = f"denies it beside {other.body.into.describe()} (a bundle)"
        else:
            return
        if taken:
            self.sink.warning(
                "POL505", addon.primaries.span,
                f"`{rule.id}` needs a standing {describe_codes(taken)} line, "
                f"but `{other.id}` (line {other.line}) {how}",
                f"the two rules cannot both be met: change `{other.id}` or the primary codes of `{rule.id}`",
            )

    # -------------------------------------------------------------- POL506: shadowed rules

    def check_shadowed(self) -> None:
        by_target = code_index(self.ir.rules, lambda r: targets(r.body))
        anywhere = [i for i, r in enumerate(self.ir.rules) if targets(r.body) is None]
        for index, (rule, rule_ir) in enumerate(self.rules):
            reach = targets(rule_ir.body)
            if reach is not None and not reach:
                continue
            # A rule covering this one acts on every code it does (see body_covers): one code's rules suffice.
            candidates = anywhere if reach is None else by_target[min(reach, key=lambda c: len(by_target[c]))]
            for other_index in candidates:
                other = self.ir.rules[other_index]
                if other_index == index or not shadows(other, rule_ir):
                    continue
                # Of two rules that shadow each other, the later one is the one to remove.
                if shadows(rule_ir, other) and other_index > index:
                    continue
                self.report_shadowed(rule, rule_ir, other)
                break

    def report_shadowed(self, rule: n.Rule, rule_ir: ir.RuleIR, other: ir.RuleIR) -> None:
        verb = {"deny": "denies", "cut back": "cuts back", "review": "sends to review"}[rule_ir.action.kind]
        same = semantic_key(rule_ir.body) == semantic_key(other.body)
        help = (
            f"it looks for the same lines as `{other.id}`: remove one of them"
            if same
            else f"remove it, or change it so it finds lines `{other.id}` does not"
        )
        self.sink.warning(
            "POL506", rule.id_span,
            f"rule `{rule.id}` never changes a verdict: every line it {verb} is already "
            f"{DONE_TO_LINE[other.action.kind]} by `{other.id}` (line {other.line})",
            help,
        )

    # -------------------------------------------------------------- POL507: two caps on one code

    def check_caps(self) -> None:
        by_code = code_index(self.ir.rules, lambda r: r.body.codes.members if isinstance(r.body, ir.LimitIR) else None)
        for index, (rule, later) in enumerate(self.rules):
            if isinstance(later.body, ir.LimitIR):
                found = {i for code in later.body.codes.members for i in by_code[code] if i < index}
                earlier = next((self.ir.rules[i] for i in sorted(found) if caps_differ(self.ir.rules[i], later)), None)
                if earlier is not None:
                    self.report_caps(rule, later, earlier)

    def report_caps(self, rule: n.Rule, later: ir.RuleIR, earlier: ir.RuleIR) -> None:
        assert isinstance(later.body, ir.LimitIR) and isinstance(earlier.body, ir.LimitIR)
        assert isinstance(rule.body, n.Limit)
        codes = describe_codes(later.body.codes.members & earlier.body.codes.members)
        after_codes = words(self.source.text, Span(rule.body.codes.span.end, rule.body.span.end))
        span = after_codes[1][1] if len(after_codes) > 1 else rule.body.span
        lower_cap = min(later.body.cap, earlier.body.cap)
        scope = later.body.scope
        self.sink.warning(
            "POL507", span,
            f"{codes} is capped at {later.body.cap} units per {scope.extent}{scope.provider_phrase()} here "
            f"and at {earlier.body.cap} by `{earlier.id}` (line {earlier.line})",
            f"keep one cap for each code and scope: the lower one ({lower_cap}) decides whenever both apply",
        )

    # -------------------------------------------------------------- POL508: overlapping items in one set

    def check_overlaps(self) -> None:
        exprs = [d.expr for d in self.policy.code_sets]
        exprs += [expr for rule in self.policy.rules for expr in body_sets(rule.body)]
        for expr in exprs:
            for part in (expr.items, expr.excluded):
                self.check_part_overlaps(part)

    def check_part_overlaps(self, items: Sequence[n.SetItem]) -> None:
        seen: list[n.CodeItem | n.RangeItem] = []
        for item in items:
            if isinstance(item, n.SetRef):
                continue
            earlier = next((s for s in seen if _interval_overlap(s, item)), None)
            if earlier is not None:
                message, help = _overlap_text(earlier, item)
                self.sink.warning("POL508", item.span, message, help)
            seen.append(item)

    # -------------------------------------------------------------- POL509: rule dates outside the policy's

    def check_rule_dates(self) -> None:
        for rule in self.policy.rules:
            for dates in rule.dates[:1]:
                problem = _dates_problem(rule.id, Window(dates.start, dates.end), self.policy_window)
                if problem is not None:
                    self.sink.warning("POL509", dates.span, *problem)

    # -------------------------------------------------------------- POL510: unused code sets

    def check_unused_sets(self) -> None:
        referenced = {name for d in self.policy.code_sets for name in set_refs(d.expr)}
        for definition in self.policy.code_sets:
            if definition.name in self.usage:
                continue
            help = "use it in a rule, or remove it"
            if definition.name in referenced:
                help = "only code sets that no rule uses refer to it: " + help
            message = f"code set `{definition.name}` is not used by any rule"
            self.sink.warning("POL510", definition.name_span, message, help)


_INACTIVE_HELP = "a claim line cannot carry a code outside its dates: check the code, or the dates"


def _inactive(
    name: str, known: Window, window: Window, whose: str, added: str = "was added on", ended: str = "was terminated on"
) -> str:
    """Why a code in force over `known` is never in force over `window` (the two do not overlap)."""
    if known.end is not None and known.end < window.start:
        return f"{name} {ended} {known.end}, before {whose} ({window.describe()})"
    return f"{name} {added} {known.start}, after {whose} ({window.describe()})"


def _dates_problem(rule_id: str, own: Window, policy: Window) -> tuple[str, str] | None:
    """The message and help when a rule's own dates reach outside its policy's, or None."""
    if not own.overlaps(policy):
        return (
            f"rule `{rule_id}` is never in force: its dates ({own.describe()}) are outside the policy's",
            f"the policy covers {policy.describe()}: correct the rule's `effective` line or remove it",
        )
    if own.start < policy.start:
        return (
            f"the rule's dates start on {own.start}, before the policy's ({policy.start})",
            f"the rule is only in force from {policy.start}: start it then",
        )
    if own.end is not None and policy.end is not None and own.end > policy.end:
        return (
            f"the rule's dates end on {own.end}, after the policy's ({policy.end})",
            f"the rule is only in force until {policy.end}: end it then",
        )
    return None


def shadows(a: ir.RuleIR, b: ir.RuleIR) -> bool:
    """Whether rule `a` already gives every line rule `b` acts on a verdict at least as strong."""
    stronger = ACTION_STRENGTH[a.action.kind] >= ACTION_STRENGTH[b.action.kind]
    return stronger and _window(a).contains(_window(b)) and body_covers(a.body, b.body)


def caps_differ(a: ir.RuleIR, b: ir.RuleIR) -> bool:
    """Two limits capping a shared code in the same scope at different values, both in force on some day."""
    assert isinstance(a.body, ir.LimitIR) and isinstance(b.body, ir.LimitIR)
    if a.body.cap == b.body.cap or a.body.scope != b.body.scope or not _window(a).overlaps(_window(b)):
        return False
    # A review cap under a denial cap is a deliberate tier (look first, deny later), not a conflict.
    if (a.action.kind == "review") != (b.action.kind == "review"):
        return False
    return bool(a.body.codes.members & b.body.codes.members)


def _interval(item: n.CodeItem | n.RangeItem) -> tuple[object, str, str] | None:
    low, high = (item.code, item.code) if isinstance(item, n.CodeItem) else (item.low, item.high)
    shape = code_shape(low)
    if shape is None:
        return None
    # Inside one shape and letter, text order is code order (the compiler requires this of ranges too).
    return ((shape, "".join(ch for ch in low if ch.isalpha())), low, high)


def _interval_overlap(a: n.CodeItem | n.RangeItem, b: n.CodeItem | n.RangeItem) -> bool:
    first, second = _interval(a), _interval(b)
    if first is None or second is None or first[0] != second[0]:
        return False
    return first[1] <= second[2] and second[1] <= first[2]


def _item_text(item: n.CodeItem | n.RangeItem) -> str:
    return item.code if isinstance(item, n.CodeItem) else f"{item.low}..{item.high}"


def _overlap_text(earlier: n.CodeItem | n.RangeItem, later: n.CodeItem | n.RangeItem) -> tuple[str, str]:
    old, new = _item_text(earlier), _item_text(later)
    if old == new:
        return f"`{new}` is written twice in the same set", "drop one of them"
    a, b = _interval(earlier), _interval(later)
    assert a is not None and b is not None
    message = f"`{new}` overlaps `{old}` in the same set"
    if a[1] <= b[1] and b[2] <= a[2]:
        return message, f"drop `{new}`: `{old}` already holds its codes"
    if b[1] <= a[1] and a[2] <= b[2]:
        return message, f"drop `{old}`: `{new}` already holds its codes"
    return message, f"join them into one range: `{min(a[1], b[1])}..{max(a[2], b[2])}`"


# ------------------------------------------------------------------ entry points


def lint_policy(policy: n.Policy, source: SourceFile) -> list[Diagnostic]:
    """The lint warnings of a policy that passed the compiler's checks, sorted by position."""
    return sorted(Linter(policy, source).run(), key=Diagnostic.sort_key)


def lint_source(source: SourceFile) -> list[Diagnostic]:
    """Every warning for one `.pol` source, the compiler's and the linter's; PolicyError if it does not compile."""
    policy, sink = check_source(source)
    return sorted([*sink.diagnostics, *lint_policy(policy, source)], key=Diagnostic.sort_key)


def diagnostic_json(diagnostic: Diagnostic) -> dict[str, object]:
    """A diagnostic as an editor or a script reads it: 1-based lines and columns, the end excluded."""
    start = diagnostic.source.position(diagnostic.span.start)
    end = diagnostic.source.position(diagnostic.span.end)
    return {
        "file": diagnostic.source.name, "line": start.line, "column": start.column,
        "end_line": end.line, "end_column": end.column, "severity": diagnostic.severity.value,
        "code": diagnostic.code, "message": diagnostic.message, "help": diagnostic.help,
    }


def lint_files(files: Sequence[Path]) -> tuple[list[Diagnostic], int]:
    """The diagnostics of every file (warnings, or the errors of a file that does not compile) and the failures."""
    found: list[Diagnostic] = []
    broken = 0
    for path in files:
        try:
            found.extend(lint_source(read_source(path)))
        except PolicyError as error:
            broken += 1
            found.extend(error.diagnostics)
    return found, broken


@click.command("lint")
@click.argument("paths", nargs=-1, required=True, metavar="PATH...")
@click.option(
    "--format", "output_format", type=click.Choice(["text", "json"]), default="text", show_default=True,
    help="text: compiler-style messages; json: one array of diagnostics.",
)
def lint_command(paths: tuple[str, ...], output_format: str) -> None:
    """Warn about mistakes in .pol files that compile but are probably not meant.

    Exit status: 0 when no file has a warning, 1 when a file has a warning or does not compile (its
    errors are printed), 2 for bad usage (a path that does not exist or holds no .pol file).
    """
    missing = [path for path in paths if not Path(path).exists()]
    if missing:
        raise click.UsageError(f"no such file or directory: {', '.join(missing)}")
    files = find_policy_files(paths)
    if not files:
        raise click.UsageError(f"no .pol files found under {', '.join(paths)}")
    found, broken = lint_files(files)
    if output_format == "json":
        click.echo(json.dumps([diagnostic_json(d) for d in found], indent=2))
    else:
        for diagnostic in found:
            click.echo(diagnostic.render() + "\n")
    click.echo(summary(found, broken, len(files)), err=True)
    if found or broken:
        raise click.exceptions.Exit(1)


def summary(found: Sequence[Diagnostic], broken: int, files: int) -> str:
    warnings = sum(1 for d in found if d.severity is Severity.WARNING)
    text = f"{warnings} warning{'' if warnings == 1 else 's'} in {files} file{'' if files == 1 else 's'}"
    if broken:
        text += f"; {broken} file{' does' if broken == 1 else 's do'} not compile"
    return text
