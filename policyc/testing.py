"""Hypothesis strategies for QA: claims aimed at a loaded policy's edges, any valid claim, any valid policy."""

from __future__ import annotations

import datetime
import functools
import os
from collections.abc import Iterable, Sequence
from typing import Any

from hypothesis import strategies as st

from policyc import ir
from policyc.claims import MAX_MODIFIERS
from policyc.codes import expand_range
from policyc.compiler import read_source, to_ir
from policyc.diagnostics import PolicyError
from policyc.engine import Engine
from policyc.reference import MODELLED, ReferenceEngine
from policyc.runtime import CompiledPolicy

__all__ = ["claims", "claims_for", "policies", "policy_irs"]

Json = dict[str, Any]
DateRange = tuple[datetime.date, datetime.date | None]
Target = tuple[ir.PolicyIR, ir.RuleIR]  # a rule and the policy holding it
DAY = datetime.timedelta(days=1)

# ---------------------------------------------------------------- vocabulary shared by claims and policies

CODES = (
    "99601", "99602", "96365", "96366", "0836T", "88177", "0001F", "0003F",
    "S9325", "S9338", "S9379", "S9490", "S9500", "S9542", "S9563",
    "A4221", "A4305", "A4306", "E0776", "E0779", "E0781", "S9810", "J3370", "G0299",
)
RANGES = (("S9325", "S9345"), ("S9490", "S9504"), ("99601", "99602"), ("E0779", "E0781"), ("0001F", "0005F"))
MODIFIERS = ("SH", "SJ", "59", "XU", "25", "RT")
PLANS = ("medicaid", "commercial", "medicare")
OUT_OF_SCOPE_PLAN = "self-pay"  # a plan no generated policy names
PROVIDERS = ("1234567893", "1987654321")
RENDERING = ("1111111112", "1222222220")
PLACES = ("12", "11", "02")
DIAGNOSES = ("Z45.2", "Z452", "E11.9", "J18.9")
NDCS = ("00409-4888-20", "63323-0262-01")
BIRTH_DATES = ("1950-06-01", "2008-03-15", "2020-02-29")
DATES = tuple(
    datetime.date.fromisoformat(d)
    for d in ("2024-10-06", "2024-10-07", "2025-03-02", "2025-12-31", "2026-01-01", "2026-01-05", "2026-03-31")
)
DENIALS = ("CO-4 N519", "CO-97 M15", "CO-107 N122", "CO-151 N362", "CO-234", "PR-204 N20", "CO-11")
TITLES = ("per diem visits", "at most 4 units a day", "a \\\"quoted\\\" title", "(rows 1-3), Q1")


# ---------------------------------------------------------------- arbitrary claims


def claims(
    codes: Sequence[str] = CODES,
    plans: Sequence[str] = PLANS,
    dates: Sequence[datetime.date] = DATES,
    min_lines: int = 1,
    max_lines: int = 8,
) -> st.SearchStrategy[Json]:
    """Any valid claim: distinct line numbers, lines on one to three of `dates`, every optional field sometimes."""

    @st.composite
    def build(draw: st.DrawFn) -> Json:
        days = draw(st.lists(st.sampled_from(dates), min_size=1, max_size=3, unique=True))
        count = draw(st.integers(min_lines, max_lines))
        lines = [draw(_line(draw(st.sampled_from(codes)), draw(st.sampled_from(days)))) for _ in range(count)]
        return draw(_claim(draw(st.sampled_from(plans)), lines))

    return build()


LINE_EXTRAS = st.fixed_dictionaries({}, optional={
    "rendering_provider": st.sampled_from(RENDERING),
    "place_of_service": st.sampled_from(PLACES),
    "ndc": st.sampled_from(NDCS),
    "charge": st.sampled_from(("0", "99.99", "100", "100.01", "2500.00")),
})
CLAIM_EXTRAS = st.fixed_dictionaries({"billing_provider": st.sampled_from(PROVIDERS)}, optional={
    "claim_type": st.sampled_from(("professional", "institutional")),
    "member_birth_date": st.sampled_from(BIRTH_DATES),
    "member_sex": st.sampled_from(("F", "M", "U")),
    "rendering_provider": st.sampled_from(RENDERING),
    "place_of_service": st.sampled_from(PLACES),
    "diagnoses": st.lists(st.sampled_from(DIAGNOSES), max_size=2),
})
SOME_MODIFIERS = st.lists(st.sampled_from(MODIFIERS), max_size=3, unique=True)
UNITS = st.integers(1, 6)


