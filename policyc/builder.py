"""Reshape a Lark parse tree into syntax nodes; no checking happens here."""

from __future__ import annotations

import datetime
import re
from typing import Any

from lark import Token, Transformer, Tree, v_args
from lark.tree import Meta

from policyc import nodes as n
from policyc.source import Span

ORDINAL_SUFFIXES = ("st", "nd", "rd", "th")


def tok_span(token: Token) -> Span:
    return Span(token.start_pos or 0, token.end_pos or 0)


def meta_span(meta: Meta) -> Span:
    if getattr(meta, "empty", True):
        return n.NO_SPAN
    return Span(meta.start_pos, meta.end_pos)


def unquote(token: Token) -> str:
    """The text between the quotes; a backslash keeps the next character as it is (`\\"`, `\\\\`)."""
    return re.sub(r"\\(.)", r"\1", str(token)[1:-1])


def to_date(token: Token) -> datetime.date:
    """A DATE token as a date; the parser has already reported the ones that do not exist."""
    try:
        return datetime.date.fromisoformat(str(token))
    except ValueError:
        return datetime.date.min


def _real_tokens(children: list[Any]) -> list[Any]:
    """Children without the `or` tokens that separate alternatives in a list."""
    return [c for c in children if not (isinstance(c, Token) and c.type == "ALT_OR")]


