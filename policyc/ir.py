"""The checked, resolved form of a policy that code generation and the engines read."""

from __future__ import annotations

import datetime
import functools
from typing import TYPE_CHECKING

import attrs

if TYPE_CHECKING:
    from policyc.tables import Table


@attrs.frozen
class SetExprIR:
    """A code set with names resolved: its written parts (for readable generated code) and its members."""

    codes: tuple[str, ...]
    ranges: tuple[tuple[str, str], ...]
    refs: tuple[str, ...]
    excluded: SetExprIR | None
    members: frozenset[str] = attrs.field(eq=False, repr=False)

    def describe(self) -> str:
        """How an analyst wrote the set: `99601`, `per_diem`, `S9325..S9379`."""
        parts = [*self.refs, *self.codes, *(f"{lo}..{hi}" for lo, hi in self.ranges)]
        text = ", ".join(parts)
        return f"{text} except {self.excluded.describe()}" if self.excluded else text


@attrs.frozen
class CodeSetIR:
    name: str
    title: str | None
    expr: SetExprIR
    line: int


@attrs.frozen
class ScopeIR:
    """Which lines are looked at together: the extent and whose provider must match."""

    extent: str  # "line", "day" or "claim"
    provider: str | None  # None, "billing" or "rendering"

    def describe(self) -> str:
        where = {"line": "on the line", "day": "on the same day", "claim": "on the same claim"}[self.extent]
        return where + self.provider_phrase()

    def provider_phrase(self) -> str:
        return {None: "", "billing": " by the same provider", "rendering": " by the same rendering provider"}[
            self.provider
        ]


@attrs.frozen
class ActionIR:
    kind: str  # "deny", "cut back" or "review"
    group: str | None
    carc: str | None
    rarcs: tuple[str, ...]
    appealable: bool
    reason: str | None


@attrs.frozen
class AddonIR:
    addons: SetExprIR
    primaries: SetExprIR
    scope: ScopeIR


@attrs.frozen
class LimitIR:
    codes: SetExprIR
    cap: int
    scope: ScopeIR  # extent "line" for a per-line cap


@attrs.frozen
class RankIR:
    ordinal: int
    open_ended: bool
    modifiers: frozenset[str]  # exactly these of the sequence's modifiers; empty for `without`
    label: str  # "1st", "3rd+"


@attrs.frozen
class SequenceIR:
    codes: SetExprIR
    scope: ScopeIR
    ranks: tuple[RankIR, ...]
    modifiers: frozenset[str]  # every modifier any rank names


@attrs.frozen
class BundleIR:
    bundled: SetExprIR
    into: SetExprIR
    scope: ScopeIR


@attrs.frozen
class PairIR:
    column1: SetExprIR
    column2: SetExprIR
    scope: ScopeIR
    bypass: frozenset[str]


# ------------------------------------------------------------------ conditions


@attrs.frozen
class CondAll:
    items: tuple[CondIR, ...]


@attrs.frozen
class CondAny:
    items: tuple[CondIR, ...]


@attrs.frozen
class CondNot:
    item: CondIR


@attrs.frozen
class CondModifier:
    modifiers: frozenset[str]


@attrs.frozen
class CondDiagnosis:
    diagnoses: frozenset[str]  # normalised: upper case, no dot


@attrs.frozen
class CondCodeIn:
    negated: bool
    codes: SetExprIR


@attrs.frozen
class CondCompare:
    field: str
    operator: str
    value: int | str | datetime.date


@attrs.frozen
class CondValueIn:
    field: str
    negated: bool
    values: tuple[int | str | datetime.date, ...]


CondIR = CondAll | CondAny | CondNot | CondModifier | CondDiagnosis | CondCodeIn | CondCompare | CondValueIn


@attrs.frozen
class WhenIR:
    condition: CondIR
    # Lines the rule can hold for, for dispatch: by code, by modifier, or (both None) every line.
    dispatch_codes: frozenset[str] | None
    dispatch_modifiers: frozenset[str] | None


# ------------------------------------------------------------------ tables