@st.composite
def _line(
    draw: st.DrawFn, code: str, day: datetime.date, modifiers: Sequence[str] | None = None, units: int | None = None
) -> Json:
    """A line without its number; modifiers and units drawn unless given, optional fields sometimes."""
    return {
        "code": code,
        "modifiers": list(modifiers if modifiers is not None else draw(SOME_MODIFIERS)),
        "units": units if units is not None else draw(UNITS),
        "date": day.isoformat(),
        **draw(LINE_EXTRAS),
    }


@st.composite
def _claim(draw: st.DrawFn, plan: str, lines: list[Json]) -> Json:
    """A claim around `lines`: numbers them (not always in list order) and draws the claim's own fields."""
    numbers = draw(st.lists(st.integers(1, 99), min_size=len(lines), max_size=len(lines), unique=True))
    claim: Json = {
        "claim_id": f"C-{numbers[0]}",
        "plan": plan,
        "member_id": "M-1",
        "lines": [{"line": number, **line} for number, line in zip(numbers, lines, strict=True)],
        **draw(CLAIM_EXTRAS),
    }
    claim["lines"] = claim.pop("lines")  # last, so a printed claim reads top-down
    return claim


# ---------------------------------------------------------------- claims aimed at a policy's rules


EngineLike = Engine | ReferenceEngine | Iterable[ir.PolicyIR]


def policy_irs(engine: EngineLike) -> tuple[ir.PolicyIR, ...]:
    """The IR of every policy of an engine (`policyc.load`, `policyc.reference.load`) or of IR given as is.

    A compiled engine keeps no IR, so each policy's file is read again from the path it was loaded
    from (relative to the working directory, as findings name it).
    """
    found: Iterable[ir.PolicyIR | CompiledPolicy] = (
        engine.policies if isinstance(engine, (Engine, ReferenceEngine)) else engine
    )
    return tuple(policy if isinstance(policy, ir.PolicyIR) else _read_again(policy) for policy in found)


def _read_again(policy: CompiledPolicy) -> ir.PolicyIR:
    if not os.path.isfile(policy.path):
        raise ValueError(f"policy `{policy.id}` was not loaded from a file ({policy.path}): build the strategy "
                         "from policyc.reference.load(...) or from the policy's IR (policyc.compiler.to_ir)")
    try:
        loaded = to_ir(read_source(policy.path))
    except PolicyError as error:
        raise ValueError(f"{policy.path} no longer compiles:\n{error.render()}") from None
    if loaded.id != policy.id:
        raise ValueError(f"{policy.path} now holds policy `{loaded.id}`, not `{policy.id}`: load the engine again")
    return loaded


def claims_for(engine: EngineLike, max_extra_lines: int = 2) -> st.SearchStrategy[Json]:
    """Valid claims aimed at the engine's rules, each near an edge of one or two of them.

    Units at a cap, one over and split over several lines; an add-on alone, beside its primary, beside a
    primary another rule denies; every rank class of a sequence; a bundled code with and without the
    code it is bundled into; pairs with and without a bypass modifier; the values a `when` condition
    compares; dates on each side of every effective boundary; plans in and out of each policy's scope.
    """
    policies = policy_irs(engine)
    # No strategy aims at table rules' rows yet: claims reach them through their random codes.
    targets = tuple((policy, rule) for policy in policies for rule in policy.rules if isinstance(rule.body, MODELLED))
    if not targets:
        return claims()
    every_code = sorted({code for _, rule in targets for code in _codes_of(rule)} | set(CODES))

    # Per rule: its policy's plans and its days, worked out once.
    aims = st.sampled_from([(rule, _plan_for(policy, policies), _day_for(policy, rule, targets))
                            for policy, rule in targets])

    @st.composite
    def build(draw: st.DrawFn) -> Json:
        rule, plans, days = draw(aims)
        plan, day = draw(plans), draw(days)
        lines = draw(_aimed_lines(rule, day, targets))
        if draw(st.integers(0, 2)) == 0:  # a second rule's edge on the same claim
            other, _, other_days = draw(aims)
            lines += draw(_aimed_lines(other, draw(other_days), targets))
        for _ in range(draw(st.integers(0, max_extra_lines))):
            lines.append(draw(_line(draw(st.sampled_from(every_code)), draw(st.sampled_from((day, day + DAY))))))
        claim = draw(_claim(plan, draw(st.permutations(lines))))
        if isinstance(rule.body, ir.WhenIR):
            claim.update(draw(_facts(rule.body.condition, day, "claim")))
        return claim

    return build()