@v_args(meta=True)
class NodeBuilder(Transformer[Token, n.Policy]):
    """One method per grammar rule, each returning the node for it."""

    def start(self, meta: Meta, children: list[Any]) -> n.Policy:
        ident, title, header = children[0]
        items = children[1:]
        return n.Policy(
            id=str(ident),
            title=title,
            header=header,
            code_sets=tuple(i for i in items if isinstance(i, n.CodeSetDef)),
            rules=tuple(i for i in items if isinstance(i, n.Rule)),
            tests=tuple(i for i in items if isinstance(i, n.TestCase)),
            id_span=tok_span(ident),
            span=meta_span(meta),
        )

    def policy_header(self, meta: Meta, children: list[Any]) -> tuple[Token, str | None, tuple[n.HeaderField, ...]]:
        ident, rest = children[0], children[1:]
        title = None
        if rest and isinstance(rest[0], Token) and rest[0].type == "STRING":
            title, rest = unquote(rest[0]), rest[1:]
        return ident, title, tuple(rest)

    def payer(self, meta: Meta, children: list[Token]) -> n.HeaderField:
        return n.HeaderField("payer", unquote(children[0]), span=meta_span(meta))

    def source_doc(self, meta: Meta, children: list[Token]) -> n.HeaderField:
        return n.HeaderField("source", unquote(children[0]), span=meta_span(meta))

    def plans(self, meta: Meta, children: list[tuple[str, ...]]) -> n.HeaderField:
        return n.HeaderField("plans", children[0], span=meta_span(meta))

    def claim_types(self, meta: Meta, children: list[tuple[str, ...]]) -> n.HeaderField:
        return n.HeaderField("claims", children[0], span=meta_span(meta))

    def name_list(self, meta: Meta, children: list[Token]) -> tuple[str, ...]:
        return tuple(str(c) for c in children)

    def effective(self, meta: Meta, children: list[Token]) -> n.HeaderField:
        return n.HeaderField("effective", self._date_range(meta, children), span=meta_span(meta))

    def extends(self, meta: Meta, children: list[Token]) -> n.HeaderField:
        span = Span(tok_span(children[0]).start, tok_span(children[-1]).end)
        return n.HeaderField("extends", tuple(str(c) for c in children), span=span)

    def _date_range(self, meta: Meta, children: list[Token]) -> n.DateRange:
        end = to_date(children[1]) if len(children) > 1 else None
        return n.DateRange(to_date(children[0]), end, span=meta_span(meta))

    # -------------------------------------------------------------- code sets

    def codes_def(self, meta: Meta, children: list[Any]) -> n.CodeSetDef:
        name, rest = children[0], children[1:]
        title = None
        if isinstance(rest[0], Token):
            title, rest = unquote(rest[0]), rest[1:]
        items = rest[0]
        excluded = rest[1] if len(rest) > 1 else ()
        expr_span = meta_span(meta)
        expr = n.SetExpr(items, excluded, span=Span(items[0].span.start, expr_span.end))
        return n.CodeSetDef(str(name), title, expr, name_span=tok_span(name), span=expr_span)

    def set_items(self, meta: Meta, children: list[Any]) -> tuple[n.SetItem, ...]:
        return tuple(_real_tokens(children))

    def code_item(self, meta: Meta, children: list[Token]) -> n.CodeItem:
        return n.CodeItem(str(children[0]), span=tok_span(children[0]))

    def range_item(self, meta: Meta, children: list[Token]) -> n.RangeItem:
        return n.RangeItem(str(children[0]), str(children[1]), span=meta_span(meta))

    def name_item(self, meta: Meta, children: list[Token]) -> n.SetRef:
        return n.SetRef(str(children[0]), span=tok_span(children[0]))

    # -------------------------------------------------------------- rules

    def rule_def(self, meta: Meta, children: list[Any]) -> n.Rule:
        ident, rest = children[0], children[1:]
        title = None
        if isinstance(rest[0], Token):
            title, rest = unquote(rest[0]), rest[1:]
        return n.Rule(str(ident), title, rest[0], tuple(rest[1:]), id_span=tok_span(ident), span=meta_span(meta))

    def addon_rule(self, meta: Meta, children: list[Any]) -> n.Addon:
        return n.Addon(_expr(children[0]), _expr(children[1]), _opt(children, 2), span=meta_span(meta))

    def limit_rule(self, meta: Meta, children: list[Any]) -> n.Limit:
        codes, cap, per = children[0], children[1], children[2]
        provider = children[3] if len(children) > 3 else None
        return n.Limit(_expr(codes), int(cap), per, provider, span=meta_span(meta))

    def limit_span(self, meta: Meta, children: list[Token]) -> str:
        return str(children[0])

    def sequence_rule(self, meta: Meta, children: list[Any]) -> n.Sequence:
        codes, rest = children[0], children[1:]
        scope = rest[0] if isinstance(rest[0], n.Scope) else None
        ranks = tuple(r for r in rest if isinstance(r, n.Rank))
        return n.Sequence(_expr(codes), scope, ranks, span=meta_span(meta))

    def rank(self, meta: Meta, children: list[Any]) -> n.Rank:
        ordinal, mode, modifiers = children
        text = str(ordinal)
        open_ended = text.endswith("+")
        number = int(text.rstrip("+")[:-2])
        return n.Rank(number, open_ended, mode == "with", modifiers, text, span=meta_span(meta))

    def rank_mode(self, meta: Meta, children: list[Token]) -> str:
        return str(children[0])

    def bundle_rule(self, meta: Meta, children: list[Any]) -> n.Bundle:
        return n.Bundle(_expr(children[0]), _expr(children[1]), _opt(children, 2), span=meta_span(meta))

    def pair_rule(self, meta: Meta, children: list[Any]) -> n.Pair:
        scope = next((c for c in children[2:] if isinstance(c, n.Scope)), None)
        bypass = next((c for c in children[2:] if isinstance(c, tuple)), ())
        return n.Pair(_expr(children[0]), _expr(children[1]), scope, bypass, span=meta_span(meta))

    def when_rule(self, meta: Meta, children: list[Any]) -> n.When:
        return n.When(children[0], span=meta_span(meta))

    # -------------------------------------------------------------- tables

    def table_limit_rule(self, meta: Meta, children: list[Any]) -> n.TableLimit:
        return n.TableLimit(children[0], _opt(children, 1), span=meta_span(meta))

    def table_addon_rule(self, meta: Meta, children: list[Any]) -> n.TableAddon:
        return n.TableAddon(children[0], _opt(children, 1), span=meta_span(meta))

    def table_pair_rule(self, meta: Meta, children: list[Any]) -> n.TablePair:
        setting = next((c for c in children[1:] if isinstance(c, Token)), None)
        scope = next((c for c in children[1:] if isinstance(c, n.Scope)), None)
        setting_span = tok_span(setting) if setting is not None else n.NO_SPAN
        name = str(setting) if setting is not None else None
        return n.TablePair(children[0], name, scope, setting_span=setting_span, span=meta_span(meta))

    def table_setting(self, meta: Meta, children: list[Token]) -> Token:
        return children[0]

    def table_ref(self, meta: Meta, children: list[Token]) -> n.TableRef:
        paths = tuple(n.TablePath(unquote(c), span=tok_span(c)) for c in children if c.type == "STRING")
        fmt = next((c for c in children if c.type == "NAME"), None)
        fmt_span = tok_span(fmt) if fmt is not None else n.NO_SPAN
        return n.TableRef(paths, str(fmt) if fmt is not None else None, format_span=fmt_span, span=meta_span(meta))

    def switch_off_mue(self, meta: Meta, children: list[Any]) -> n.SwitchOff:
        return n.SwitchOff("mue", _expr(children[0]), span=meta_span(meta))

    def switch_off_addon(self, meta: Meta, children: list[Any]) -> n.SwitchOff:
        return n.SwitchOff("addon", _expr(children[0]), span=meta_span(meta))

    def switch_off_pair(self, meta: Meta, children: list[Any]) -> n.SwitchOff:
        return n.SwitchOff("pair", _expr(children[0]), _expr(children[1]), span=meta_span(meta))

    def scope(self, meta: Meta, children: list[Any]) -> n.Scope:
        if children[0] in ("claim", "day"):
            provider = children[1] if len(children) > 1 else None
            return n.Scope(children[0], provider, span=meta_span(meta))
        # `by the same provider` alone: the lines of one claim billed by that provider
        return n.Scope("claim", children[0], span=meta_span(meta))

    def scope_span(self, meta: Meta, children: list[Token]) -> str:
        return str(children[0])

    def provider(self, meta: Meta, children: list[Token]) -> str:
        return "rendering" if any(c == "rendering" for c in children) else "billing"

    def modifier_list(self, meta: Meta, children: list[Token]) -> tuple[n.ModifierRef, ...]:
        return tuple(n.ModifierRef(str(c), span=tok_span(c)) for c in _real_tokens(children))

    # -------------------------------------------------------------- clauses and actions

    def rationale(self, meta: Meta, children: list[Token]) -> n.Rationale:
        return n.Rationale(unquote(children[0]), span=meta_span(meta))

    def rule_effective(self, meta: Meta, children: list[Token]) -> n.DateRange:
        return self._date_range(meta, children)

    def deny(self, meta: Meta, children: list[Any]) -> n.Deny:
        return n.Deny(*_adjustment(children), span=meta_span(meta))

    def cut_back(self, meta: Meta, children: list[Any]) -> n.CutBack:
        return n.CutBack(*_adjustment(children), span=meta_span(meta))

    def review(self, meta: Meta, children: list[Token]) -> n.Review:
        return n.Review(unquote(children[0]), span=meta_span(meta))

    def appealable(self, meta: Meta, children: list[Token]) -> bool:
        return True

    # -------------------------------------------------------------- conditions

    def any_of(self, meta: Meta, children: list[n.Condition]) -> n.Condition:
        return children[0] if len(children) == 1 else n.AnyOf(tuple(children), span=meta_span(meta))

    def all_of(self, meta: Meta, children: list[n.Condition]) -> n.Condition:
        return children[0] if len(children) == 1 else n.AllOf(tuple(children), span=meta_span(meta))

    def negate(self, meta: Meta, children: list[n.Condition]) -> n.Not:
        return n.Not(children[0], span=meta_span(meta))

    def has_modifier(self, meta: Meta, children: list[Any]) -> n.HasModifier:
        return n.HasModifier(children[0], span=meta_span(meta))

    def has_diagnosis(self, meta: Meta, children: list[Any]) -> n.HasDiagnosis:
        return n.HasDiagnosis(children[0], span=meta_span(meta))

    def diagnosis_list(self, meta: Meta, children: list[Token]) -> tuple[str, ...]:
        return tuple(str(c) for c in _real_tokens(children))

    def field_in_codes(self, meta: Meta, children: list[Any]) -> n.FieldInCodes:
        field, negated, items = children
        expr = n.SetExpr(items, span=Span(items[0].span.start, items[-1].span.end))
        return n.FieldInCodes(str(field), negated, expr, field_span=tok_span(field), span=meta_span(meta))

    def field_in_values(self, meta: Meta, children: list[Any]) -> n.FieldInValues:
        field, negated, values = children[0], children[1], tuple(children[2:])
        return n.FieldInValues(str(field), negated, values, field_span=tok_span(field), span=meta_span(meta))

    def in_op(self, meta: Meta, children: list[Token]) -> bool:
        return len(children) == 2  # `not in`

    def compare(self, meta: Meta, children: list[Any]) -> n.Compare:
        field, operator, value = children
        return n.Compare(str(field), operator, value, field_span=tok_span(field), span=meta_span(meta))

    def comparison(self, meta: Meta, children: list[Token]) -> str:
        return str(children[0])

    def number(self, meta: Meta, children: list[Token]) -> n.Literal:
        return n.Literal(int(children[0]), span=tok_span(children[0]))

    def string(self, meta: Meta, children: list[Token]) -> n.Literal:
        return n.Literal(unquote(children[0]), span=tok_span(children[0]))

    def date(self, meta: Meta, children: list[Token]) -> n.Literal:
        return n.Literal(to_date(children[0]), span=tok_span(children[0]))

    # -------------------------------------------------------------- tests

    def test_def(self, meta: Meta, children: list[Any]) -> n.TestCase:
        claims = tuple(c for c in children[1:] if isinstance(c, n.TestClaim))
        expectations = tuple(c for c in children[1:] if isinstance(c, n.Expectation))
        return n.TestCase(unquote(children[0]), claims, expectations, span=meta_span(meta))

    def test_claim(self, meta: Meta, children: list[Any]) -> n.TestClaim:
        plan = date = None
        lines = []
        for child in children:
            if isinstance(child, n.TestLine):
                lines.append(child)
            elif child.type == "NAME":
                plan = str(child)
            elif child.type == "DATE":
                date = to_date(child)
        return n.TestClaim(plan, date, tuple(lines), span=meta_span(meta))

    def test_line(self, meta: Meta, children: list[Token]) -> n.TestLine:
        number, code, rest = children[0], children[1], children[2:]
        modifiers = tuple(str(c) for c in rest if c.type == "CODE")
        units = next((int(c[1:]) for c in rest if c.type == "TIMES"), 1)
        date = next((to_date(c) for c in rest if c.type == "DATE"), None)
        return n.TestLine(int(number), str(code), modifiers, units, date, span=meta_span(meta))

    def expectation(self, meta: Meta, children: list[Any]) -> n.Expectation:
        adjustment = str(children[2]) if len(children) > 2 else None
        return n.Expectation(int(children[0]), children[1], adjustment, span=meta_span(meta))

    def line_status(self, meta: Meta, children: list[Token]) -> str:
        return str(children[0])


def _expr(items: tuple[n.SetItem, ...]) -> n.SetExpr:
    return n.SetExpr(items, span=Span(items[0].span.start, items[-1].span.end))


def _opt(children: list[Any], index: int) -> Any:
    return children[index] if len(children) > index else None


def _adjustment(children: list[Any]) -> tuple[str, tuple[str, ...], bool]:
    adjustment = str(children[0])
    rarcs = tuple(str(c) for c in children[1:] if isinstance(c, Token) and c.type == "RARC")
    return adjustment, rarcs, any(c is True for c in children[1:])


def build(tree: Tree[Token]) -> n.Policy:
    """The policy node for a parse tree."""
    return NodeBuilder().transform(tree)
