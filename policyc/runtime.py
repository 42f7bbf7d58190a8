"""What generated policy modules import: compiled rule objects, verdicts and the few helpers they share."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable, Sequence
from collections.abc import Set as AbstractSet
from operator import attrgetter
from typing import TYPE_CHECKING

import attrs

from policyc.codes import expand_range
from policyc.fields import member_age
from policyc.tables import AocRow, AocTable, MueRow, MueTable, PtpRow, PtpTable, Table

__all__ = [
    "NCCI_BYPASS",
    "Action",
    "BoundTable",
    "CompiledPolicy",
    "CompiledRule",
    "Message",
    "Override",
    "Rank",
    "Verdict",
    "code_set",
    "cut_back",
    "diagnoses",
    "member_age",
    "mue_verdicts",
    "addon_verdicts",
    "billed_at",
    "naming_order",
    "pair_verdicts",
    "rank_verdicts",
    "rendering_provider",
]

if TYPE_CHECKING:
    from policyc.claims import Claim, Line


class Message:
    """A finding's words, written out the first time they are read.

    A batch run mostly counts findings and reads few of their messages, and writing a table row's facts
    out costs more than the rest of judging the line; so table rules hand over the function and the facts.
    """

    __slots__ = ("_render", "_facts", "_text")

    def __init__(self, render: Callable[..., str], *facts: object) -> None:
        self._render: Callable[..., str] = render
        self._facts: tuple[object, ...] = facts
        self._text: str | None = None

    def __str__(self) -> str:
        text = self._text
        if text is None:
            # The function and facts are kept, not dropped, so two threads reading at once both write the
            # same text rather than one finding them gone.
            text = self._text = self._render(*self._facts)
        return text

    def __repr__(self) -> str:
        return repr(str(self))

    def __eq__(self, other: object) -> bool:
        return str(self) == str(other) if isinstance(other, str | Message) else NotImplemented

    def __hash__(self) -> int:
        return hash(str(self))


Text = str | Message


def framed(prefix: str, words: Text, suffix: str) -> Text:
    """The words between a prefix and a suffix, kept unwritten if they are."""
    if isinstance(words, str):
        return prefix + words + suffix
    if not prefix and not suffix:
        return words
    return Message(_frame, prefix, words, suffix)


def _frame(prefix: str, words: Message, suffix: str) -> str:
    return f"{prefix}{words}{suffix}"


@attrs.define  # not frozen: rules make one per finding, and a frozen attrs record costs several times as much
class Verdict:
    """A rule's word on one line: the line number, the facts behind it and, for a cut back, the units left."""

    line: int
    message: Text
    allowed_units: int | None = None
    appealable: bool | None = None  # set when a table row decides it (MUE MAI 3), else the rule's action does


@attrs.frozen
class Action:
    """What a rule does to the lines it fires on."""

    kind: str  # "deny", "cut back" or "review"
    group: str | None = None
    carc: str | None = None
    rarcs: tuple[str, ...] = ()
    appealable: bool = False
    reason: str | None = None


Evaluate = Callable[[Sequence["Line"], "Claim", AbstractSet[int]], list[Verdict]]
Window = tuple[datetime.date, "datetime.date | None"]


@attrs.frozen(eq=False)
class BoundTable:
    """A table a rule reads: its kind, the files as the policy names them, and the rows."""

    kind: str  # "mue", "addon" or "pair"
    name: str
    data: Table


@attrs.frozen
class Override:
    """The table rows a rule of an extending policy replaces (or, for `switch off`, removes)."""

    kind: str  # "mue", "addon" or "pair"
    codes: frozenset[str]  # MUE codes, add-on codes, or column 1 codes
    column2: frozenset[str] | None = None

    def covers(self, key: str | tuple[str, str]) -> bool:
        if isinstance(key, tuple):
            return self.column2 is not None and key[0] in self.codes and key[1] in self.column2
        return key in self.codes