def _plan_for(policy: ir.PolicyIR, policies: Sequence[ir.PolicyIR]) -> st.SearchStrategy[str]:
    """One of the policy's plans, or a plan outside it; under `plans all`, any plan another policy names."""
    if policy.plans is None:
        named = set(PLANS).union(*(p.plans for p in policies if p.plans is not None))
        return st.sampled_from((*sorted(named), OUT_OF_SCOPE_PLAN))
    return st.one_of(st.sampled_from(sorted(policy.plans)), st.just(OUT_OF_SCOPE_PLAN))


def _day_for(policy: ir.PolicyIR, rule: ir.RuleIR, targets: Sequence[Target]) -> st.SearchStrategy[datetime.date]:
    """A day the rule is in force (where other rules start and end, so rules meet), or either side of a boundary."""
    ends = [d for _, other in targets for d in (other.start, other.start + DAY, other.end) if d is not None]
    inside = sorted({d for d in ends if rule.start <= d and (rule.end is None or d <= rule.end)})
    edges = {rule.start - DAY, policy.start - DAY, policy.start}
    edges |= {d + DAY for d in (rule.end, policy.end) if d is not None and d < datetime.date.max}
    boundary = st.sampled_from(sorted(edges))
    return st.one_of(st.sampled_from(inside), st.sampled_from(inside), boundary) if inside else boundary


def _members(expr: ir.SetExprIR) -> st.SearchStrategy[str]:
    return _pick(expr.members)


@functools.lru_cache(maxsize=4096)
def _pick(values: frozenset[str]) -> st.SearchStrategy[str]:
    """One of the values, in sorted order (so shrinking leads to the smallest); built once per set."""
    return st.sampled_from(sorted(values))


def _codes_of(rule: ir.RuleIR) -> set[str]:
    body = rule.body
    if isinstance(body, ir.WhenIR):
        return set(body.dispatch_codes or ())
    sets = [getattr(body, name) for name in ("addons", "primaries", "codes", "bundled", "into", "column1", "column2")
            if hasattr(body, name)]
    return set().union(*(s.members for s in sets))


@st.composite
def _aimed_lines(draw: st.DrawFn, rule: ir.RuleIR, day: datetime.date, targets: Sequence[Target]) -> list[Json]:
    """Lines that put `rule` at one of its edges on `day`."""
    body = rule.body
    if isinstance(body, ir.LimitIR):
        return draw(_at_cap(body, day))
    if isinstance(body, ir.AddonIR):
        return draw(_addon_case(body, day, targets))
    if isinstance(body, ir.SequenceIR):
        return draw(_sequence_case(body, day))
    if isinstance(body, (ir.BundleIR, ir.PairIR)):
        return draw(_anchored_case(body, day))
    assert isinstance(body, ir.WhenIR), "claims_for aims only at the rule kinds the reference models"
    return draw(_when_case(body, day))


@st.composite
def _at_cap(draw: st.DrawFn, body: ir.LimitIR, day: datetime.date) -> list[Json]:
    """Units at the cap, one over (or one under), on one line or split over several."""
    total = max(1, body.cap + draw(st.sampled_from((0, 0, 1, 1, -1, 2))))
    if body.scope.extent == "line":
        return [draw(_line(draw(_members(body.codes)), day, units=total))]
    parts = draw(st.integers(1, min(3, total)))
    cuts = sorted(draw(st.sets(st.integers(1, max(1, total - 1)), min_size=parts - 1, max_size=parts - 1)))
    sizes = [b - a for a, b in zip([0, *cuts], [*cuts, total], strict=True)]
    lines = [draw(_line(draw(_members(body.codes)), day, units=size)) for size in sizes]
    if body.scope.provider == "rendering" and draw(st.booleans()):
        for line in lines:
            line["rendering_provider"] = draw(st.sampled_from(RENDERING))
    return lines


