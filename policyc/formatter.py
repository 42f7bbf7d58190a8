"""`policyc fmt`: print a policy's nodes in the one canonical layout, keeping the analyst's comments."""

from __future__ import annotations

import bisect
import difflib
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import attrs
import click

from policyc import nodes as n
from policyc.compiler import display_name, read_source
from policyc.diagnostics import PolicyError
from policyc.parser import parse
from policyc.source import SourceFile

WIDTH = 100  # code set items wrap before this column
HEADER_NAME_WIDTH = len("effective")
RANK_COLUMN = 5  # ordinals are padded to at least this width, so `1st   without` lines up with `3rd+  with`
EXIT_OK, EXIT_CHANGED, EXIT_INTERNAL = 0, 1, 3  # 2, bad usage, is click's


# ---------------------------------------------------------------- comments


@attrs.frozen
class Comment:
    """A `#` comment found in the source text: the parser drops them, so they are found here."""

    start: int  # offset of the `#`
    text: str  # from `#` to the end of the line, trailing spaces removed
    trailing: bool  # code stands before it on its line
    blank_after: bool  # a blank line follows it (it stands apart from what comes next)


def find_comments(text: str) -> list[Comment]:
    """Every comment of a `.pol` text, in order: each `#` outside a string literal up to the end of its line."""
    comments: list[Comment] = []
    index, in_string = 0, False
    while index < len(text):
        char = text[index]
        if in_string:
            if char == "\\":
                index += 1
            elif char in '"\n':
                in_string = False
        elif char == '"':
            in_string = True
        elif char == "#":
            end = text.find("\n", index)
            end = len(text) if end < 0 else end
            comments.append(_comment(text, index, end))
            index = end
            continue
        index += 1
    return comments


def _comment(text: str, start: int, end: int) -> Comment:
    line_start = text.rfind("\n", 0, start) + 1
    trailing = bool(text[line_start:start].strip())
    next_end = text.find("\n", end + 1)
    next_line = text[end + 1 : len(text) if next_end < 0 else next_end]
    blank_after = end < len(text) and not next_line.strip() and next_end >= 0
    return Comment(start, text[start:end].rstrip(), trailing, blank_after)


# ---------------------------------------------------------------- printing nodes


@attrs.frozen
class OutLine:
    """One line of formatted output and the source offset of the node it prints (where comments attach)."""

    indent: int
    text: str
    anchor: int
    starts_item: bool = False