@attrs.frozen(eq=False)
class CompiledRule:
    """One rule as generated Python: how it is dispatched, when it is in force, and its evaluator."""

    policy_id: str
    id: str
    title: str | None
    kind: str
    source: str  # "policies/home-infusion.pol:14"
    start: datetime.date
    end: datetime.date | None
    action: Action
    rationale: str | None
    # The lines worth handing to the rule: by code, else by modifier, else (both None) every line.
    dispatch_codes: frozenset[str] | None
    dispatch_modifiers: frozenset[str] | None
    evaluate: Evaluate
    table: BoundTable | None = None
    overrides: Override | None = None  # in a policy that extends another: the table rows this rule replaces
    # Lines of earlier claims this rule also looks at: None, "provider" (same billing provider) or "member".
    cross_claim: str | None = None
    # An inherited rule applies only where a policy extending its own applies: these date ranges.
    windows: tuple[Window, ...] = ()
    # An add-on table rule's primaries beyond the table's own: those that extending policies' rules add.
    added_primaries: frozenset[str] = frozenset()

    @property
    def name(self) -> str:
        return f"{self.policy_id}/{self.id}"

    def in_force(self, day: datetime.date) -> bool:
        if day < self.start or (self.end is not None and day > self.end):
            return False
        return not self.windows or any(start <= day and (end is None or day <= end) for start, end in self.windows)


@attrs.frozen(eq=False)
class CompiledPolicy:
    """A compiled `.pol` file: its header facts, its rules and the Python it was compiled to."""

    id: str
    title: str | None
    payer: str | None
    source_document: str | None
    plans: frozenset[str] | None  # None: every plan
    start: datetime.date
    end: datetime.date | None
    path: str
    rules: tuple[CompiledRule, ...]
    python_source: str = attrs.field(default="", repr=False)
    extends: tuple[str, ...] = ()  # the ids of the policies whose rules and tables this one starts from
    claim_types: frozenset[str] | None = None  # None: claims of every type

    def covers_plan(self, plan: str) -> bool:
        return self.plans is None or plan in self.plans

    def covers_claim_type(self, claim_type: str) -> bool:
        return self.claim_types is None or claim_type in self.claim_types


@attrs.frozen
class Rank:
    """One rank of a sequence rule, as generated code declares it."""

    label: str
    ordinal: int
    open_ended: bool
    modifiers: frozenset[str]

    def admits(self, count: int) -> int:
        """How many of `count` concurrent lines this rank holds: one each, the open rank the rest."""
        if self.open_ended:
            return max(0, count - self.ordinal + 1)
        return 1 if count >= self.ordinal else 0

    def describe(self, sequence_modifiers: frozenset[str]) -> str:
        shown = self.modifiers or sequence_modifiers
        return ("with " if self.modifiers else "without ") + ", ".join(sorted(shown))


def code_set(codes: Iterable[str] = (), ranges: Iterable[tuple[str, str]] = ()) -> frozenset[str]:
    """The codes written out plus every code of each range."""
    members = set(codes)
    for low, high in ranges:
        members.update(expand_range(low, high))
    return frozenset(members)


def rendering_provider(line: Line, claim: Claim) -> str | None:
    """Whom a `by the same rendering provider` scope puts the line with: its own rendering provider, else its claim's.

    An earlier claim's line (numbered below zero) carries the one resolved when its claim was recorded; when
    that is none, it must stay none rather than borrow this claim's provider.
    """
    if line.line < 0:
        return line.rendering_provider
    return line.rendering_provider or claim.rendering_provider


def diagnoses(claim: Claim) -> frozenset[str]:
    """The claim's diagnosis codes, upper case and without dots, as conditions compare them."""
    return frozenset(d.replace(".", "").upper() for d in claim.diagnoses)


def rank_verdicts(lines: Sequence[Line], ranks: Sequence[Rank], modifiers: frozenset[str], what: str) -> list[Verdict]:
    """Deny every line of a rank holding more lines than it admits, and every line that fits no rank."""
    count = len(lines)
    classes: dict[frozenset[str], list[Line]] = {}
    for line in lines:
        classes.setdefault(modifiers.intersection(line.modifiers), []).append(line)
    by_modifiers = {rank.modifiers: rank for rank in ranks}
    verdicts: list[Verdict] = []
    for carried, members in classes.items():
        rank = by_modifiers.get(carried)
        if rank is None:
            carried_text = ", ".join(sorted(carried)) if carried else f"none of {', '.join(sorted(modifiers))}"
            message = f"a line with {carried_text} fits no rank of {what}"
        elif len(members) > rank.admits(count):
            message = (
                f"{count} concurrent {what} line{'s' if count != 1 else ''} on {min(line.date for line in members)}: "
                f"{len(members)} in rank {rank.label} ({rank.describe(modifiers)}), which admits {rank.admits(count)}"
            )
        else:
            continue
        verdicts.extend(Verdict(line.line, message) for line in members)
    return verdicts


