"""Lower checked syntax nodes to the IR: resolve code-set names, narrow dates, normalise actions."""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

from policyc import ir
from policyc import nodes as n
from policyc.codes import expand_range, range_problem
from policyc.source import SourceFile, Span

if TYPE_CHECKING:
    from policyc.tablecache import LoadedTable

Tables = Mapping[n.TableRef, "LoadedTable"]

ENDLESS = datetime.date.max


def evaluate_set(expr: n.SetExpr, env: Mapping[str, frozenset[str]]) -> frozenset[str]:
    """The codes a set expression holds; unknown names and bad ranges count as empty (checks report them)."""
    members = _union(expr.items, env)
    return members - _union(expr.excluded, env) if expr.excluded else members


def _union(items: tuple[n.SetItem, ...], env: Mapping[str, frozenset[str]]) -> frozenset[str]:
    codes: set[str] = set()
    for item in items:
        if isinstance(item, n.CodeItem):
            codes.add(item.code)
        elif isinstance(item, n.RangeItem):
            if range_problem(item.low, item.high) is None:
                codes.update(expand_range(item.low, item.high))
        else:
            codes |= env.get(item.name, frozenset())
    return frozenset(codes)


class Lowerer:
    """Builds the IR of one policy that passed the checks."""

    def __init__(self, policy: n.Policy, source: SourceFile, tables: Tables) -> None:
        self.policy = policy
        self.source = source
        self.tables = tables
        self.env: dict[str, frozenset[str]] = {}

    def lower(self) -> ir.PolicyIR:
        code_sets = []
        for definition in self.policy.code_sets:
            expr = self.set_expr(definition.expr)
            self.env[definition.name] = expr.members
            code_sets.append(ir.CodeSetIR(definition.name, definition.title, expr, self._line(definition.span)))
        plans = self._header("plans")
        dates = self._header("effective")
        assert isinstance(plans, tuple) and isinstance(dates, n.DateRange)
        payer, source_document = self._header("payer"), self._header("source")
        claim_types = self._header("claims")
        extends = self._header("extends")
        return ir.PolicyIR(
            id=self.policy.id,
            title=self.policy.title,
            payer=payer if isinstance(payer, str) else None,
            source_document=source_document if isinstance(source_document, str) else None,
            plans=None if "all" in plans else frozenset(plans),
            claim_types=frozenset(claim_types) if isinstance(claim_types, tuple) else None,
            start=dates.start,
            end=dates.end,
            path=self.source.name,
            code_sets=tuple(code_sets),
            rules=tuple(self.rule(rule, dates) for rule in self.policy.rules),
            extends=extends if isinstance(extends, tuple) else (),
        )

    def _header(self, name: str) -> object:
        fields = self.policy.header_values(name)
        return fields[0].value if fields else None

    def _line(self, span: Span) -> int:
        return self.source.line_of(span)

    def set_expr(self, expr: n.SetExpr) -> ir.SetExprIR:
        excluded = self.set_expr(n.SetExpr(expr.excluded)) if expr.excluded else None
        return ir.SetExprIR(
            codes=tuple(i.code for i in expr.items if isinstance(i, n.CodeItem)),
            ranges=tuple((i.low, i.high) for i in expr.items if isinstance(i, n.RangeItem)),
            refs=tuple(i.name for i in expr.items if isinstance(i, n.SetRef)),
            excluded=excluded,
            members=evaluate_set(expr, self.env),
        )

    def rule(self, rule: n.Rule, policy_dates: n.DateRange) -> ir.RuleIR:
        start, end = policy_dates.start, policy_dates.end
        for dates in rule.dates:
            start = max(start, dates.start)
            end = min(end or ENDLESS, dates.end or ENDLESS)
            end = None if end == ENDLESS else end
        rationale = rule.rationales[0].text if rule.rationales else None
        body_text = self.source.text[rule.body.span.start : rule.body.span.end]
        return ir.RuleIR(
            id=rule.id,
            title=rule.title,
            line=self._line(rule.span),
            start=start,
            end=end,
            action=self.action(rule.actions[0]) if rule.actions else ir.ActionIR("none", None, None, (), False, None),
            rationale=rationale,
            body=self.body(rule.body),
            text=" ".join(without_comments(body_text).split()),
        )

    def action(self, action: n.Action) -> ir.ActionIR:
        if isinstance(action, n.Review):
            return ir.ActionIR("review", None, None, (), False, action.reason)
        group, carc = action.adjustment.split("-", 1)
        kind = "deny" if isinstance(action, n.Deny) else "cut back"
        return ir.ActionIR(kind, group, carc, action.rarcs, action.appealable, None)

    def body(self, body: n.RuleBody) -> ir.BodyIR:
        if isinstance(body, n.Addon):
            return ir.AddonIR(self.set_expr(body.addons), self.set_expr(body.primaries), scope_ir(body.scope))
        if isinstance(body, n.Limit):
            extent = {"line": "line", "day": "day", "claim": "claim"}[body.per]
            return ir.LimitIR(self.set_expr(body.codes), body.cap, ir.ScopeIR(extent, body.provider))
        if isinstance(body, n.Sequence):
            return self.sequence(body)
        if isinstance(body, n.Bundle):
            return ir.BundleIR(self.set_expr(body.bundled), self.set_expr(body.into), scope_ir(body.scope))
        if isinstance(body, n.Pair):
            bypass = frozenset(m.code for m in body.bypass)
            return ir.PairIR(self.set_expr(body.column1), self.set_expr(body.column2), scope_ir(body.scope), bypass)
        if isinstance(body, n.TableLimit):
            return ir.TableLimitIR(self.table(body.table, "mue", None), ir.ScopeIR("day", body.provider))
        if isinstance(body, n.TableAddon):
            return ir.TableAddonIR(self.table(body.table, "addon", None), scope_ir(body.scope))
        if isinstance(body, n.TablePair):
            return ir.TablePairIR(self.table(body.table, "pair", body.setting), scope_ir(body.scope))
        if isinstance(body, n.SwitchOff):
            column2 = self.set_expr(body.column2) if body.column2 is not None else None
            return ir.SwitchOffIR(body.kind, self.set_expr(body.codes), column2)
        return self.when(body)

    def table(self, ref: n.TableRef, kind: str, setting: str | None) -> ir.TableIR:
        loaded = self.tables[ref]
        files = tuple(p.path for p in ref.paths)
        return ir.TableIR(kind, files, ref.format, setting, loaded.digest, loaded.rows, loaded.table)

    def sequence(self, body: n.Sequence) -> ir.SequenceIR:
        all_modifiers = frozenset(m.code for rank in body.ranks for m in rank.modifiers)
        ranks = tuple(
            ir.RankIR(
                rank.ordinal,
                rank.open_ended,
                frozenset(m.code for m in rank.modifiers) if rank.with_modifiers else frozenset(),
                ordinal_label(rank.ordinal) + ("+" if rank.open_ended else ""),
            )
            for rank in body.ranks
        )
        return ir.SequenceIR(self.set_expr(body.codes), scope_ir(body.scope), ranks, all_modifiers)

    def when(self, body: n.When) -> ir.WhenIR:
        condition = self.condition(body.condition)
        return ir.WhenIR(condition, dispatch_codes(condition), dispatch_modifiers(condition))

    def condition(self, cond: n.Condition) -> ir.CondIR:
        if isinstance(cond, n.AllOf):
            return ir.CondAll(tuple(self.condition(c) for c in cond.items))
        if isinstance(cond, n.AnyOf):
            return ir.CondAny(tuple(self.condition(c) for c in cond.items))
        if isinstance(cond, n.Not):
            return ir.CondNot(self.condition(cond.item))
        if isinstance(cond, n.HasModifier):
            return ir.CondModifier(frozenset(m.code for m in cond.modifiers))
        if isinstance(cond, n.HasDiagnosis):
            return ir.CondDiagnosis(frozenset(normalise_diagnosis(d) for d in cond.diagnoses))
        if isinstance(cond, n.FieldInCodes):
            return ir.CondCodeIn(cond.negated, self.set_expr(cond.codes))
        if isinstance(cond, n.FieldInValues):
            return ir.CondValueIn(cond.field, cond.negated, tuple(v.value for v in cond.values))
        return ir.CondCompare(cond.field, cond.operator, cond.value.value)