def quote(text: str) -> str:
    """A string literal the parser reads back as exactly `text`: a backslash keeps the character after it."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def item_text(item: n.SetItem) -> str:
    if isinstance(item, n.CodeItem):
        return item.code
    if isinstance(item, n.RangeItem):
        return f"{item.low}..{item.high}"
    return item.name


def items_text(items: Sequence[n.SetItem]) -> str:
    return ", ".join(item_text(i) for i in items)


def modifiers_text(modifiers: Sequence[n.ModifierRef], joiner: str) -> str:
    return joiner.join(m.code for m in modifiers)


PROVIDER_WORDS = {"billing": "by the same provider", "rendering": "by the same rendering provider"}


def scope_text(scope: n.Scope | None) -> str:
    """` on the same day by the same provider`; `by the same provider` alone prints as its claim-wide meaning."""
    if scope is None:
        return ""
    text = f" on the same {scope.extent}"
    return text + (f" {PROVIDER_WORDS[scope.provider]}" if scope.provider else "")


def dates_text(dates: n.DateRange) -> str:
    return dates.start.isoformat() + (f" until {dates.end.isoformat()}" if dates.end else "")


def header_lines(policy: n.Policy) -> list[OutLine]:
    title = f" {quote(policy.title)}" if policy.title is not None else ""
    lines = [OutLine(0, f"policy {policy.id}{title}", policy.id_span.start, starts_item=True)]
    for field in policy.header:
        lines.append(OutLine(2, f"{field.name:<{HEADER_NAME_WIDTH}} {header_value(field.value)}", field.span.start))
    return lines


def header_value(value: str | tuple[str, ...] | n.DateRange) -> str:
    if isinstance(value, n.DateRange):
        return dates_text(value)
    if isinstance(value, tuple):
        return ", ".join(value)
    return quote(value)


def code_set_lines(definition: n.CodeSetDef) -> list[OutLine]:
    title = f" {quote(definition.title)}" if definition.title is not None else ""
    lines = [OutLine(0, f"codes {definition.name}{title} =", definition.span.start, starts_item=True)]
    lines.extend(wrapped(definition.expr.items, 2, ""))
    if definition.expr.excluded:
        lines.extend(wrapped(definition.expr.excluded, 2, "except ", continuation=4))
    return lines


def wrapped(items: Sequence[n.SetItem], indent: int, lead: str, continuation: int | None = None) -> list[OutLine]:
    """Set items joined by `, `, broken before WIDTH; each line anchored at its first item."""
    lines: list[OutLine] = []
    current: list[n.SetItem] = []
    for item in items:
        text = lead + items_text([*current, item])
        margin = indent if not lines else (continuation or indent)
        if current and margin + len(text) + 1 > WIDTH:
            lines.append(OutLine(margin, lead + items_text(current) + ",", current[0].span.start))
            current, lead = [], ""
        current.append(item)
    margin = indent if not lines else (continuation or indent)
    lines.append(OutLine(margin, lead + items_text(current), current[0].span.start))
    return lines


def rule_lines(rule: n.Rule) -> list[OutLine]:
    title = f" {quote(rule.title)}" if rule.title is not None else ""
    lines = [OutLine(0, f"rule {rule.id}{title}:", rule.span.start, starts_item=True)]
    lines.extend(body_lines(rule.body))
    if isinstance(rule.body, n.Sequence):
        lines.extend(rank_lines(rule.body.ranks))
    lines.extend(OutLine(2, clause_text(clause), clause.span.start) for clause in rule.clauses)
    return lines


def body_lines(body: n.RuleBody) -> list[OutLine]:
    """The body on one line; a long `when` breaks before each `and` / `or` that joins its top level."""
    text = body_text(body)
    cond = body.condition if isinstance(body, n.When) else None
    if cond is None or 2 + len(text) <= WIDTH or not isinstance(cond, (n.AnyOf, n.AllOf)):
        return [OutLine(2, text, body.span.start)]
    joiner = "or" if isinstance(cond, n.AnyOf) else "and"
    parts = [_part_text(cond, index) for index in range(len(cond.items))]
    lines = [OutLine(2, f"when {parts[0]}", body.span.start)]
    for part, item in zip(parts[1:], cond.items[1:], strict=True):
        lines.append(OutLine(4, f"{joiner} {part}", item.span.start))
    return lines


def _part_text(cond: n.AnyOf | n.AllOf, index: int) -> str:
    item = cond.items[index]
    if isinstance(cond, n.AnyOf):
        return _any_item(item, index == len(cond.items) - 1)
    return _grouped(item) if isinstance(item, (n.AllOf, n.AnyOf)) else condition_text(item)


def body_text(body: n.RuleBody) -> str:
    if isinstance(body, n.Addon):
        addons, primaries = items_text(body.addons.items), items_text(body.primaries.items)
        return f"addon {addons} requires {primaries}{scope_text(body.scope)}"
    if isinstance(body, n.Limit):
        unit = "unit" if body.cap == 1 else "units"
        provider = f" {PROVIDER_WORDS[body.provider]}" if body.provider else ""
        return f"limit {items_text(body.codes.items)} to {body.cap} {unit} per {body.per}{provider}"
    if isinstance(body, n.Sequence):
        return f"sequence {items_text(body.codes.items)}{scope_text(body.scope)}:"
    if isinstance(body, n.Bundle):
        return f"bundle {items_text(body.bundled.items)} into {items_text(body.into.items)}{scope_text(body.scope)}"
    if isinstance(body, n.Pair):
        bypass = f" unless modifier {modifiers_text(body.bypass, ' or ')}" if body.bypass else ""
        column1, column2 = items_text(body.column1.items), items_text(body.column2.items)
        return f"pair {column1} with {column2}{scope_text(body.scope)}{bypass}"
    if isinstance(body, n.TableLimit):
        provider = f" {PROVIDER_WORDS[body.provider]}" if body.provider else ""
        return f"mue {table_text(body.table)}{provider}"
    if isinstance(body, n.TableAddon):
        return f"addon {table_text(body.table)}{scope_text(body.scope)}"
    if isinstance(body, n.TablePair):
        setting = f" setting {body.setting}" if body.setting is not None else ""
        return f"pair {table_text(body.table)}{setting}{scope_text(body.scope)}"
    if isinstance(body, n.SwitchOff):
        text = f"switch off {body.kind} {items_text(body.codes.items)}"
        return text + (f" with {items_text(body.column2.items)}" if body.column2 is not None else "")
    return f"when {condition_text(body.condition)}"


def table_text(table: n.TableRef) -> str:
    """`table "a.csv", "b.csv" format cms`: the files as written, then the format when one is named."""
    files = ", ".join(quote(path.path) for path in table.paths)
    return f"table {files}" + (f" format {table.format}" if table.format is not None else "")


def rank_lines(ranks: Sequence[n.Rank]) -> list[OutLine]:
    labels = [rank.written or rank_label(rank) for rank in ranks]
    column = max([RANK_COLUMN, *map(len, labels)]) + 1
    lines = []
    for rank, label in zip(ranks, labels, strict=True):
        mode = "with" if rank.with_modifiers else "without"
        lines.append(OutLine(4, f"{label:<{column}}{mode} {modifiers_text(rank.modifiers, ', ')}", rank.span.start))
    return lines


def rank_label(rank: n.Rank) -> str:
    number = rank.ordinal
    suffix = "th" if 10 <= number % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    return f"{number}{suffix}" + ("+" if rank.open_ended else "")


def clause_text(clause: n.RuleClause) -> str:
    if isinstance(clause, (n.Deny, n.CutBack)):
        verb = "deny" if isinstance(clause, n.Deny) else "cut back"
        words = [verb, clause.adjustment, *clause.rarcs, *(["appealable"] if clause.appealable else [])]
        return " ".join(words)
    if isinstance(clause, n.Review):
        return f"review {quote(clause.reason)}"
    if isinstance(clause, n.Rationale):
        return f"rationale {quote(clause.text)}"
    return f"effective {dates_text(clause)}"


# ---------------------------------------------------------------- conditions

ENDS_IN_A_LIST = (n.HasModifier, n.HasDiagnosis, n.FieldInCodes)


def condition_text(cond: n.Condition) -> str:
    """A condition with the parentheses its nesting needs, plus those that help it read aloud."""
    if isinstance(cond, n.AnyOf):
        return " or ".join(_part_text(cond, index) for index in range(len(cond.items)))
    if isinstance(cond, n.AllOf):
        return " and ".join(_part_text(cond, index) for index in range(len(cond.items)))
    if isinstance(cond, n.Not):
        inner = cond.item
        return "not " + (_grouped(inner) if isinstance(inner, (n.AllOf, n.AnyOf)) else condition_text(inner))
    return atom_text(cond)


def _any_item(item: n.Condition, last: bool) -> str:
    # `and` inside `or`, and a list of codes or modifiers followed by `or`, read ambiguously without brackets.
    if isinstance(item, (n.AnyOf, n.AllOf)) or (isinstance(item, ENDS_IN_A_LIST) and not last):
        return _grouped(item)
    return condition_text(item)


def _grouped(cond: n.Condition) -> str:
    return f"({condition_text(cond)})"


def atom_text(cond: n.Condition) -> str:
    if isinstance(cond, n.HasModifier):
        return f"line has modifier {modifiers_text(cond.modifiers, ' or ')}"
    if isinstance(cond, n.HasDiagnosis):
        return f"claim has diagnosis {', '.join(cond.diagnoses)}"
    if isinstance(cond, n.FieldInCodes):
        return f"{cond.field} {'not in' if cond.negated else 'in'} {items_text(cond.codes.items)}"
    if isinstance(cond, n.FieldInValues):
        values = ", ".join(literal_text(v) for v in cond.values)
        return f"{cond.field} {'not in' if cond.negated else 'in'} ({values})"
    assert isinstance(cond, n.Compare), cond
    return f"{cond.field} {cond.operator} {literal_text(cond.value)}"


def literal_text(literal: n.Literal) -> str:
    value = literal.value
    if isinstance(value, str):
        return quote(value)
    if isinstance(value, int):
        return str(value)
    return value.isoformat()


# ---------------------------------------------------------------- tests


def testcase_lines(test: n.TestCase) -> list[OutLine]:
    lines = [OutLine(0, f"test {quote(test.name)}:", test.span.start, starts_item=True)]
    for claim in test.claims:
        plan = f" plan {claim.plan}" if claim.plan else ""
        date = f" on {claim.date.isoformat()}" if claim.date else ""
        lines.append(OutLine(2, f"claim{plan}{date}:", claim.span.start))
        lines.extend(OutLine(4, testline_text(line), line.span.start) for line in claim.lines)
    for expectation in test.expectations:
        adjustment = f" {expectation.adjustment}" if expectation.adjustment else ""
        text = f"expect line {expectation.line} {expectation.status}{adjustment}"
        lines.append(OutLine(2, text, expectation.span.start))
    return lines


def testline_text(line: n.TestLine) -> str:
    words = [f"line {line.number}:", line.code, *line.modifiers, f"x{line.units}"]
    if line.date is not None:
        words.append(f"on {line.date.isoformat()}")
    return " ".join(words)


def policy_lines(policy: n.Policy) -> list[OutLine]:
    """Every output line of a policy, its items in the order the file wrote them."""
    items: list[n.CodeSetDef | n.Rule | n.TestCase] = sorted(
        [*policy.code_sets, *policy.rules, *policy.tests], key=lambda item: item.span.start
    )
    lines = header_lines(policy)
    for item in items:
        if isinstance(item, n.CodeSetDef):
            lines.extend(code_set_lines(item))
        elif isinstance(item, n.Rule):
            lines.extend(rule_lines(item))
        else:
            lines.extend(testcase_lines(item))
    return lines


# ---------------------------------------------------------------- comments into the layout


def render(lines: Sequence[OutLine], comments: Sequence[Comment]) -> str:
    """The output text, each comment put back beside the line printing the node it was written next to."""
    # An own-line comment goes above the first line printed from a node after it; a trailing comment
    # goes at the end of the last line printed from a node before it.
    anchors = [line.anchor for line in lines]
    before: list[list[Comment]] = [[] for _ in lines]
    after: list[list[str]] = [[] for _ in lines]
    footer: list[Comment] = []
    for comment in comments:
        if comment.trailing:
            after[max(0, bisect.bisect_right(anchors, comment.start) - 1)].append(comment.text)
            continue
        index = bisect.bisect_left(anchors, comment.start)
        (before[index] if index < len(lines) else footer).append(comment)
    rows: list[tuple[str, str | None] | None] = []  # (code, trailing comment) or None for a blank line
    for index, line in enumerate(lines):
        if line.starts_item and index > 0:
            rows.append(None)
        for comment in before[index]:
            rows.append((" " * line.indent + comment.text, None))
            if comment.blank_after and line.starts_item:
                rows.append(None)
        rows.append((" " * line.indent + line.text, "  ".join(after[index]) or None))
    if footer:
        rows.append(None)
        for position, comment in enumerate(footer):
            rows.append((comment.text, None))
            if comment.blank_after and position < len(footer) - 1:
                rows.append(None)
    return "".join(row + "\n" for row in _aligned(rows))


def _aligned(rows: Sequence[tuple[str, str | None] | None]) -> Iterator[str]:
    """Rows as text; trailing comments of consecutive lines share one column, two spaces after the longest."""
    index = 0
    while index < len(rows):
        row = rows[index]
        if row is None or row[1] is None:
            yield "" if row is None else row[0]
            index += 1
            continue
        run_end = index
        while run_end < len(rows) and (run := rows[run_end]) is not None and run[1] is not None:
            run_end += 1
        column = max(len(code) for code, _ in _present(rows[index:run_end])) + 2
        for code, comment in _present(rows[index:run_end]):
            yield f"{code:<{column}}{comment}"
        index = run_end


def _present(rows: Sequence[tuple[str, str | None] | None]) -> Iterator[tuple[str, str | None]]:
    return (row for row in rows if row is not None)


# ---------------------------------------------------------------- the library entry points


def format_policy(policy: n.Policy, comments: Sequence[Comment] = ()) -> str:
    """The canonical text of a parsed policy, with the comments put back where they belong."""
    return render(policy_lines(policy), comments)


def format_source(source: SourceFile) -> str:
    """The canonical text of a `.pol` source; raises PolicyError when it does not parse."""
    return format_policy(parse(source), find_comments(source.text))


def format_text(text: str, name: str = "<policy>") -> str:
    """The canonical text of a policy given as a string (for tools and tests)."""
    return format_source(SourceFile(name, text))


class FormatterBug(Exception):
    """The formatted text would not mean what the original meant; nothing is written."""


def verified(source: SourceFile) -> str:
    """`format_source`, checked: the result parses to the same nodes and holds every comment."""
    policy = parse(source)
    comments = find_comments(source.text)
    text = format_policy(policy, comments)
    try:
        again = parse(SourceFile(source.name, text))
    except PolicyError as error:
        raise FormatterBug(f"the formatted text does not parse: {error.diagnostics[0].message}") from None
    if again != policy:
        raise FormatterBug("the formatted text parses to different rules")
    kept = "\n".join(c.text for c in find_comments(text))
    lost = [c.text for c in comments if c.text not in kept]
    if lost:
        raise FormatterBug(f"the formatted text loses the comment `{lost[0]}`")
    return text


# ---------------------------------------------------------------- the command


@attrs.frozen
class FileOutcome:
    """What `fmt` did with one file."""

    path: str
    changed: bool = False
    problem: str | None = None  # diagnostics, or the formatter's own failure


def format_file(path: Path, write: bool, show_diff: bool) -> FileOutcome:
    name = display_name(path)
    try:
        source = read_source(path)
        text = verified(source)
    except PolicyError as error:
        return FileOutcome(name, problem=not_formatted(error, name))
    except FormatterBug as error:
        return FileOutcome(name, problem=f"{name}: internal error: {error}; the file was left as it is")
    if text == source.text:
        return FileOutcome(name)
    if show_diff:
        click.echo("".join(difflib.unified_diff(
            source.text.splitlines(True), text.splitlines(True), f"{name} (before)", f"{name} (formatted)"
        )), nl=False)
    if write:
        path.write_text(text, encoding="utf-8")
    return FileOutcome(name, changed=True)


def not_formatted(error: PolicyError, name: str) -> str:
    """The diagnostics of a file that does not parse, and what `fmt` did about it: nothing."""
    return "\n\n".join([*(d.render() for d in error.diagnostics), f"{name}: not formatted, the file was left as it is"])


def format_stdin(check: bool) -> int:
    """`policyc fmt -`: read a policy on stdin and write it formatted to stdout (for editors)."""
    source = SourceFile("<stdin>", sys.stdin.read())
    try:
        text = verified(source)
    except PolicyError as error:
        click.echo(not_formatted(error, source.name), err=True)
        return EXIT_CHANGED
    except FormatterBug as error:
        click.echo(f"<stdin>: internal error: {error}", err=True)
        return EXIT_INTERNAL
    if check:
        return EXIT_CHANGED if text != source.text else EXIT_OK
    click.echo(text, nl=False)
    return EXIT_OK


@click.command("fmt")
@click.option("--check", is_flag=True, help="Change nothing; exit 1 and list the files that would change.")
@click.option("--diff", "show_diff", is_flag=True, help="Change nothing; print what would change as a diff.")
@click.argument("paths", nargs=-1, required=True, metavar="PATH...")
def fmt_command(check: bool, show_diff: bool, paths: tuple[str, ...]) -> None:
    """Rewrite .pol files (or directories of them) in the one canonical layout; - reads stdin.

    Comments are kept. A file that does not parse is reported and left untouched. Exit status: 0 when
    every file is formatted, 1 when a file would change (--check, --diff) or does not parse.
    """
    if paths == ("-",):
        sys.exit(format_stdin(check))
    from policyc.cli import policy_files  # at call time: the command line imports this module

    outcomes = [format_file(path, not (check or show_diff), show_diff) for path in policy_files(paths)]
    sys.exit(report_outcomes(outcomes, dry_run=check or show_diff))


def report_outcomes(outcomes: Sequence[FileOutcome], dry_run: bool) -> int:
    changed = [o for o in outcomes if o.changed]
    failed = [o for o in outcomes if o.problem is not None]
    for outcome in failed:
        click.echo(outcome.problem, err=True)
    for outcome in changed:
        click.echo(f"{'would reformat' if dry_run else 'reformatted'} {outcome.path}")
    verb = "would be reformatted" if dry_run else "reformatted"
    unchanged = len(outcomes) - len(changed) - len(failed)
    parts = [f"{len(changed)} file{'s' if len(changed) != 1 else ''} {verb}", f"{unchanged} unchanged"]
    if failed:
        parts.append(f"{len(failed)} not formatted (errors above)")
    click.echo(", ".join(parts), err=True)
    if any(o.problem and "internal error" in o.problem for o in failed):
        return EXIT_INTERNAL
    return EXIT_CHANGED if failed or (dry_run and changed) else EXIT_OK
