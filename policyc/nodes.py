"""Syntax nodes of a `.pol` file: frozen values with a span that takes no part in equality."""

from __future__ import annotations

import datetime

import attrs

from policyc.source import Span

NO_SPAN = Span(0, 0)


def _span() -> Span:
    return attrs.field(default=NO_SPAN, eq=False, repr=False, kw_only=True)


# ------------------------------------------------------------------ code sets


@attrs.frozen
class CodeItem:
    """One procedure code written in a set: `99601`."""

    code: str
    span: Span = _span()


@attrs.frozen
class RangeItem:
    """An inclusive range of codes of one shape: `S9325..S9379`."""

    low: str
    high: str
    span: Span = _span()


@attrs.frozen
class SetRef:
    """A use of a named code set: `per_diem`."""

    name: str
    span: Span = _span()


SetItem = CodeItem | RangeItem | SetRef


@attrs.frozen
class SetExpr:
    """A union of items, less the excluded ones: `A4221, E0779..E0781 except E0780`."""

    items: tuple[SetItem, ...]
    excluded: tuple[SetItem, ...] = ()
    span: Span = _span()


@attrs.frozen
class CodeSetDef:
    """`codes NAME "title" = ...`."""

    name: str
    title: str | None
    expr: SetExpr
    name_span: Span = _span()
    span: Span = _span()


# ------------------------------------------------------------------ rule bodies


@attrs.frozen
class ModifierRef:
    """A modifier written in a rule: `SH`."""

    code: str
    span: Span = _span()


@attrs.frozen
class Scope:
    """Which lines a rule looks at together: `on the same day by the same provider`."""

    extent: str  # "claim" or "day"
    provider: str | None  # None, "billing" or "rendering"
    span: Span = _span()


@attrs.frozen
class Addon:
    """`addon A requires P <scope>`: A is paid only beside a standing line of P."""

    addons: SetExpr
    primaries: SetExpr
    scope: Scope | None
    span: Span = _span()


@attrs.frozen
class Limit:
    """`limit C to N units per line|day|claim [by the same provider]`: a unit cap."""

    codes: SetExpr
    cap: int
    per: str  # "line", "day" or "claim"
    provider: str | None
    span: Span = _span()


@attrs.frozen
class Rank:
    """One rank of a sequence: `2nd with SH`; `3rd+` is open-ended."""

    ordinal: int
    open_ended: bool
    with_modifiers: bool
    modifiers: tuple[ModifierRef, ...]
    written: str = ""  # the ordinal as written (`2nd`, `3rd+`), so the checks can catch `2st`
    span: Span = _span()


@attrs.frozen
class Sequence:
    """`sequence S <scope>: ranks`: concurrent lines carry modifiers by rank."""

    codes: SetExpr
    scope: Scope | None
    ranks: tuple[Rank, ...]
    span: Span = _span()


@attrs.frozen
class Bundle:
    """`bundle B into P <scope>`: B is included when a line of P exists."""

    bundled: SetExpr
    into: SetExpr
    scope: Scope | None
    span: Span = _span()


@attrs.frozen
class Pair:
    """`pair A with B <scope> [unless modifier M...]`: column 2 (B) is denied beside column 1 (A)."""

    column1: SetExpr
    column2: SetExpr
    scope: Scope | None
    bypass: tuple[ModifierRef, ...]
    span: Span = _span()


# ------------------------------------------------------------------ conditions


@attrs.frozen
class Literal:
    """A number, string or date in a condition."""

    value: int | str | datetime.date
    span: Span = _span()


@attrs.frozen
class HasModifier:
    """`line has modifier SH or SJ`: any of them."""

    modifiers: tuple[ModifierRef, ...]
    span: Span = _span()


@attrs.frozen
class HasDiagnosis:
    """`claim has diagnosis Z45.2 or Z95.828`: any of them."""

    diagnoses: tuple[str, ...]
    span: Span = _span()


@attrs.frozen
class FieldInCodes:
    """`line.code [not] in per_diem, 99601`."""

    field: str
    negated: bool
    codes: SetExpr
    field_span: Span = _span()
    span: Span = _span()


@attrs.frozen
class FieldInValues:
    """`claim.place_of_service [not] in ("12", "49")`."""

    field: str
    negated: bool
    values: tuple[Literal, ...]
    field_span: Span = _span()
    span: Span = _span()


@attrs.frozen
class Compare:
    """`member.age < 18`."""

    field: str
    operator: str
    value: Literal
    field_span: Span = _span()
    span: Span = _span()


@attrs.frozen
class AllOf:
    items: tuple[Condition, ...]
    span: Span = _span()


@attrs.frozen
class AnyOf:
    items: tuple[Condition, ...]
    span: Span = _span()


@attrs.frozen
class Not:
    item: Condition
    span: Span = _span()


Condition = HasModifier | HasDiagnosis | FieldInCodes | FieldInValues | Compare | AllOf | AnyOf | Not


@attrs.frozen
class When:
    """`when <condition>`: the action applies to every line the condition holds for."""

    condition: Condition
    span: Span = _span()


# ------------------------------------------------------------------ tables


