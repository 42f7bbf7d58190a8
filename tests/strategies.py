"""Hypothesis strategies, valid by construction: claims in the interchange shape and small `.pol` policy texts."""

from __future__ import annotations

import datetime
import string
from collections.abc import Sequence
from typing import Any

import attrs
from hypothesis import strategies as st

from policyc.codes import code_shape, expand_range

# ---------------------------------------------------------------- vocabulary

PER_DIEM_SAMPLES = (
    "S9325",
    "S9326",
    "S9338",
    "S9345",
    "S9379",
    "S9490",
    "S9497",
    "S9500",
    "S9504",
    "S9537",
    "S9542",
    "S9558",
    "S9563",
)
IN_PER_DIEM = ("A4221", "A4305", "A4306", "E0776", "E0779", "E0780", "E0781", "S9810")
OTHER_CODES = ("J3370", "36591")
NURSING = ("99601", "99602")
SEED_CODES: tuple[str, ...] = (*NURSING, *PER_DIEM_SAMPLES, *IN_PER_DIEM, *OTHER_CODES)
# What generated policies name: the seed codes and one code of each CPT II/III and other HCPCS shape.
POLICY_CODES: tuple[str, ...] = (*SEED_CODES, "0001F", "G0299")

MODIFIERS = ("SH", "SJ", "59", "XU", "25", "GT")
PLANS = ("medicaid", "commercial", "medicare")
PROVIDERS = ("1234567893", "1987654321")
RENDERING = ("1111111112", "1222222220")

# Boundaries of the seed policies: the payer policy starts 2024-10-07, the Medicaid quarter is 2026-01-01..03-31,
# and the CMS Medicare MUE table under policies/cms is in force 2024-07-01..09-30.
BOUNDARY_DATES = tuple(
    datetime.date.fromisoformat(d)
    for d in ("2024-10-06", "2024-10-07", "2025-12-31", "2026-01-01", "2026-03-31", "2026-04-01", "2024-09-30")
)
INSIDE_DATES = tuple(datetime.date.fromisoformat(d) for d in ("2026-01-02", "2026-02-15", "2026-03-30"))
DATES = BOUNDARY_DATES + INSIDE_DATES

# Code ranges the generated policies use: one shape and one letter each, low <= high.
RANGES = (
    ("S9325", "S9345"),
    ("S9490", "S9504"),
    ("S9537", "S9563"),
    ("99601", "99602"),
    ("A4305", "A4306"),
    ("E0779", "E0781"),
)
# Adjustments the bundled CARC/RARC list knows.
DENIALS = ("CO-4 N519", "CO-97 M15", "CO-107 N122", "CO-151 N362", "CO-234", "PR-204 N20")


# ---------------------------------------------------------------- codes and lines


def _shaped(pattern: str) -> st.SearchStrategy[str]:
    return st.from_regex(pattern, fullmatch=True)


random_codes: st.SearchStrategy[str] = st.one_of(
    _shaped(r"[0-9]{5}"), _shaped(r"[0-9]{4}[AFMTU]"), _shaped(r"[A-Z][0-9]{4}")
)
# Mostly the seed policies' codes, so rules fire; sometimes any code of a valid shape.
codes: st.SearchStrategy[str] = st.one_of(
    st.sampled_from(NURSING),
    st.sampled_from(SEED_CODES),
    st.sampled_from(SEED_CODES),
    st.sampled_from(PER_DIEM_SAMPLES),
    st.sampled_from(POLICY_CODES),
    random_codes,
)
# For the Medicaid MUEs: mostly 99601 and 99602 on Medicaid claims, where the per-day caps bite.
nursing_codes: st.SearchStrategy[str] = st.one_of(st.sampled_from(NURSING), st.sampled_from(NURSING), codes)
medicaid_mostly: st.SearchStrategy[str] = st.one_of(st.just("medicaid"), st.just("medicaid"), st.sampled_from(PLANS))
modifier_lists: st.SearchStrategy[list[str]] = st.lists(st.sampled_from(MODIFIERS), max_size=3, unique=True)
units: st.SearchStrategy[int] = st.integers(1, 8)
dates: st.SearchStrategy[datetime.date] = st.sampled_from(DATES)
any_plan: st.SearchStrategy[str] = st.sampled_from(PLANS)