@st.composite
def _addon_case(draw: st.DrawFn, body: ir.AddonIR, day: datetime.date, targets: Sequence[Target]) -> list[Json]:
    """An add-on line alone, beside its primary, beside a primary on another day, or beside a denied primary."""
    lines = [draw(_line(draw(_members(body.addons)), day))]
    case = draw(st.sampled_from(("alone", "primary", "primary", "other day", "denied primary")))
    if case == "alone":
        return lines
    primary = draw(_line(draw(_members(body.primaries)), day if case != "other day" else day + DAY, modifiers=()))
    if body.scope.provider == "rendering" and draw(st.booleans()):
        primary["rendering_provider"] = lines[0]["rendering_provider"] = draw(st.sampled_from(RENDERING))
    lines.append(primary)
    if case == "denied primary":
        lines += draw(_denial_of(primary, targets))
    return lines


@st.composite
def _denial_of(draw: st.DrawFn, line: Json, targets: Sequence[Target]) -> list[Json]:
    """Change `line`, or add lines beside it, so that some other rule denies it (as far as rules allow)."""
    day = datetime.date.fromisoformat(line["date"])
    ways: list[str] = []
    for _, rule in targets:
        body, code = rule.body, line["code"]
        if isinstance(body, ir.LimitIR) and code in body.codes.members:
            ways.append(f"units:{body.cap + 1}")
        elif isinstance(body, ir.SequenceIR) and code in body.codes.members:
            ways.append("twin")
        elif isinstance(body, ir.PairIR) and code in body.column2.members:
            ways.append("column1:" + min(body.column1.members))
        elif isinstance(body, ir.BundleIR) and code in body.bundled.members:
            ways.append("into:" + min(body.into.members))
        elif isinstance(body, ir.WhenIR) and body.dispatch_modifiers:
            ways.append("modifier:" + min(body.dispatch_modifiers))
    how, _, value = draw(st.sampled_from(ways or ["units:99"])).partition(":")
    if how == "units":
        line["units"] = max(1, int(value))
    elif how == "modifier":
        line["modifiers"] = [value]
    elif how == "twin":
        return [dict(line)]
    else:
        return [draw(_line(value, day, modifiers=()))]
    return []


@st.composite
def _sequence_case(draw: st.DrawFn, body: ir.SequenceIR, day: datetime.date) -> list[Json]:
    """One to (ranks + 2) lines, each in a rank's class, sometimes in no rank's class, with stray modifiers."""
    classes = [sorted(rank.modifiers) for rank in body.ranks]
    classes.append(sorted(body.modifiers))  # every sequence modifier at once: usually fits no rank
    if all(rank.modifiers for rank in body.ranks):
        classes.append([])  # carrying none of them, with no `without` rank
    lines = []
    for _ in range(draw(st.integers(1, len(body.ranks) + 2))):
        carried = draw(st.sampled_from(classes)) + draw(st.lists(st.sampled_from(("RT", "59")), max_size=1))
        carried = sorted(set(carried))[:MAX_MODIFIERS]  # a claim line carries at most 4
        lines.append(draw(_line(draw(_members(body.codes)), day, modifiers=carried)))
    return lines


@st.composite
def _anchored_case(draw: st.DrawFn, body: ir.BundleIR | ir.PairIR, day: datetime.date) -> list[Json]:
    """A bundled (column 2) line with or without its anchor, same day or not, bypassed or not."""
    target, anchor = (body.bundled, body.into) if isinstance(body, ir.BundleIR) else (body.column2, body.column1)
    lines = [draw(_line(draw(_members(target)), day, modifiers=()))]
    case = draw(st.sampled_from(("alone", "anchor", "anchor", "anchor other day")))
    if case == "alone":
        return lines
    anchor_day = day + DAY if case == "anchor other day" else day
    lines.append(draw(_line(draw(_members(anchor)), anchor_day, modifiers=())))
    bypass = sorted(body.bypass) if isinstance(body, ir.PairIR) else []
    if draw(st.booleans()) and bypass:
        draw(st.sampled_from(lines))["modifiers"] = [draw(st.sampled_from(bypass))]
    if body.scope.provider == "rendering" and draw(st.booleans()):
        for line in lines:
            line["rendering_provider"] = draw(st.sampled_from(RENDERING))
    return lines


def _atoms(cond: ir.CondIR) -> Iterable[ir.CondIR]:
    if isinstance(cond, (ir.CondAll, ir.CondAny)):
        for item in cond.items:
            yield from _atoms(item)
    elif isinstance(cond, ir.CondNot):
        yield from _atoms(cond.item)
    else:
        yield cond