@attrs.frozen
class TablePath:
    """One table file as written, relative to the `.pol` file: `"mue_practitioner_2024-07-01.csv"`."""

    path: str
    span: Span = _span()


@attrs.frozen
class TableRef:
    """`table "a.csv" [, "b.csv"] [format cms]`: files read together as one table."""

    paths: tuple[TablePath, ...]
    format: str | None  # None: told apart by the file's first lines
    format_span: Span = _span()
    span: Span = _span()


@attrs.frozen
class TableLimit:
    """`mue table "..." [by the same provider]`: per-row MUEs; the row's MAI says per line or per day."""

    table: TableRef
    provider: str | None
    span: Span = _span()


@attrs.frozen
class TableAddon:
    """`addon table "..." <scope>`: add-on codes and their primaries, typed 1, 2 or 3, with dates."""

    table: TableRef
    scope: Scope | None
    span: Span = _span()


@attrs.frozen
class TablePair:
    """`pair table "..." [setting NAME] <scope>`: procedure-to-procedure edits with modifier indicators."""

    table: TableRef
    setting: str | None
    scope: Scope | None
    setting_span: Span = _span()
    span: Span = _span()


@attrs.frozen
class SwitchOff:
    """`switch off mue|addon C` or `switch off pair A with B`: rows of an extended policy's tables not to use."""

    kind: str  # "mue", "addon" or "pair"
    codes: SetExpr  # the MUE codes, the add-on codes, or column 1 of the pairs
    column2: SetExpr | None = None
    span: Span = _span()


TableBody = TableLimit | TableAddon | TablePair
RuleBody = Addon | Limit | Sequence | Bundle | Pair | When | TableLimit | TableAddon | TablePair | SwitchOff


# ------------------------------------------------------------------ actions and rules


@attrs.frozen
class Deny:
    """`deny CO-107 N122 [appealable]`."""

    adjustment: str  # "CO-107"
    rarcs: tuple[str, ...]
    appealable: bool
    span: Span = _span()


@attrs.frozen
class CutBack:
    """`cut back CO-151 N362`: reduce allowed units to the cap instead of denying."""

    adjustment: str
    rarcs: tuple[str, ...]
    appealable: bool
    span: Span = _span()


@attrs.frozen
class Review:
    """`review "why"`: pend the line for a person."""

    reason: str
    span: Span = _span()


Action = Deny | CutBack | Review


@attrs.frozen
class DateRange:
    """`effective DATE [until DATE]`."""

    start: datetime.date
    end: datetime.date | None
    span: Span = _span()


@attrs.frozen
class Rationale:
    text: str
    span: Span = _span()


RuleClause = Deny | CutBack | Review | DateRange | Rationale


@attrs.frozen
class Rule:
    """`rule ID "title": body clauses`."""

    id: str
    title: str | None
    body: RuleBody
    clauses: tuple[RuleClause, ...]
    id_span: Span = _span()
    span: Span = _span()

    @property
    def actions(self) -> tuple[Action, ...]:
        return tuple(c for c in self.clauses if isinstance(c, (Deny, CutBack, Review)))

    @property
    def dates(self) -> tuple[DateRange, ...]:
        return tuple(c for c in self.clauses if isinstance(c, DateRange))

    @property
    def rationales(self) -> tuple[Rationale, ...]:
        return tuple(c for c in self.clauses if isinstance(c, Rationale))


# ------------------------------------------------------------------ tests


@attrs.frozen
class TestLine:
    """`line 1: S9500 SH x2 [on DATE]` inside a test claim."""

    number: int
    code: str
    modifiers: tuple[str, ...]
    units: int
    date: datetime.date | None
    span: Span = _span()


@attrs.frozen
class TestClaim:
    """`claim [plan NAME] [on DATE]: lines`."""

    plan: str | None
    date: datetime.date | None
    lines: tuple[TestLine, ...]
    span: Span = _span()


@attrs.frozen
class Expectation:
    """`expect line 1 denied CO-107`."""

    line: int
    status: str
    adjustment: str | None
    span: Span = _span()


@attrs.frozen
class TestCase:
    """`test "name": claims expectations`."""

    __test__ = False  # keep pytest from collecting this class

    name: str
    claims: tuple[TestClaim, ...]
    expectations: tuple[Expectation, ...]
    span: Span = _span()


# ------------------------------------------------------------------ the policy


@attrs.frozen
class HeaderField:
    """One header line: `payer "..."`, `plans all`, `effective 2024-10-07`."""

    name: str  # "payer", "source", "plans", "claims", "effective" or "extends"
    value: str | tuple[str, ...] | DateRange
    span: Span = _span()


@attrs.frozen
class Policy:
    """One `.pol` file."""

    id: str
    title: str | None
    header: tuple[HeaderField, ...]
    code_sets: tuple[CodeSetDef, ...]
    rules: tuple[Rule, ...]
    tests: tuple[TestCase, ...]
    id_span: Span = _span()
    span: Span = _span()

    def header_values(self, name: str) -> tuple[HeaderField, ...]:
        return tuple(f for f in self.header if f.name == name)