@st.composite
def line_dicts(
    draw: st.DrawFn,
    number: int,
    day: datetime.date,
    code_strategy: st.SearchStrategy[str] = codes,
    rendering: bool = False,
) -> dict[str, Any]:
    """One service line in the interchange shape, numbered `number` on `day`."""
    line: dict[str, Any] = {
        "line": number,
        "code": draw(code_strategy),
        "modifiers": draw(modifier_lists),
        "units": draw(units),
        "date": day.isoformat(),
    }
    if rendering and draw(st.booleans()):
        line["rendering_provider"] = draw(st.sampled_from(RENDERING))
    if draw(st.integers(0, 3)) == 0:
        line["place_of_service"] = draw(st.sampled_from(("12", "11", "02")))
    return line


@st.composite
def claims(
    draw: st.DrawFn,
    min_lines: int = 1,
    max_lines: int = 8,
    code_strategy: st.SearchStrategy[str] = codes,
    claim_id: str | None = None,
    plan_strategy: st.SearchStrategy[str] = any_plan,
    date_strategy: st.SearchStrategy[datetime.date] = dates,
) -> dict[str, Any]:
    """A valid claim dict: one billing provider, distinct line numbers, lines on one to three nearby dates."""
    count = draw(st.integers(min_lines, max_lines))
    numbers = draw(st.lists(st.integers(1, 60), min_size=count, max_size=count, unique=True))
    # Few distinct dates per claim, so that per-day rules see several lines together.
    days = draw(st.lists(date_strategy, min_size=1, max_size=3, unique=True))
    rendering = draw(st.booleans())
    lines = [draw(line_dicts(number, draw(st.sampled_from(days)), code_strategy, rendering)) for number in numbers]
    claim: dict[str, Any] = {
        "claim_id": claim_id if claim_id is not None else draw(_shaped(r"C[0-9]{1,6}")),
        "plan": draw(plan_strategy),
        "member_id": draw(st.sampled_from(("M001", "M002"))),
        "billing_provider": draw(st.sampled_from(PROVIDERS)),
        "lines": lines,
    }
    if draw(st.booleans()):
        claim["member_birth_date"] = draw(st.sampled_from(("1950-06-01", "2010-01-01", "2020-02-29")))
        claim["member_sex"] = draw(st.sampled_from(("F", "M", "U")))
    if rendering and draw(st.booleans()):
        claim["rendering_provider"] = draw(st.sampled_from(RENDERING))
    if draw(st.booleans()):
        claim["diagnoses"] = draw(st.lists(st.sampled_from(("Z45.2", "Z452", "E11.9", "J18.9")), max_size=2))
    return claim


def claim_dates(claim: dict[str, Any]) -> list[str]:
    """The distinct dates of service of a claim dict, in first-seen order."""
    return list(dict.fromkeys(line["date"] for line in claim["lines"]))


def free_numbers(claim: dict[str, Any], count: int) -> list[int]:
    """`count` line numbers the claim does not use yet."""
    used = {line["line"] for line in claim["lines"]}
    start = max(used, default=0) + 1
    return [start + i for i in range(count)]


# ---------------------------------------------------------------- JSON junk

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
)


def _json_containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)


json_values = st.recursive(json_scalars, _json_containers, max_leaves=20)
# Values a claim field might plausibly hold, wrong or right, to get past the first checks more often.
field_values = st.one_of(
    json_values,
    st.sampled_from(["", " ", "2026-01-01", "2026-02-30", "20260101", "99601", "s9500", "SH", "sh", "ABC"]),
    st.integers(-3, 10),
    st.decimals(allow_nan=False, allow_infinity=False, places=2),
    st.just([]),
    st.lists(st.sampled_from(MODIFIERS + ("S", "SHX", "")), max_size=6),
)
CLAIM_KEYS = (
    "claim_id",
    "claim_type",
    "plan",
    "member_id",
    "billing_provider",
    "member_birth_date",
    "member_sex",
    "rendering_provider",
    "place_of_service",
    "diagnoses",
    "lines",
)
LINE_KEYS = (
    "line",
    "code",
    "modifiers",
    "units",
    "date",
    "date_to",
    "rendering_provider",
    "place_of_service",
    "charge",
    "ndc",
)