def cut_back(lines: Sequence[Line], cap: int, message: Text, appealable: bool | None = None) -> list[Verdict]:
    """Reduce the lines' units to `cap` in total, filling lines in line-number order (order on the claim never matters).

    Earlier claims' lines (numbered below zero) come first: they keep what they were paid.
    """
    remaining = cap
    verdicts = []
    for line in sorted(lines, key=attrgetter("line")):
        allowed = min(line.units, remaining)
        remaining -= allowed
        if allowed < line.units:
            words = framed("", message, f"; {allowed} of {line.units} units allowed")
            verdicts.append(Verdict(line.line, words, allowed, appealable))
    return verdicts


# ------------------------------------------------------------------ table rules
#
# These run for every claim line a national table names, so they are written for speed: one pass where
# one will do, no grouping for the usual claim of a few lines, and messages left to `Message`.

# The NCCI-associated modifiers that can bypass a PTP edit whose modifier indicator is 1: distinct service
# (59, XE, XS, XP, XU), anatomic, global surgery (24, 25, 57, 58, 78, 79), 27 and 91.
NCCI_BYPASS = frozenset(
    {"59", "XE", "XS", "XP", "XU", "24", "25", "27", "57", "58", "78", "79", "91"}
    | {"E1", "E2", "E3", "E4", "FA", "TA", "LT", "RT", "LC", "LD", "LM", "RC", "RI"}
    | {f"F{n}" for n in range(1, 10)}
    | {f"T{n}" for n in range(1, 10)}
)
MAI_WORDS = {
    1: "MAI 1, line edit",
    2: "MAI 2, date of service edit: policy",
    3: "MAI 3, date of service edit: clinical",
}
SHOWN_PRIMARIES = 5
NO_CODES: frozenset[str] = frozenset()

# None: the scope is the day (by the billing provider or any provider), so the line's date is the key.
ScopeKey = Callable[["Line", "Claim"], object] | None
TableKey = str | tuple[str, str]  # an MUE or add-on code, or a PTP (column 1, column 2) pair
Skip = Callable[[TableKey, datetime.date], bool]
Added = Callable[[str, datetime.date], frozenset[str]]


def _units(count: int) -> str:
    """`1 unit ... exceeds`, `3 units ... exceed`: the count with its noun, the verb to follow it."""
    return f"{count} unit{'s' if count != 1 else ''}"


def _exceed(count: int) -> str:
    return "exceeds" if count == 1 else "exceed"


def mue_verdicts(
    table: BoundTable, bucket: Sequence[Line], claim: Claim, key: ScopeKey, where: str,
    cutting: bool = False, skip: Skip | None = None,
) -> list[Verdict]:
    """MUEs: an MAI 1 row caps each line; MAI 2 and 3 rows cap the code's units per day in the scope."""
    assert isinstance(table.data, MueTable)
    rows = table.data.rows
    verdicts: list[Verdict] = []
    # (code, scope) -> the first line of an MAI 2 or 3 code on one day in the scope; the lines of the days that
    # hold more than one go in `more` too. Most days hold one line of a code, needing neither a list nor a sum.
    days: dict[tuple[str, object], Line] = {}
    more: dict[tuple[str, object], list[Line]] = {}
    for line in bucket:
        code = line.code
        row = rows.get(code)
        if row is None or (skip is not None and skip(code, line.date)):
            continue
        if row.mai != 1:
            day = (code, line.date if key is None else key(line, claim))
            first = days.get(day)
            if first is None:
                days[day] = line
            elif day in more:
                more[day].append(line)
            else:
                more[day] = [first, line]
        elif line.units > row.value and line.line > 0:
            message = Message(_line_over_text, line, row, table.name)
            verdicts.append(Verdict(line.line, message, min(row.value, line.units) if cutting else None, False))
    for day, first in days.items():
        row = rows[day[0]]
        if more and day in more:
            lines = more[day]
            total = sum(line.units for line in lines)
            if total > row.value:
                verdicts.extend(_over_the_day(lines, row, total, where, table.name, cutting))
        elif first.units > row.value:
            if cutting:
                verdicts.extend(_over_the_day((first,), row, first.units, where, table.name, cutting))
            else:  # `_over_the_day` written out for the usual denial, one line alone on its day: a call costs
                message = Message(_day_over_text, (first,), row, first.units, where, table.name)
                verdicts.append(Verdict(first.line, message, None, row.mai == 3))
    return verdicts


