"""What a rule body names and does, for lint: the code sets and modifiers it writes, and which lines it finds."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import attrs

from policyc import ir
from policyc import nodes as n

EXTENT_ORDER = {"line": 0, "day": 1, "claim": 2}


# ------------------------------------------------------------------ walking the nodes


def body_sets(body: n.RuleBody) -> list[n.SetExpr]:
    """Every set of codes a rule body names, conditions included."""
    if isinstance(body, n.Addon):
        return [body.addons, body.primaries]
    if isinstance(body, (n.Limit, n.Sequence)):
        return [body.codes]
    if isinstance(body, n.Bundle):
        return [body.bundled, body.into]
    if isinstance(body, n.Pair):
        return [body.column1, body.column2]
    if isinstance(body, n.SwitchOff):
        return [body.codes] if body.column2 is None else [body.codes, body.column2]
    if isinstance(body, (n.TableLimit, n.TableAddon, n.TablePair)):
        return []  # a table's codes are in its file, not written in the policy
    return [leaf.codes for leaf in _leaves(body.condition) if isinstance(leaf, n.FieldInCodes)]


def body_modifiers(body: n.RuleBody) -> list[n.ModifierRef]:
    """Every modifier a rule body names."""
    if isinstance(body, n.Sequence):
        return [m for rank in body.ranks for m in rank.modifiers]
    if isinstance(body, n.Pair):
        return list(body.bypass)
    if isinstance(body, n.When):
        return [m for leaf in _leaves(body.condition) if isinstance(leaf, n.HasModifier) for m in leaf.modifiers]
    return []


def _leaves(cond: n.Condition) -> Iterator[n.Condition]:
    if isinstance(cond, (n.AllOf, n.AnyOf)):
        for item in cond.items:
            yield from _leaves(item)
    elif isinstance(cond, n.Not):
        yield from _leaves(cond.item)
    else:
        yield cond


def set_refs(expr: n.SetExpr) -> set[str]:
    return {item.name for item in (*expr.items, *expr.excluded) if isinstance(item, n.SetRef)}



# ------------------------------------------------------------------ what one rule does, for comparing rules


def semantic_key(value: object) -> object:
    """A value equal for two IR parts that mean the same: code sets compare by their members, not their text."""
    if isinstance(value, ir.SetExprIR):
        return ("codes", value.members)
    if isinstance(value, ir.TableIR):
        # A table is its rows: two bindings of the same bytes, read the same way, mean the same.
        return ("table", value.kind, value.digest)
    cls = type(value)
    if attrs.has(cls):
        return (cls.__name__, *(semantic_key(getattr(value, f.name)) for f in attrs.fields(cls)))
    if isinstance(value, tuple):
        return tuple(semantic_key(v) for v in value)
    return value


def scope_covers(wide: ir.ScopeIR, narrow: ir.ScopeIR) -> bool:
    """Whether every group of lines `narrow` looks at together lies inside one group of `wide`."""
    provider_ok = wide.provider is None or wide.provider == narrow.provider
    return EXTENT_ORDER[wide.extent] >= EXTENT_ORDER[narrow.extent] and provider_ok


def body_covers(a: ir.BodyIR, b: ir.BodyIR) -> bool:
    """Whether body `a` finds every line body `b` finds (so `b` adds nothing when `a` acts at least as hard)."""
    if semantic_key(a) == semantic_key(b):
        return True
    if isinstance(a, ir.LimitIR) and isinstance(b, ir.LimitIR):
        # More codes, a wider scope and a lower cap: a's total is over its cap whenever b's is over b's.
        return a.codes.members >= b.codes.members and a.cap <= b.cap and scope_covers(a.scope, b.scope)
    if isinstance(a, ir.BundleIR) and isinstance(b, ir.BundleIR):
        wider = a.bundled.members >= b.bundled.members and a.into.members >= b.into.members
        return wider and scope_covers(a.scope, b.scope)
    if isinstance(a, ir.PairIR) and isinstance(b, ir.PairIR):
        wider = a.column1.members >= b.column1.members and a.column2.members >= b.column2.members
        return wider and scope_covers(a.scope, b.scope) and a.bypass <= b.bypass
    reach = targets(b)
    return bool(reach) and reach is not None and reach <= always_hit(a)


def always_hit(body: ir.BodyIR) -> frozenset[str]:
    """The codes every line of which the body finds, whatever else the claim holds."""
    if isinstance(body, ir.LimitIR) and body.cap == 0:
        return body.codes.members
    if isinstance(body, ir.WhenIR) and isinstance(body.condition, ir.CondCodeIn) and not body.condition.negated:
        return body.condition.codes.members
    return frozenset()


def targets(body: ir.BodyIR) -> frozenset[str] | None:
    """The codes of the lines a body can act on; None when it may act on a line of any code."""
    return ir.target_codes(body)


def code_index(
    rules: Sequence[ir.RuleIR], codes_of: Callable[[ir.RuleIR], frozenset[str] | None]
) -> dict[str, list[int]]:
    """Rule positions by code, so a rule is compared only with rules sharing a code (tables hold thousands)."""
    index: dict[str, list[int]] = {}
    for position, rule in enumerate(rules):
        for code in codes_of(rule) or ():
            index.setdefault(code, []).append(position)
    return index