@st.composite
def claim_shaped_junk(draw: st.DrawFn) -> dict[str, Any]:
    """A valid claim with a few fields replaced, removed or misspelt: may or may not stay valid."""
    claim = draw(claims(max_lines=4))
    lines = list(claim["lines"])  # kept: a mutation may replace or remove the claim's `lines`
    for _ in range(draw(st.integers(1, 3))):
        target = claim if draw(st.booleans()) else draw(st.sampled_from(lines))
        keys = CLAIM_KEYS if target is claim else LINE_KEYS
        key = draw(st.sampled_from(keys))
        how = draw(st.sampled_from(("replace", "remove", "misspell")))
        if how == "replace":
            target[key] = draw(field_values)
        elif how == "remove":
            target.pop(key, None)
        else:
            target[key + draw(st.sampled_from(("s", "_", "x")))] = target.pop(key, draw(field_values))
    return claim


@st.composite
def invalid_claims(draw: st.DrawFn) -> object:
    """A record that is certainly no valid claim."""
    kind = draw(st.integers(0, 8))
    if kind == 0:
        return draw(st.one_of(json_scalars, st.lists(json_values, max_size=4)))  # no JSON object at all
    if kind == 1:
        # No `lines` key at all: the one required field missing is enough.
        return draw(st.dictionaries(st.text(max_size=12).filter(lambda k: k != "lines"), json_values, max_size=5))
    claim = draw(claims(max_lines=4))
    line = draw(st.sampled_from(claim["lines"]))
    if kind == 2:
        claim.pop(draw(st.sampled_from(("claim_id", "plan", "member_id", "billing_provider", "lines"))))
    elif kind == 3:
        line["units"] = draw(st.sampled_from((0, -1, 2.0, "2", None, True)))
    elif kind == 4:
        line["code"] = draw(st.sampled_from(("9960", "ABCDE", "S93251", "", "99601 SH")))
    elif kind == 5:
        line["date"] = draw(st.sampled_from(("2026-02-30", "2026/01/01", "20260101", "", 20260101)))
    elif kind == 6:
        claim["lines"].append(dict(line))  # the same line number twice
    elif kind == 7:
        line["modifiers"] = ["SH", "SJ", "59", "XU", "25"]
    else:
        claim["lines"] = []
    return claim


# ---------------------------------------------------------------- generated .pol texts


@attrs.frozen
class GeneratedPolicy:
    """A generated policy text and what the generator put in it (for choosing inputs that exercise it)."""

    text: str
    kinds: tuple[str, ...]  # one rule kind per rule, in order
    codes: tuple[str, ...]  # every code the policy's sets and conditions name (ranges expanded), sorted
    plans: tuple[str, ...]  # the plans it covers (all of PLANS for `plans all`)
    days: tuple[datetime.date, ...]  # the DATES inside its effective dates


@attrs.frozen
class _Sets:
    """The named code sets defined so far and their members."""

    names: tuple[str, ...] = ()
    members: tuple[frozenset[str], ...] = ()


def _quoted(text: str) -> str:
    return '"' + text + '"'


titles = st.text(alphabet=string.ascii_letters + string.digits + " ,.-()'", min_size=1, max_size=30).map(_quoted)


@st.composite
def _set_items(draw: st.DrawFn, sets: _Sets, mentioned: set[str]) -> tuple[str, frozenset[str]]:
    """Set items (codes, ranges, names of sets defined above) and the codes they stand for."""
    parts: list[str] = []
    members: set[str] = set()
    for _ in range(draw(st.integers(1, 3))):
        choice = draw(st.integers(0, 5))
        if choice <= 2 or (choice == 5 and not sets.names):
            code = draw(st.sampled_from(POLICY_CODES))
            parts.append(code)
            members.add(code)
        elif choice <= 4:
            low, high = draw(st.sampled_from(RANGES))
            members.update(expand_range(low, high))
            parts.append(f"{low}..{high}")
        else:
            index = draw(st.integers(0, len(sets.names) - 1))
            parts.append(sets.names[index])
            members |= sets.members[index]
    # `or` joins alternatives only before a plain code (the grammar's ALT_OR); `,` joins anything.
    separators = [
        draw(st.sampled_from((", ", ", ", " or "))) if code_shape(part) is not None else ", " for part in parts[1:]
    ]
    text = parts[0] + "".join(sep + part for sep, part in zip(separators, parts[1:], strict=True))
    mentioned |= members
    return text, frozenset(members)