def _line_over_text(line: Line, row: MueRow, name: str) -> str:
    return (
        f"{_units(line.units)} of {line.code} on the line {_exceed(line.units)} the MUE of {row.value} per line"
        f" ({_row_facts(row, name)})"
    )


def _over_the_day(
    lines: Sequence[Line], row: MueRow, total: int, where: str, name: str, cutting: bool
) -> list[Verdict]:
    """Every line of a code on a day whose units add up to more than its MUE (MAI 3 findings are appealable)."""
    message = Message(_day_over_text, lines, row, total, where, name)
    appealable = row.mai == 3
    if cutting:
        return cut_back(lines, row.value, message, appealable)
    return [Verdict(line.line, message, None, appealable) for line in lines]


def _day_over_text(lines: Sequence[Line], row: MueRow, total: int, where: str, name: str) -> str:
    earlier = sum(line.units for line in lines if line.line < 0)
    history = f" ({earlier} of them on earlier claims)" if earlier else ""
    return (
        f"{_units(total)} of {lines[0].code} on {lines[0].date}{history} {_exceed(total)} the MUE of {row.value}"
        f" per day{where} ({_row_facts(row, name)})"
    )


def _row_facts(row: MueRow, name: str) -> str:
    because = f"; rationale: {row.rationale}" if row.rationale else ""
    return f"{MAI_WORDS[row.mai]}{because}; table {name} line {row.line}"


def addon_verdicts(
    table: BoundTable, bucket: Sequence[Line], claim: Claim, standing: AbstractSet[int], key: ScopeKey,
    where: str, skip: Skip | None = None, added: Added | None = None,
) -> list[Verdict]:
    """Add-on codes: each add-on line needs a standing line of a primary in force on its date, in its scope."""
    assert isinstance(table.data, AocTable)
    data = table.data
    entries = data.entries
    verdicts = []
    for line in bucket:
        entry = entries.get(line.code)
        if entry is None or line.line < 0:
            continue
        day = line.date
        if entry.dated:
            listed = data.in_force(line.code, day)
            if listed is None:
                continue
            typed_one, primaries, first = listed
        else:  # the usual case, read here: the call to `in_force` costs more than the rest of it
            typed_one, primaries, first = entry.typed_one, entry.primaries, entry.first
        # A payer's add-on rule replaces a type 1 row, but adds its primaries to a type 2 or 3 row.
        extra = added(line.code, day) if added is not None and not typed_one else NO_CODES
        if skip is not None and not extra and skip(line.code, day):
            continue
        # A type 2 code (and a type 3 code listing no primary) has no national primary: nothing to edit.
        if not primaries and not extra:
            continue
        scope = day if key is None else key(line, claim)
        for other in bucket:
            if (
                (other.code in primaries or other.code in extra)
                and other.line != line.line
                and other.line in standing
                and (other.date if key is None else key(other, claim)) == scope
            ):
                break
        else:
            message = Message(_addon_text, line, first, primaries, extra, where, table.name)
            verdicts.append(Verdict(line.line, message))
    return verdicts


def _addon_text(
    line: Line, first: AocRow, primaries: frozenset[str], extra: frozenset[str], where: str, name: str
) -> str:
    shown = sorted(primaries)
    text = ", ".join(shown[:SHOWN_PRIMARIES])
    if len(shown) > SHOWN_PRIMARIES:
        text += f" and {len(shown) - SHOWN_PRIMARIES} more"
    if extra:
        text = " or ".join(filter(None, [text, "added by the payer: " + ", ".join(sorted(extra))]))
    return (
        f"add-on {line.code} on {line.date} has no payable primary ({text}){where}"
        f" (type {first.type} add-on; table {name} line {first.line})"
    )