@attrs.frozen
class TableIR:
    """A bound table: the files as written, how they were read, and the rows (known by their content hash)."""

    kind: str  # "mue", "addon" or "pair"
    files: tuple[str, ...]  # as written in the .pol file, relative to it
    format: str | None
    setting: str | None
    digest: str  # sha256 of the kind, format, setting and the files' bytes
    rows: int
    data: Table = attrs.field(eq=False, repr=False)

    def describe(self) -> str:
        return ", ".join(self.files)

    @property
    def targets(self) -> frozenset[str]:
        """The codes a finding of the table can land on: MUE codes, add-on codes, PTP column 2 codes."""
        return _table_targets(self.digest, self.data)


@attrs.frozen
class TableLimitIR:
    """MUEs from a table: MAI 1 rows per line, MAI 2 and 3 rows per day in the scope."""

    table: TableIR
    scope: ScopeIR  # extent "day"


@attrs.frozen
class TableAddonIR:
    table: TableIR
    scope: ScopeIR


@attrs.frozen
class TablePairIR:
    table: TableIR
    scope: ScopeIR


@attrs.frozen
class SwitchOffIR:
    """Rows of the extended policies' tables this policy does not use."""

    kind: str  # "mue", "addon" or "pair"
    codes: SetExprIR
    column2: SetExprIR | None


TableBodyIR = TableLimitIR | TableAddonIR | TablePairIR
BodyIR = (
    AddonIR | LimitIR | SequenceIR | BundleIR | PairIR | WhenIR
    | TableLimitIR | TableAddonIR | TablePairIR | SwitchOffIR
)

KIND_OF_BODY: dict[type, str] = {
    AddonIR: "addon",
    LimitIR: "limit",
    SequenceIR: "sequence",
    BundleIR: "bundle",
    PairIR: "pair",
    WhenIR: "when",
    TableLimitIR: "limit",
    TableAddonIR: "addon",
    TablePairIR: "pair",
    SwitchOffIR: "switch off",
}


@attrs.frozen
class RuleIR:
    id: str
    title: str | None
    line: int
    start: datetime.date  # the rule's dates, already narrowed to the policy's
    end: datetime.date | None
    action: ActionIR
    rationale: str | None
    body: BodyIR
    text: str  # the rule body as written, for messages and generated docstrings

    @property
    def condition_text(self) -> str:
        """A `when` rule's condition as written, without the keyword (`when(x)` and `when x` alike)."""
        return self.text.removeprefix("when").strip()

    @property
    def kind(self) -> str:
        return KIND_OF_BODY[type(self.body)]


@attrs.frozen
class PolicyIR:
    id: str
    title: str | None
    payer: str | None
    source_document: str | None
    plans: frozenset[str] | None  # None: all plans
    start: datetime.date
    end: datetime.date | None
    path: str  # the file, as diagnostics and findings name it
    code_sets: tuple[CodeSetIR, ...]
    rules: tuple[RuleIR, ...]
    extends: tuple[str, ...] = ()  # the ids of the policies whose rules and tables this one starts from
    claim_types: frozenset[str] | None = None  # None: claims of every type

    @property
    def tables(self) -> tuple[TableIR, ...]:
        """Every table the policy's rules bind, once each, in rule order."""
        found: dict[str, TableIR] = {}
        for rule in self.rules:
            table = getattr(rule.body, "table", None)
            if isinstance(table, TableIR):
                found.setdefault(table.digest, table)
        return tuple(found.values())


@functools.lru_cache(maxsize=64)
def _table_targets(digest: str, data: Table) -> frozenset[str]:
    """Computed once per table content (national tables hold thousands of codes)."""
    from policyc.tables import PtpTable  # the tables module imports nothing from here; keep the IR light

    if isinstance(data, PtpTable):
        return frozenset(column2 for inner in data.rows.values() for column2 in inner)
    return frozenset(data.rows)  # MUE codes; add-on codes, which an add-on table is keyed by


def target_codes(body: BodyIR) -> frozenset[str] | None:
    """The codes of the lines a rule body can put a finding on; None when it may act on a line of any code."""
    if isinstance(body, AddonIR):
        return body.addons.members
    if isinstance(body, (LimitIR, SequenceIR)):
        return body.codes.members
    if isinstance(body, BundleIR):
        return body.bundled.members
    if isinstance(body, PairIR):
        return body.column2.members
    if isinstance(body, SwitchOffIR):
        return frozenset()  # it judges no line: it only takes rows out of an extended policy's table
    if isinstance(body, (TableLimitIR, TableAddonIR, TablePairIR)):
        return body.table.targets
    return body.dispatch_codes