@st.composite
def _code_set_def(draw: st.DrawFn, sets: _Sets, name: str, mentioned: set[str]) -> tuple[str, frozenset[str]]:
    items, members = draw(_set_items(sets, mentioned))
    title = f" {draw(titles)}" if draw(st.booleans()) else ""
    text = f"codes {name}{title} =\n  {items}"
    # `except` may remove some codes but never every one (an empty set is an error).
    if len(members) > 1 and draw(st.booleans()):
        removed = draw(
            st.lists(st.sampled_from(sorted(members)), min_size=1, max_size=min(3, len(members) - 1), unique=True)
        )
        text += "\n  except " + ", ".join(removed)
        members = members - frozenset(removed)
    return text, members


SCOPES = (
    "on the same day",
    "on the same day by the same provider",
    "on the same day by the same rendering provider",
    "on the same claim",
    "on the same claim by the same provider",
    "by the same provider",
)
LIMIT_SPANS = (
    "per line",
    "per day",
    "per day by the same provider",
    "per day by the same rendering provider",
    "per claim",
    "per claim by the same provider",
)


@st.composite
def _action(draw: st.DrawFn, kind: str) -> str:
    choices = ["deny", "deny", "review"] + (["cut back", "cut back"] if kind == "limit" else [])
    action = draw(st.sampled_from(choices))
    if action == "review":
        return f"review {draw(titles)}"
    appealable = " appealable" if draw(st.booleans()) else ""
    return f"{action} {draw(st.sampled_from(DENIALS))}{appealable}"


def _modifier_list(draw: st.DrawFn, min_size: int = 1, max_size: int = 3) -> list[str]:
    return draw(st.lists(st.sampled_from(MODIFIERS), min_size=min_size, max_size=max_size, unique=True))


def _joined(items: Sequence[str], draw: st.DrawFn) -> str:
    separators = [draw(st.sampled_from((", ", " or "))) for _ in items[1:]]
    return items[0] + "".join(sep + item for sep, item in zip(separators, items[1:], strict=True))


@st.composite
def _ranks(draw: st.DrawFn) -> str:
    """Ranks numbered 1st, 2nd ... in order, each asking for its own modifiers; at most one `without`."""
    count = draw(st.integers(1, 4))
    subsets = draw(
        st.lists(
            st.frozensets(st.sampled_from(MODIFIERS), min_size=1, max_size=2),
            min_size=count,
            max_size=count,
            unique=True,
        )
    )
    without_at = draw(st.sampled_from([None, *range(count)]))
    open_last = draw(st.booleans())
    lines = []
    for index, subset in enumerate(subsets):
        number = index + 1
        ordinal = f"{number}{ {1: 'st', 2: 'nd', 3: 'rd'}.get(number, 'th') }"
        if open_last and number == count:
            ordinal += "+"
        mode = "without" if index == without_at else "with"
        lines.append(f"    {ordinal:<5} {mode} {_joined(sorted(subset), draw)}")
    return "\n".join(lines)


ATOMS = (
    "modifier",
    "code_in",
    "code_not_in",
    "units",
    "plan_eq",
    "plan_in",
    "date",
    "age",
    "sex",
    "pos",
    "diagnosis",
)