@st.composite
def _when_case(draw: st.DrawFn, body: ir.WhenIR, day: datetime.date) -> list[Json]:
    """One or two lines using the codes, modifiers and line values the condition names."""
    codes, modifiers = set(CODES), set(MODIFIERS)
    for atom in _atoms(body.condition):
        if isinstance(atom, ir.CondCodeIn):
            codes |= atom.codes.members
        elif isinstance(atom, ir.CondModifier):
            modifiers |= atom.modifiers
    named = sorted(body.dispatch_codes) if body.dispatch_codes else sorted(codes)
    lines = []
    for _ in range(draw(st.integers(1, 2))):
        carried = draw(st.lists(_pick(frozenset(modifiers)), max_size=2, unique=True))
        line = draw(_line(draw(st.sampled_from(named)), day, modifiers=carried))
        line.update(draw(_facts(body.condition, day, "line")))
        lines.append(line)
    return lines


def _near(value: object) -> list[object]:
    """Values on each side of a compared number or date, and the value itself."""
    if isinstance(value, bool) or not isinstance(value, (int, datetime.date)):
        return [value]
    step: Any = DAY if isinstance(value, datetime.date) else 1
    return [value - step, value, value + step]


def _fact(field: str, value: object) -> tuple[str, str, object] | None:
    """Where a claim holds `field` = `value` ("line" or "claim", the JSON key, the JSON value), if it can."""
    if field == "line.units" and type(value) is int and value > 0:
        return "line", "units", value
    if field == "line.charge" and type(value) is int and value >= 0:
        return "line", "charge", str(value)
    if field == "line.date" and isinstance(value, datetime.date):
        return "line", "date", value.isoformat()
    where, _, key = field.partition(".")
    valid = {"place_of_service": PLACES, "type": ("professional", "institutional"), "sex": ("F", "M", "U")}
    if not isinstance(value, str) or (key in valid and value not in valid[key]) or key in ("plan", "age"):
        return None
    return ("line" if where == "line" else "claim"), {"type": "claim_type", "sex": "member_sex"}.get(key, key), value


@st.composite
def _facts(draw: st.DrawFn, cond: ir.CondIR, day: datetime.date, where: str) -> Json:
    """Line (or claim) fields set to, or next to, what the condition compares; diagnoses; ages at a bound."""
    facts: Json = {}
    for atom in _atoms(cond):
        if not draw(st.booleans()):
            continue
        if isinstance(atom, ir.CondDiagnosis) and where == "claim":
            facts["diagnoses"] = [draw(_pick(atom.diagnoses))]
        elif isinstance(atom, ir.CondCompare) and atom.field == "member.age" and where == "claim":
            age = max(0, draw(st.sampled_from(_near(atom.value))))  # type: ignore[call-overload]
            born = day.replace(year=max(1, day.year - age), day=min(day.day, 28))
            born += draw(st.sampled_from((-DAY, datetime.timedelta(0), DAY)))
            facts["member_birth_date"] = min(born, day).isoformat()
        elif isinstance(atom, (ir.CondCompare, ir.CondValueIn)):
            values = _near(atom.value) if isinstance(atom, ir.CondCompare) else list(atom.values)
            fact = _fact(atom.field, draw(st.sampled_from(values)))
            if fact is not None and fact[0] == where:
                facts[fact[1]] = fact[2]
    return facts


# ---------------------------------------------------------------- arbitrary policies

RULE_KINDS = ("addon", "limit", "sequence", "bundle", "pair", "when")
SCOPES = (
    "on the same day", "on the same day by the same provider", "on the same day by the same rendering provider",
    "on the same claim", "on the same claim by the same rendering provider", "by the same provider",
)
PERS = ("per line", "per day", "per day by the same provider", "per day by the same rendering provider",
        "per claim", "per claim by the same rendering provider")