_STRING_OR_COMMENT = re.compile(r'("(?:[^"\\\n]|\\.)*")|#[^\n]*')


def without_comments(text: str) -> str:
    """Source text with its `#` comments removed (but not a `#` inside a quoted string)."""
    return _STRING_OR_COMMENT.sub(lambda m: m.group(1) or "", text)


def scope_ir(scope: n.Scope | None) -> ir.ScopeIR:
    assert scope is not None, "the checks require a scope"
    return ir.ScopeIR(scope.extent, scope.provider)


def ordinal_label(number: int) -> str:
    suffix = "th" if 10 <= number % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    return f"{number}{suffix}"


def normalise_diagnosis(code: str) -> str:
    return code.replace(".", "").upper()


def dispatch_codes(cond: ir.CondIR) -> frozenset[str] | None:
    """The codes a condition can only hold for, or None when it may hold for any code."""
    if isinstance(cond, ir.CondCodeIn) and not cond.negated:
        return cond.codes.members
    if isinstance(cond, ir.CondAll):
        found = [c for c in map(dispatch_codes, cond.items) if c is not None]
        return frozenset.intersection(*found) if found else None
    if isinstance(cond, ir.CondAny):
        parts = [dispatch_codes(c) for c in cond.items]
        return None if any(p is None for p in parts) else frozenset().union(*parts)  # type: ignore[arg-type]
    return None


def dispatch_modifiers(cond: ir.CondIR) -> frozenset[str] | None:
    """The modifiers a line must carry one of for the condition to hold, or None when there is no such need."""
    if isinstance(cond, ir.CondModifier):
        return cond.modifiers
    if isinstance(cond, ir.CondAll):
        found = [m for m in map(dispatch_modifiers, cond.items) if m is not None]
        return min(found, key=len) if found else None
    if isinstance(cond, ir.CondAny):
        parts = [dispatch_modifiers(c) for c in cond.items]
        return None if any(p is None for p in parts) else frozenset().union(*parts)  # type: ignore[arg-type]
    return None


def lower(policy: n.Policy, source: SourceFile, tables: Tables | None = None) -> ir.PolicyIR:
    """The IR of a policy that passed the checks; `tables` are its bound tables (read here when not given)."""
    if tables is None:
        from policyc.tablecache import bind_tables

        tables = bind_tables(policy, source)
    return Lowerer(policy, source, tables).lower()