@st.composite
def _atom(draw: st.DrawFn, sets: _Sets, mentioned: set[str]) -> str:
    kind = draw(st.sampled_from(ATOMS))
    if kind == "modifier":
        return "line has modifier " + _joined(_modifier_list(draw), draw)
    if kind in ("code_in", "code_not_in"):
        items, _ = draw(_set_items(sets, mentioned))
        return f"line.code {'in' if kind == 'code_in' else 'not in'} {items}"
    if kind == "units":
        return f"line.units {draw(st.sampled_from(('>', '>=', '<', '<=', '=', '!=')))} {draw(st.integers(0, 9))}"
    if kind == "plan_eq":
        return f'claim.plan {draw(st.sampled_from(("=", "!=")))} "{draw(st.sampled_from(PLANS))}"'
    if kind == "plan_in":
        plans = draw(st.lists(st.sampled_from(PLANS), min_size=1, max_size=3, unique=True))
        return f"claim.plan {draw(st.sampled_from(('in', 'not in')))} (" + ", ".join(f'"{p}"' for p in plans) + ")"
    if kind == "date":
        return f"line.date {draw(st.sampled_from(('>=', '<', '=')))} {draw(dates).isoformat()}"
    if kind == "age":
        return f"member.age {draw(st.sampled_from(('<', '>=')))} {draw(st.integers(0, 80))}"
    if kind == "sex":
        return f'member.sex = "{draw(st.sampled_from(("F", "M", "U")))}"'
    if kind == "pos":
        return f'line.place_of_service = "{draw(st.sampled_from(("12", "11", "02")))}"'
    return "claim has diagnosis " + _joined(
        draw(st.lists(st.sampled_from(("Z45.2", "E11.9", "J18")), min_size=1, max_size=2, unique=True)), draw
    )