def policies(
    kinds: Sequence[str] = RULE_KINDS, max_rules: int = 5, policy_id: str | None = None
) -> st.SearchStrategy[str]:
    """Any valid `.pol` text: a header, up to three code sets (ranges, `except`), rules of the given kinds.

    Rules carry every action, optional titles, rationales and their own effective dates; `when` rules
    nest `and`, `or` and `not` over every field. Give each policy its own `policy_id` to load several.
    """

    @st.composite
    def build(draw: st.DrawFn) -> str:
        name = policy_id or draw(st.sampled_from(("gen", "gen-policy", "g1")))
        header = [f"policy {name}" + draw(_title())]
        dates = draw(_dates())
        fields = [f"  plans     {draw(_plans())}", f"  effective {_written(dates)}"]
        fields += [f"  {key} \"{draw(st.sampled_from(TITLES))}\"" for key in ("payer", "source") if draw(st.booleans())]
        header += draw(st.permutations(fields))
        sets: list[tuple[str, frozenset[str]]] = []
        blocks = []
        for index in range(draw(st.integers(0, 3))):
            text, members = draw(_set_items(sets))
            set_name = f"set_{index + 1}"
            excluded = sorted(members)[: draw(st.integers(0, len(members) - 1))] if len(members) > 1 else []
            text += f"\n  except {', '.join(excluded)}" if excluded else ""
            blocks.append(f"codes {set_name}{draw(_title())} =\n  {text}")
            sets.append((set_name, members - frozenset(excluded)))
        chosen = draw(st.lists(st.sampled_from(kinds), min_size=1, max_size=max_rules))
        blocks += [draw(_rule(f"r{index}", kind, sets, dates)) for index, kind in enumerate(chosen, start=1)]
        return "\n".join(header) + "\n\n" + "\n\n".join(blocks) + "\n"

    return build()


def _title() -> st.SearchStrategy[str]:
    return st.one_of(st.just(""), st.sampled_from(TITLES).map(lambda t: f' "{t}"'))


def _plans() -> st.SearchStrategy[str]:
    return st.just("all") | st.lists(st.sampled_from(PLANS), min_size=1, max_size=2, unique=True).map(", ".join)


@st.composite
def _dates(draw: st.DrawFn, within: DateRange | None = None) -> DateRange:
    """A start and an optional end; with `within`, dates sharing at least a day with it."""
    low, high = within or (DATES[0], None)
    start = draw(st.sampled_from([d for d in DATES if high is None or d <= high]))
    return start, draw(st.sampled_from([None, *(d for d in DATES if d >= max(start, low))]))


def _written(dates: DateRange) -> str:
    return dates[0].isoformat() + (f" until {dates[1].isoformat()}" if dates[1] else "")


@st.composite
def _set_items(draw: st.DrawFn, sets: Sequence[tuple[str, frozenset[str]]]) -> tuple[str, frozenset[str]]:
    """Codes, ranges and names of sets defined above, joined by `,` (or `or` before a plain code)."""
    parts: list[str] = []
    members: set[str] = set()
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(("code", "code", "range", "set") if sets else ("code", "code", "range")))
        if kind == "code":
            parts.append(draw(st.sampled_from(CODES)))
            members.add(parts[-1])
        elif kind == "range":
            low, high = draw(st.sampled_from(RANGES))
            parts.append(f"{low}..{high}")
            members.update(expand_range(low, high))
        else:
            name, named = draw(st.sampled_from(sets))
            parts.append(name)
            members |= named
    text = parts[0]
    for part in parts[1:]:
        text += draw(st.sampled_from((", ", " or "))) + part if part in CODES else ", " + part
    return text, frozenset(members)


def _joined(draw: st.DrawFn, values: Sequence[str], separators: Sequence[str] = (", ", " or ")) -> str:
    text = values[0]
    for value in values[1:]:
        text += draw(st.sampled_from(separators)) + value
    return text


def _modifier_list(draw: st.DrawFn) -> str:
    return _joined(draw, draw(st.lists(st.sampled_from(MODIFIERS), min_size=1, max_size=2, unique=True)))