def pair_verdicts(
    table: BoundTable, bucket: Sequence[Line], claim: Claim, key: ScopeKey, where: str,
    skip: Skip | None = None,
) -> list[Verdict]:
    """PTP edits: a column 2 line beside a column 1 line in its scope is denied, unless a bypass applies.

    A column 1 line of an earlier claim (numbered below zero) denies this claim's column 2 line; this claim's
    column 1 line does not reach back to deny an earlier claim's column 2 line, which was settled already.
    """
    assert isinstance(table.data, PtpTable)
    if len(bucket) < 2:
        return []
    by_column2 = table.data.by_column2
    verdicts = []
    # Earlier claims' lines are settled: only this claim's lines are denied.
    for second in bucket:
        firsts = by_column2.get(second.code)
        if firsts is None or second.line < 0:
            continue
        scope = second.date if key is None else key(second, claim)
        # The column 1 line naming the edit, and its row that denies the pair: this claim's lowest-numbered
        # column 1 line names it, else an earlier claim's, so the message never depends on line order
        held: Line | None = None
        held_row: PtpRow | None = None
        for first in bucket:
            pair_rows = firsts.get(first.code)
            if pair_rows is None or first.line == second.line:
                continue
            # A line that would not name the edit need not be looked at further (a claim often holds several).
            if held is not None and not _names_the_edit(first, held):
                continue
            if (first.date if key is None else key(first, claim)) != scope:
                continue
            if skip is not None and skip((first.code, second.code), second.date):
                continue
            row = _denying_row(pair_rows, first, second)
            if row is not None:
                held, held_row = first, row
        if held is not None:
            verdicts.append(Verdict(second.line, Message(_pair_text, held, second, held_row, where, table.name)))
    if len(verdicts) > 1:
        verdicts.sort(key=attrgetter("line"))
    return verdicts


def naming_order(line: Line) -> tuple[bool, int]:
    """Which of several lines names an edit: the claim's own first, lowest number first; then earlier claims'.

    Earlier claims' lines are numbered -1, -2, ... in order of claim id, then line number (engine.add_prior_lines).
    """
    return line.line < 0, abs(line.line)


def billed_at(line: Line) -> str:
    """Where a line naming an edit was billed, for its message: `line 3`, or `on an earlier claim`."""
    return f"line {line.line}" if line.line > 0 else "on an earlier claim"


def _names_the_edit(line: Line, held: Line) -> bool:
    """Whether `line` rather than `held` names a pair edit: `naming_order` written out, as it runs per pair held."""
    return (line.line < 0, abs(line.line)) < (held.line < 0, abs(held.line))


def _denying_row(pair_rows: Sequence[PtpRow], first: Line, second: Line) -> PtpRow | None:
    """The first row in force on the date that denies the pair: indicator 9 never, 1 unless a bypass modifier."""
    day = second.date
    for row in pair_rows:
        # `in_force`, written out: this runs for every row of every pair of lines a claim holds
        if row.indicator == 9 or (row.start is not None and day < row.start) or (row.end is not None and day > row.end):
            continue
        if row.indicator == 1 and (
            not NCCI_BYPASS.isdisjoint(first.modifiers) or not NCCI_BYPASS.isdisjoint(second.modifiers)
        ):
            continue
        return row
    return None


def _pair_text(first: Line, second: Line, row: PtpRow, where: str, name: str) -> str:
    if row.indicator == 0:
        bypass = "modifier indicator 0: no modifier bypasses it"
    else:
        bypass = "modifier indicator 1 and neither line carries an NCCI bypass modifier (59, XE, XS, XP, XU, ...)"
    because = f"; rationale: {row.rationale}" if row.rationale else ""
    anchor = billed_at(first)
    return (
        f"{second.code} on {second.date} is not paid with {first.code} ({anchor}){where}"
        f" ({bypass}{because}; table {name} line {row.line})"
    )