def _compound(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """`not (c)`, `(a) and (b)`, `(a) or (b)`: every operand in parentheses, so no precedence question arises."""
    return st.one_of(
        inner.map(lambda c: f"not ({c})"),
        st.tuples(inner, inner, st.sampled_from(("and", "or"))).map(lambda t: f"({t[0]}) {t[2]} ({t[1]})"),
    )


def _condition(sets: _Sets, mentioned: set[str]) -> st.SearchStrategy[str]:
    return st.recursive(_atom(sets, mentioned), _compound, max_leaves=4)


@st.composite
def _rule(
    draw: st.DrawFn,
    sets: _Sets,
    rule_id: str,
    kind: str,
    mentioned: set[str],
    policy_dates: tuple[datetime.date, datetime.date | None],
) -> str:
    title = f" {draw(titles)}" if draw(st.booleans()) else ""
    if kind == "addon":
        addons, _ = draw(_set_items(sets, mentioned))
        primaries, _ = draw(_set_items(sets, mentioned))
        body = f"addon {addons} requires {primaries} {draw(st.sampled_from(SCOPES))}"
    elif kind == "limit":
        items, _ = draw(_set_items(sets, mentioned))
        cap = draw(st.integers(0, 6))
        unit = draw(st.sampled_from(("unit", "units"))) if cap == 1 else "units"
        body = f"limit {items} to {cap} {unit} {draw(st.sampled_from(LIMIT_SPANS))}"
    elif kind == "sequence":
        items, _ = draw(_set_items(sets, mentioned))
        body = f"sequence {items} {draw(st.sampled_from(SCOPES))}:\n{draw(_ranks())}"
    elif kind == "bundle":
        bundled, _ = draw(_set_items(sets, mentioned))
        into, _ = draw(_set_items(sets, mentioned))
        body = f"bundle {bundled} into {into} {draw(st.sampled_from(SCOPES))}"
    elif kind == "pair":
        column1, _ = draw(_set_items(sets, mentioned))
        column2, _ = draw(_set_items(sets, mentioned))
        body = f"pair {column1} with {column2} {draw(st.sampled_from(SCOPES))}"
        if draw(st.booleans()):
            body += " unless modifier " + _joined(_modifier_list(draw), draw)
    else:
        body = "when " + draw(_condition(sets, mentioned))
    clauses = [draw(_action(kind))]
    if draw(st.integers(0, 3)) == 0:
        clauses.append(f"rationale {draw(titles)}")
    if draw(st.integers(0, 3)) == 0:
        # A rule's dates must share a day with its policy's (POL221).
        policy_start, policy_until = policy_dates
        start = draw(st.sampled_from([d for d in DATES if policy_until is None or d <= policy_until]))
        until = draw(st.sampled_from([None, *(d for d in DATES if d >= start and d >= policy_start)]))
        clauses.append(f"effective {start.isoformat()}" + (f" until {until.isoformat()}" if until else ""))
    clauses = draw(st.permutations(clauses))
    return f"rule {rule_id}{title}:\n  {body}\n" + "".join(f"  {c}\n" for c in clauses)


RULE_KINDS = ("addon", "limit", "sequence", "bundle", "pair", "when")


@st.composite
def policy_texts(draw: st.DrawFn, require: Sequence[str] = (), max_rules: int = 5) -> GeneratedPolicy:
    """A small valid `.pol` text: a header, up to three code sets and one to `max_rules` rules of any kind.

    Every kind in `require` appears at least once.
    """
    policy_id = draw(st.sampled_from(("gen", "generated", "gen-policy", "g1")))
    header = [f"policy {policy_id}" + (f" {draw(titles)}" if draw(st.booleans()) else "")]
    fields = []
    if draw(st.booleans()):
        fields.append(f"  payer     {draw(titles)}")
    if draw(st.booleans()):
        fields.append(f"  source    {draw(titles)}")
    if draw(st.booleans()):
        fields.append("  plans     all")
        plans = list(PLANS)
    else:
        plans = draw(st.lists(st.sampled_from(PLANS), min_size=1, max_size=3, unique=True))
        fields.append("  plans     " + ", ".join(plans))
    start = draw(st.sampled_from(DATES[:4]))
    until = draw(st.sampled_from([None, None, *(d for d in DATES if d >= start)]))
    fields.append(f"  effective {start.isoformat()}" + (f" until {until.isoformat()}" if until else ""))
    header.extend(draw(st.permutations(fields)))

    sets = _Sets()
    blocks: list[str] = []
    mentioned: set[str] = set()
    for index in range(draw(st.integers(0, 3))):
        name = f"set{index + 1}" if draw(st.booleans()) else f"group_{index + 1}"
        text, members = draw(_code_set_def(sets, name, mentioned))
        blocks.append(text)
        sets = _Sets((*sets.names, name), (*sets.members, members))

    kinds = list(require) + draw(
        st.lists(st.sampled_from(RULE_KINDS), min_size=0 if require else 1, max_size=max_rules)
    )
    kinds = kinds[: max(max_rules, len(require))]
    kinds = draw(st.permutations(kinds))
    for index, kind in enumerate(kinds, start=1):
        rule_id = draw(st.sampled_from((f"r{index}", f"rule-{index}", f"edit_{index}")))
        blocks.append(draw(_rule(sets, rule_id, kind, mentioned, (start, until))))
    text = "\n".join(header) + "\n\n" + "\n\n".join(blocks) + "\n"
    days = tuple(d for d in DATES if start <= d and (until is None or d <= until))
    return GeneratedPolicy(text, tuple(kinds), tuple(sorted(mentioned)), tuple(plans), days)


def claims_for(policy: GeneratedPolicy, **kwargs: Any) -> st.SearchStrategy[dict[str, Any]]:
    """Claims aimed at a generated policy: mostly its own codes, plans and dates, sometimes anything."""
    own_codes = st.sampled_from(policy.codes) if policy.codes else codes
    own_plans = st.sampled_from(policy.plans)
    own_days = st.sampled_from(policy.days) if policy.days else dates
    return claims(
        code_strategy=st.one_of(own_codes, own_codes, codes),
        plan_strategy=st.one_of(own_plans, own_plans, any_plan),
        date_strategy=st.one_of(own_days, own_days, dates),
        **kwargs,
    )


def policy_cases(
    require: Sequence[str] = (), max_rules: int = 5, **claim_args: Any
) -> st.SearchStrategy[tuple[GeneratedPolicy, dict[str, Any]]]:
    """A generated policy and a claim aimed at it."""
    return policy_texts(require=require, max_rules=max_rules).flatmap(
        lambda policy: st.tuples(st.just(policy), claims_for(policy, **claim_args))
    )