@st.composite
def _rule(
    draw: st.DrawFn, rule_id: str, kind: str, sets: Sequence[tuple[str, frozenset[str]]], dates: DateRange
) -> str:
    items = _set_items(sets).map(lambda pair: pair[0])
    scope = st.sampled_from(SCOPES)
    if kind == "addon":
        body = f"addon {draw(items)} requires {draw(items)} {draw(scope)}"
    elif kind == "limit":
        body = f"limit {draw(items)} to {draw(st.integers(0, 5))} units {draw(st.sampled_from(PERS))}"
    elif kind == "sequence":
        body = f"sequence {draw(items)} {draw(scope)}:\n{draw(_ranks())}"
    elif kind == "bundle":
        body = f"bundle {draw(items)} into {draw(items)} {draw(scope)}"
    elif kind == "pair":
        body = f"pair {draw(items)} with {draw(items)} {draw(scope)}"
        body += f" unless modifier {_modifier_list(draw)}" if draw(st.booleans()) else ""
    else:
        body = "when " + draw(_condition(sets))
    actions = ["deny", "review"] + (["cut back"] if kind == "limit" else [])
    action = draw(st.sampled_from(actions))
    if action == "review":
        clauses = [f'review "{draw(st.sampled_from(TITLES))}"']
    else:
        clauses = [f"{action} {draw(st.sampled_from(DENIALS))}" + (" appealable" if draw(st.booleans()) else "")]
    if draw(st.booleans()):
        clauses.append(f'rationale "{draw(st.sampled_from(TITLES))}"')
    if draw(st.integers(0, 2)) == 0:
        clauses.append(f"effective {_written(draw(_dates(dates)))}")
    clauses = draw(st.permutations(clauses))
    return f"rule {rule_id}{draw(_title())}:\n  {body}\n" + "".join(f"  {clause}\n" for clause in clauses)


@st.composite
def _ranks(draw: st.DrawFn) -> str:
    """Ranks 1st, 2nd ... in order, each asking for its own modifiers, at most one `without`, maybe open last."""
    count = draw(st.integers(1, 4))
    wanted = draw(st.lists(st.frozensets(st.sampled_from(MODIFIERS[:4]), min_size=1, max_size=2),
                           min_size=count, max_size=count, unique=True))
    without = draw(st.sampled_from([None, *range(count)]))
    open_last = draw(st.booleans())
    lines = []
    for index, modifiers in enumerate(wanted, start=1):
        label = f"{index}{ {1: 'st', 2: 'nd', 3: 'rd'}.get(index, 'th') }{'+' if open_last and index == count else ''}"
        mode = "without" if index - 1 == without else "with"
        lines.append(f"    {label} {mode} {_joined(draw, sorted(modifiers))}")
    return "\n".join(lines)


COMPARISONS = ("=", "!=", "<", "<=", ">", ">=")


@st.composite
def _atom(draw: st.DrawFn, sets: Sequence[tuple[str, frozenset[str]]]) -> str:
    """One test of a line or claim field; every field the language reads, with valid kinds."""
    kind = draw(st.integers(0, 7))
    if kind == 0:
        return f"line has modifier {_modifier_list(draw)}"
    if kind == 1:
        return f"line.code {draw(st.sampled_from(('in', 'not in')))} {draw(_set_items(sets))[0]}"
    if kind == 2:
        diagnoses = draw(st.lists(st.sampled_from(DIAGNOSES), min_size=1, max_size=2))
        return f"claim has diagnosis {', '.join(diagnoses)}"
    if kind == 3:
        field = draw(st.sampled_from(("line.units", "member.age", "line.charge")))
        return f"{field} {draw(st.sampled_from(COMPARISONS))} {draw(st.sampled_from((0, 1, 2, 4, 17, 18, 100)))}"
    if kind == 4:
        return f"line.date {draw(st.sampled_from(COMPARISONS))} {draw(st.sampled_from(DATES)).isoformat()}"
    field, values = draw(st.sampled_from((
        ("claim.plan", PLANS), ("line.place_of_service", PLACES), ("claim.place_of_service", PLACES),
        ("member.sex", ("F", "M", "U")), ("claim.type", ("professional", "institutional")),
        ("line.rendering_provider", RENDERING), ("claim.billing_provider", PROVIDERS), ("line.ndc", NDCS),
    )))
    if kind == 5:
        return f'{field} {draw(st.sampled_from(("=", "!=")))} "{draw(st.sampled_from(values))}"'
    chosen = draw(st.lists(st.sampled_from(values), min_size=1, max_size=2, unique=True))
    return f"{field} {draw(st.sampled_from(('in', 'not in')))} (" + ", ".join(f'"{v}"' for v in chosen) + ")"


def _condition(sets: Sequence[tuple[str, frozenset[str]]]) -> st.SearchStrategy[str]:
    return st.recursive(
        _atom(sets),
        lambda inner: st.one_of(
            inner.map(lambda c: f"not ({c})"),
            st.tuples(inner, st.sampled_from(("and", "or")), inner).map(lambda t: f"({t[0]}) {t[1]} ({t[2]})"),
        ),
        max_leaves=4,
    )
