"""The checked, resolved form of a policy that code generation and the engines read."""

from __future__ import annotations

import datetime
from typing import Union

import attrs


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


CondIR = Union[CondAll, CondAny, CondNot, CondModifier, CondDiagnosis, CondCodeIn, CondCompare, CondValueIn]


@attrs.frozen
class WhenIR:
    condition: CondIR
    # Lines the rule can hold for, for dispatch: by code, by modifier, or (both None) every line.
    dispatch_codes: frozenset[str] | None
    dispatch_modifiers: frozenset[str] | None


BodyIR = Union[AddonIR, LimitIR, SequenceIR, BundleIR, PairIR, WhenIR]

KIND_OF_BODY: dict[type, str] = {
    AddonIR: "addon",
    LimitIR: "limit",
    SequenceIR: "sequence",
    BundleIR: "bundle",
    PairIR: "pair",
    WhenIR: "when",
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
