"""Properties of the engine, the compiler and the CLI, checked on the seed policies and on generated ones."""

from __future__ import annotations

import copy
import functools
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import attrs
import pytest
import strategies as gen
from click.testing import CliRunner
from hypothesis import assume, event, example, given, settings
from hypothesis import strategies as st

import policyc
from policyc import ir
from policyc.claimfile import decode_json
from policyc.cli import main
from policyc.compiler import read_source, to_ir
from policyc.engine import judge
from policyc.results import STATUS_STRENGTH, ClaimResult, LineResult
from policyc.source import SourceFile

REPO = Path(__file__).resolve().parent.parent
SEED_POLICY_FILES = sorted((REPO / "policies").rglob("*.pol"))
GENERATED_NAME = "gen.pol"


# ---------------------------------------------------------------- helpers


@functools.lru_cache(maxsize=256)
def compile_generated(text: str) -> policyc.Engine:
    """An engine for one generated policy text (cached: Hypothesis replays texts while shrinking)."""
    return policyc.Engine([policyc.compile_text(text, GENERATED_NAME)])


@functools.lru_cache(maxsize=256)
def generated_rules(text: str) -> dict[str, ir.RuleIR]:
    """The IR of a generated policy's rules, by finding name (`<policy-id>/<rule-id>`)."""
    policy = to_ir(SourceFile(GENERATED_NAME, text))
    return {f"{policy.id}/{rule.id}": rule for rule in policy.rules}


@functools.cache
def seed_rules() -> dict[str, ir.RuleIR]:
    rules: dict[str, ir.RuleIR] = {}
    for path in SEED_POLICY_FILES:
        policy = to_ir(read_source(path))
        rules.update({f"{policy.id}/{rule.id}": rule for rule in policy.rules})
    return rules


def by_line(result: ClaimResult) -> dict[int, LineResult]:
    assert result.status == "processed", result.to_dict()
    return {line.line: line for line in result.lines}


def verdict_of(line: LineResult) -> tuple[str, int, frozenset[tuple[str, str | None]]]:
    return line.status, line.allowed_units, frozenset((f.rule, f.carc) for f in line.findings)


def findings_of_kind(line: LineResult, kind: str) -> frozenset[str]:
    return frozenset(f.rule for f in line.findings if f.kind == kind)


def aggregate_limits(rules: Mapping[str, ir.RuleIR]) -> dict[str, ir.RuleIR]:
    """The limit rules that may sum units over a day or a claim: written caps other than per line, and MUE tables."""
    return {
        name: rule
        for name, rule in rules.items()
        if (isinstance(rule.body, ir.LimitIR) and rule.body.scope.extent != "line")
        or isinstance(rule.body, ir.TableLimitIR)
    }


def is_aggregate(rule: ir.RuleIR, code: str) -> bool:
    """Whether the rule sums `code`'s units over its scope: an MUE table does so for MAI 2 and 3 rows only."""
    if isinstance(rule.body, ir.TableLimitIR):
        row = rule.body.table.data.rows.get(code)  # type: ignore[union-attr]
        return row is not None and row.mai != 1
    return True


def cap_verdicts(
    claim: Mapping[str, Any], result: ClaimResult, limits: Mapping[str, ir.RuleIR]
) -> set[tuple[str, str | None, str | None]]:
    """Where each aggregate cap fired: (rule, date, code) for a deny or review, coarser for a cut back.

    A denying cap fires on every line of its scope, so the verdict per date and code is exact. A cut back
    trims the highest-numbered lines of the scope, so which code or day it lands on may move when line
    numbers change; only whether it fired in the day (per-day) or on the claim (per-claim) is kept.
    """
    dates = {line["line"]: line["date"] for line in claim["lines"]}
    fired = set()
    for line in result.lines:
        for finding in line.findings:
            rule = limits.get(finding.rule)
            if rule is None or not is_aggregate(rule, line.code):
                continue
            assert isinstance(rule.body, (ir.LimitIR, ir.TableLimitIR))
            day = dates[line.line] if rule.body.scope.extent == "day" else None
            code = line.code if rule.action.kind != "cut back" else None
            fired.add((finding.rule, day, code))
    return fired


def with_lines(claim: Mapping[str, Any], lines: list[dict[str, Any]]) -> dict[str, Any]:
    changed = copy.deepcopy(dict(claim))
    changed["lines"] = lines
    return changed


# A generated policy with a claim aimed at it: mostly the policy's own codes and plans.
generated_cases = gen.policy_cases()


# ---------------------------------------------------------------- 1. line order


def results_both_ways(
    engine: policyc.Engine, claim: dict[str, Any], order: list[int]
) -> tuple[dict[int, LineResult], dict[int, LineResult]]:
    """The claim's line results as given and with its lines in `order` (numbers kept), by line number."""
    shuffled = with_lines(claim, [claim["lines"][i] for i in order])
    before, after = by_line(engine.check(claim)), by_line(engine.check(shuffled))
    assert before.keys() == after.keys()
    return before, after


def assert_order_free(engine: policyc.Engine, claim: dict[str, Any], order: list[int]) -> None:
    before, after = results_both_ways(engine, claim, order)
    event("some line has a finding" if any(line.findings for line in before.values()) else "no finding")
    for number, line in before.items():
        assert verdict_of(line) == verdict_of(after[number]), number
        # Stronger: the whole line result, the findings' messages included.
        assert line.to_dict() == after[number].to_dict(), number


@st.composite
def orders_of(draw: st.DrawFn, claim: dict[str, Any]) -> tuple[dict[str, Any], list[int]]:
    return claim, draw(st.permutations(range(len(claim["lines"]))))


@st.composite
def shuffled_cases(draw: st.DrawFn) -> tuple[str, dict[str, Any], list[int]]:
    """A generated policy's text, a claim aimed at it and an order for the claim's lines."""
    policy, claim = draw(generated_cases)
    return policy.text, claim, draw(st.permutations(range(len(claim["lines"]))))


@given(case=gen.claims(min_lines=2).flatmap(orders_of))
def test_line_order_never_changes_a_result_seed(
    seed_engine: policyc.Engine, case: tuple[dict[str, Any], list[int]]
) -> None:
    """Shuffling a claim's lines (keeping their numbers) leaves every line's status, allowed units and the
    set of (rule, CARC) findings; indeed the whole line result, messages included."""
    assert_order_free(seed_engine, *case)


# Shrunk from the generated property below: a claim-wide sequence over lines on two dates.
CLAIM_WIDE_SEQUENCE = (
    "policy gen\n  plans medicaid\n  effective 2024-10-07\n\n"
    "rule r2:\n  sequence 99601 on the same claim:\n    1st   without SH\n    2nd   with SH\n  deny CO-4 N519\n"
)
TWO_DAYS_OF_99601 = {
    "claim_id": "C0",
    "plan": "medicaid",
    "member_id": "M001",
    "billing_provider": "1234567893",
    "lines": [
        {"line": 1, "code": "99601", "modifiers": [], "units": 1, "date": "2024-10-07"},
        {"line": 2, "code": "99601", "modifiers": [], "units": 1, "date": "2025-12-31"},
    ],
}


# Found by this property: the claim-wide sequence named the date of whichever of its lines came first on the
# claim (rank_verdicts used members[0].date), so the message changed with line order; fixed in c8b89de.
@example(case=(CLAIM_WIDE_SEQUENCE, TWO_DAYS_OF_99601, [1, 0]))
@given(case=shuffled_cases())
def test_line_order_never_changes_a_result_generated(case: tuple[str, dict[str, Any], list[int]]) -> None:
    """Shuffling a claim's lines (keeping their numbers) leaves every line's status, allowed units and
    (rule, CARC) findings under any policy; indeed the whole line result, messages included."""
    text, claim, order = case
    assert_order_free(compile_generated(text), claim, order)


# ---------------------------------------------------------------- 2. splitting units


@st.composite
def split_of(draw: st.DrawFn, claim: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The claim and the same claim with one line of n >= 2 units split into lines whose units add up to n."""
    claim = copy.deepcopy(claim)
    splittable = [i for i, line in enumerate(claim["lines"]) if line["units"] >= 2]
    if not splittable:
        index = draw(st.integers(0, len(claim["lines"]) - 1))
        claim["lines"][index]["units"] = draw(st.integers(2, 8))
        splittable = [index]
    index = draw(st.sampled_from(splittable))
    original = claim["lines"][index]
    parts = draw(st.integers(2, original["units"]))
    cuts = sorted(
        draw(st.lists(st.integers(1, original["units"] - 1), min_size=parts - 1, max_size=parts - 1, unique=True))
    )
    sizes = [b - a for a, b in zip([0, *cuts], [*cuts, original["units"]], strict=True)]
    used = {line["line"] for line in claim["lines"]}
    keep_number = draw(st.booleans())
    fresh = draw(
        st.lists(
            st.integers(1, 120).filter(lambda n: n not in used),
            min_size=len(sizes) - keep_number,
            max_size=len(sizes) - keep_number,
            unique=True,
        )
    )
    numbers = ([original["line"]] if keep_number else []) + fresh
    pieces = [
        {**copy.deepcopy(original), "line": number, "units": size} for number, size in zip(numbers, sizes, strict=True)
    ]
    lines = claim["lines"][:index] + pieces + claim["lines"][index + 1 :]
    return claim, with_lines(claim, lines)


def assert_split_keeps_caps(
    engine: policyc.Engine, rules: Mapping[str, ir.RuleIR], pair: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    claim, split = pair
    limits = aggregate_limits(rules)
    before = cap_verdicts(claim, engine.check(claim), limits)
    after = cap_verdicts(split, engine.check(split), limits)
    event("a cap fired" if before else "no cap fired")
    assert before == after


@given(pair=gen.claims(code_strategy=gen.nursing_codes, plan_strategy=gen.medicaid_mostly).flatmap(split_of))
def test_splitting_units_never_changes_a_day_cap_seed(
    seed_engine: policyc.Engine, pair: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    """Splitting a line of n units into lines (same code, modifiers, date) adding up to n keeps each day cap's verdict.

    Per-line caps and sequence rules may rightly change when a line is split; only per-day caps are compared.
    """
    assert_split_keeps_caps(seed_engine, seed_rules(), pair)


@given(case=gen.policy_cases(require=("limit",)).flatmap(lambda c: st.tuples(st.just(c[0]), split_of(c[1]))))
def test_splitting_units_never_changes_a_cap_generated(
    case: tuple[gen.GeneratedPolicy, tuple[dict[str, Any], dict[str, Any]]],
) -> None:
    """Splitting a line's units never changes whether a per-day or per-claim cap fired (per date and code if denied)."""
    policy, pair = case
    assert_split_keeps_caps(compile_generated(policy.text), generated_rules(policy.text), pair)


# ---------------------------------------------------------------- 3. adding units


@st.composite
def bumped(draw: st.DrawFn, claim: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The claim and the same claim with one line's units increased."""
    index = draw(st.integers(0, len(claim["lines"]) - 1))
    lines = copy.deepcopy(claim["lines"])
    lines[index]["units"] += draw(st.integers(1, 8))
    return claim, with_lines(claim, lines)


def assert_more_units_keep_limits(engine: policyc.Engine, pair: tuple[dict[str, Any], dict[str, Any]]) -> None:
    claim, more = pair
    before, after = by_line(engine.check(claim)), by_line(engine.check(more))
    event("a limit fired before" if any(findings_of_kind(l, "limit") for l in before.values()) else "no limit before")
    for number, line in before.items():
        lost = findings_of_kind(line, "limit") - findings_of_kind(after[number], "limit")
        assert not lost, f"line {number} lost {sorted(lost)}"


@given(pair=gen.claims(code_strategy=gen.nursing_codes, plan_strategy=gen.medicaid_mostly).flatmap(bumped))
def test_adding_units_never_pays_a_denied_cap_seed(
    seed_engine: policyc.Engine, pair: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    """Increasing one line's units never makes a limit finding disappear from any line."""
    assert_more_units_keep_limits(seed_engine, pair)


@given(case=gen.policy_cases(require=("limit",)).flatmap(lambda c: st.tuples(st.just(c[0]), bumped(c[1]))))
def test_adding_units_never_pays_a_denied_cap_generated(
    case: tuple[gen.GeneratedPolicy, tuple[dict[str, Any], dict[str, Any]]],
) -> None:
    """Increasing one line's units never makes a limit finding (deny, cut back or review) disappear from any line."""
    policy, pair = case
    assert_more_units_keep_limits(compile_generated(policy.text), pair)


# ---------------------------------------------------------------- 4. adding a payable primary


def non_addon_findings(line: LineResult) -> frozenset[tuple[str, str, int | None]]:
    return frozenset((f.rule, f.action, f.allowed_units) for f in line.findings if f.kind != "addon")


@given(
    claim=gen.claims(max_lines=6, code_strategy=gen.nursing_codes, plan_strategy=gen.medicaid_mostly), data=st.data()
)
def test_adding_a_payable_primary_never_denies_an_addon_seed(
    seed_engine: policyc.Engine, claim: dict[str, Any], data: st.DataObject
) -> None:
    """Adding 99601 x1 (no modifiers) on the date of a 99602 line, when the new 99601 line is itself paid,
    never gives any line (in particular a 99602 line without one) an add-on finding.

    "Payable" is what makes this true: a 99601 that pushes the Medicaid 99601 MUE over its cap denies
    every 99601 of the day, itself included, and the cascade then rightly denies the 99602.
    """
    day = data.draw(st.sampled_from(gen.claim_dates(claim)))
    addon_number, primary_number = gen.free_numbers(claim, 2)
    claim["lines"].append(
        {
            "line": addon_number,
            "code": "99602",
            "modifiers": data.draw(gen.modifier_lists),
            "units": data.draw(gen.units),
            "date": day,
        }
    )
    added = with_lines(
        claim, [*claim["lines"], {"line": primary_number, "code": "99601", "modifiers": [], "units": 1, "date": day}]
    )
    before, after = by_line(seed_engine.check(claim)), by_line(seed_engine.check(added))
    assume(after[primary_number].status == "paid")
    event(
        "the 99602 had an add-on finding before" if findings_of_kind(before[addon_number], "addon") else "it had none"
    )
    for number, line in before.items():
        # Under the seed policies a paid 99601 on its own changes no other rule's verdict on the old lines.
        assert non_addon_findings(line) == non_addon_findings(after[number]), number
        gained = findings_of_kind(after[number], "addon") - findings_of_kind(line, "addon")
        assert not gained, f"line {number} ({line.code}) gained {sorted(gained)}"
    assert not findings_of_kind(after[addon_number], "addon")


@given(case=gen.policy_cases(require=("addon",), max_lines=6), data=st.data())
def test_adding_a_payable_primary_never_denies_an_addon_generated(
    case: tuple[gen.GeneratedPolicy, dict[str, Any]], data: st.DataObject
) -> None:
    """Adding a line of an add-on rule's primary (x1, no modifiers, same date and rendering provider as an
    add-on line) never gives an old line an add-on finding, when the new line stands (is not denied nor
    cut to nothing) and changes no other rule's finding on the old lines.

    The second condition is part of "payable" for arbitrary policies: a new primary can legitimately
    deny an old line through a bundle, pair, sequence or cap, and that old line may be another add-on's
    only primary. Without such side effects, the lines that stand can only grow, so add-on findings can
    only shrink.
    """
    policy, claim = case
    engine = compile_generated(policy.text)
    addon_rules = [r for r in generated_rules(policy.text).values() if isinstance(r.body, ir.AddonIR)]
    rule = data.draw(st.sampled_from(addon_rules))
    assert isinstance(rule.body, ir.AddonIR)
    addon_code = data.draw(st.sampled_from(sorted(rule.body.addons.members)))
    primary_code = data.draw(st.sampled_from(sorted(rule.body.primaries.members)))
    day = data.draw(st.sampled_from(gen.claim_dates(claim)))
    addon_number, primary_number = gen.free_numbers(claim, 2)
    addon_line: dict[str, Any] = {
        "line": addon_number,
        "code": addon_code,
        "modifiers": data.draw(gen.modifier_lists),
        "units": data.draw(gen.units),
        "date": day,
    }
    primary_line: dict[str, Any] = {
        "line": primary_number,
        "code": primary_code,
        "modifiers": [],
        "units": 1,
        "date": day,
    }
    if data.draw(st.booleans()):
        addon_line["rendering_provider"] = primary_line["rendering_provider"] = data.draw(
            st.sampled_from(gen.RENDERING)
        )
    claim["lines"].append(addon_line)
    added = with_lines(claim, [*claim["lines"], primary_line])
    before, after = by_line(engine.check(claim)), by_line(engine.check(added))
    new = after[primary_number]
    assume(new.status != "denied" and new.allowed_units > 0)
    assume(all(non_addon_findings(line) == non_addon_findings(after[n]) for n, line in before.items()))
    event(
        "the add-on line had an add-on finding before"
        if findings_of_kind(before[addon_number], "addon")
        else "it had none"
    )
    for number, line in before.items():
        gained = findings_of_kind(after[number], "addon") - findings_of_kind(line, "addon")
        assert not gained, f"line {number} ({line.code}) gained {sorted(gained)}"


# ---------------------------------------------------------------- 5. one result per claim

tagged_records = st.lists(
    st.one_of(
        gen.claims(max_lines=4).map(lambda c: (True, c)),
        gen.invalid_claims().map(lambda c: (False, c)),
    ),
    max_size=8,
)


def assert_one_result_each(engine: policyc.Engine, records: list[tuple[bool, object]]) -> None:
    inputs = []
    for position, (valid, record) in enumerate(records):
        if valid:
            assert isinstance(record, dict)
            record = {**record, "claim_id": f"claim-{position}"}
        inputs.append((valid, record))
    results = list(engine.check_many(record for _, record in inputs))
    assert len(results) == len(inputs)
    for (valid, record), result in zip(inputs, results, strict=True):
        if valid:
            assert isinstance(record, dict)
            assert result.status == "processed", result.to_dict()
            assert result.claim_id == record["claim_id"]
            assert [line.line for line in result.lines] == [line["line"] for line in record["lines"]]
        else:
            assert result.status == "rejected", (record, result.to_dict())
            assert result.errors, "a rejection says why"
            assert not result.lines
        assert result == engine.check(record)  # type: ignore[arg-type]
    json.dumps([result.to_dict() for result in results])


@given(records=tagged_records)
def test_every_claim_yields_one_result_in_order_seed(
    seed_engine: policyc.Engine, records: list[tuple[bool, object]]
) -> None:
    """check_many yields exactly one result per input, in input order: valid claims processed, junk rejected."""
    assert_one_result_each(seed_engine, records)


@given(policy=gen.policy_texts(), records=tagged_records)
def test_every_claim_yields_one_result_in_order_generated(
    policy: gen.GeneratedPolicy, records: list[tuple[bool, object]]
) -> None:
    """check_many yields exactly one result per input, in input order, under any policy."""
    assert_one_result_each(compile_generated(policy.text), records)


# ---------------------------------------------------------------- 6. status is the strongest finding


def assert_status_is_strongest(result: ClaimResult) -> None:
    # Read before the line results exist: the engine's verdicts must tell the denials the lines will show.
    denials = result.denials()
    for status in sorted({line.status for line in result.lines}):
        event(f"a line is {status}")
    for line in result.lines:
        strengths = [STATUS_STRENGTH[f.status] for f in line.findings]
        expected = max(strengths, default=0)
        assert STATUS_STRENGTH[line.status] == expected, line.to_dict()
        assert 0 <= line.allowed_units <= line.units, line.to_dict()
        if line.status == "denied":
            assert line.allowed_units == 0
        elif line.status == "paid":
            assert line.allowed_units == line.units and not line.findings
        elif line.status == "reduced":
            assert line.allowed_units < line.units
        else:
            assert line.allowed_units == line.units
        for finding in line.findings:
            assert finding.rule and finding.source and finding.message
            if finding.action != "review":
                assert finding.group and finding.carc
    denied = {line.line: {f.adjustment for f in line.findings if f.action == "deny"} for line in result.lines}
    assert denials == {number: found for number, found in denied.items() if found}


@given(claim=gen.claims())
def test_status_is_the_strongest_finding_seed(seed_engine: policyc.Engine, claim: dict[str, Any]) -> None:
    """A line is denied if any finding denies, else reduced, else review, else paid; denied allows 0 units, paid all."""
    assert_status_is_strongest(seed_engine.check(claim))


@given(case=generated_cases)
def test_status_is_the_strongest_finding_generated(case: tuple[gen.GeneratedPolicy, dict[str, Any]]) -> None:
    """A line's status is its strongest finding's under any policy; allowed units 0 when denied, all when paid."""
    policy, claim = case
    assert_status_is_strongest(compile_generated(policy.text).check(claim))


# ---------------------------------------------------------------- 7. the engine never raises

anything = st.one_of(gen.json_values, gen.claim_shaped_junk())


def assert_checks_quietly(engine: policyc.Engine, value: object) -> None:
    result = engine.check(value)  # type: ignore[arg-type]
    event(result.status)
    assert result.status in ("processed", "rejected")
    if result.status == "rejected":
        assert result.errors and not result.lines
    else:
        assert isinstance(value, dict)
        assert len(result.lines) == len(value["lines"])
    json.dumps(result.to_dict())


@given(value=anything)
def test_the_engine_never_raises_seed(seed_engine: policyc.Engine, value: object) -> None:
    """engine.check on any JSON value (or claim with fields replaced by any JSON) returns processed or rejected."""
    assert_checks_quietly(seed_engine, value)


@given(policy=gen.policy_texts(), value=anything)
def test_the_engine_never_raises_generated(policy: gen.GeneratedPolicy, value: object) -> None:
    """engine.check on any JSON value returns processed or rejected under any policy."""
    assert_checks_quietly(compile_generated(policy.text), value)


# ---------------------------------------------------------------- 8. the CLI never prints a traceback


@pytest.fixture(scope="module")
def cli_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cli")


def run_on_file(directory: Path, suffix: str, content: str | bytes, args: list[str]) -> Any:
    """Write `content` to a new file in `directory` and run `policyc <args> <file>`."""
    fd, name = tempfile.mkstemp(dir=directory, suffix=suffix)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content if isinstance(content, bytes) else content.encode("utf-8"))
        return CliRunner().invoke(main, [*args, name])
    finally:
        os.unlink(name)


def assert_no_traceback(result: Any, codes: Iterable[int]) -> None:
    output = result.output + (result.stderr or "")
    assert result.exception is None or isinstance(result.exception, SystemExit), output
    assert result.exit_code in codes, output
    assert "Traceback" not in output, output


def _json(value: object) -> str:
    """JSON text for a value; the Decimals some junk holds are written as numbers."""
    return json.dumps(value, default=float)


def _ndjson(values: list[object]) -> str:
    return "\n".join(_json(v) for v in values)


json_texts = st.one_of(
    gen.json_values.map(_json),
    st.lists(st.one_of(gen.claims(max_lines=3), gen.claim_shaped_junk(), gen.json_values), max_size=4).map(_json),
    st.lists(st.one_of(gen.claims(max_lines=3), gen.claim_shaped_junk(), gen.json_values), max_size=4).map(_ndjson),
    # A JSON document cut short, or with junk between records.
    st.tuples(st.lists(gen.claims(max_lines=2), min_size=1, max_size=3).map(_json), st.floats(0, 1)).map(
        lambda t: t[0][: int(len(t[0]) * t[1])]
    ),
    st.tuples(st.lists(gen.claims(max_lines=2), min_size=1, max_size=3), st.text(max_size=10)).map(
        lambda t: ("\n" + t[1] + "\n").join(_json(c) for c in t[0])
    ),
)
claims_file_contents = st.one_of(
    st.text(),
    st.binary().map(lambda b: b.decode("utf-8", errors="replace")),
    json_texts,
)


# Rich reads `[...]` in printed text as markup and a console cannot encode a lone surrogate (a JSON
# `\\ud800` escape decodes to one): both reach the table through a claim's own text.
MARKUP_IN_A_CODE = json.dumps(
    {
        "claim_id": "c1",
        "plan": "medicaid",
        "member_id": "m",
        "billing_provider": "p",
        "lines": [{"line": 1, "code": "[/]", "units": 1, "date": "2026-01-01"}],
    }
)
SURROGATE_IN_A_CLAIM_ID = MARKUP_IN_A_CODE.replace('"c1"', '"c\\ud800"').replace('"[/]"', '"99601"')


# Found by this property: both examples crashed `--format table` (internal error, exit 3) until c8b89de.
@example(content=MARKUP_IN_A_CODE, output_format="table")
@example(content=SURROGATE_IN_A_CLAIM_ID, output_format="table")
@given(
    content=st.one_of(claims_file_contents, st.binary()),
    output_format=st.sampled_from(("json", "ndjson", "table")),
)
def test_cli_check_never_prints_a_traceback(cli_dir: Path, content: str | bytes, output_format: str) -> None:
    """`policyc check --policy policies [--format F] FILE` on any file (text, JSON-ish text or raw bytes: not
    UTF-8, UTF-16, NUL) exits 0 or 2 and prints no traceback, whatever the output format."""
    args = ["check", "--policy", "policies", "--format", output_format]
    assert_no_traceback(run_on_file(cli_dir, ".json", content, args), {0, 2})


# `[red]` was read as markup and the reason showed got '' until c8b89de.
def test_cli_table_shows_a_rejected_value_verbatim(cli_dir: Path) -> None:
    """The table quotes a rejected value as the claim wrote it, brackets included."""
    content = MARKUP_IN_A_CODE.replace("[/]", "[red]")
    result = run_on_file(cli_dir, ".json", content, ["check", "--policy", "policies", "--format", "table"])
    assert result.exit_code == 0
    assert "got '[red]'" in result.stdout, result.stdout


def _strict_json(value: object) -> str:
    """JSON text for a value, Decimals as numbers; ValueError for NaN or infinity, which JSON cannot write."""
    return json.dumps(value, allow_nan=False, default=float)


def _records_text(records: list[dict[str, Any]], as_array: bool) -> str:
    return _strict_json(records) if as_array else "\n".join(_strict_json(r) for r in records)


@given(
    records=st.lists(
        st.one_of(
            gen.claims(max_lines=3), gen.claim_shaped_junk(), gen.invalid_claims().filter(lambda r: isinstance(r, dict))
        ),
        max_size=5,
    ),
    as_array=st.booleans(),
)
def test_cli_check_yields_one_result_per_record(cli_dir: Path, records: list[dict[str, Any]], as_array: bool) -> None:
    """`policyc check --format ndjson` on a JSON array or NDJSON of N objects prints N results, in order."""
    try:
        content = _records_text(records, as_array)
    except ValueError:  # NaN or infinity somewhere in the junk: no JSON text for it
        assume(False)
        raise
    # One small policy: what is counted here is records, and the national tables only slow each run down.
    args = ["check", "--policy", "policies/payer", "--format", "ndjson"]
    result = run_on_file(cli_dir, ".json", content, args)
    assert_no_traceback(result, {0})
    printed = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    assert len(printed) == len(records)
    for record, shown in zip(records, printed, strict=True):
        expected = policyc.parse_claim(decode_json(_strict_json(record)))
        assert shown["status"] == ("rejected" if isinstance(expected, policyc.Rejection) else "processed")
        assert shown["claim_id"] == expected.claim_id


@given(policy=gen.policy_texts(), content=st.one_of(json_texts, gen.claims().map(_json)))
def test_cli_check_with_a_generated_policy(cli_dir: Path, policy: gen.GeneratedPolicy, content: str) -> None:
    """`policyc check --policy gen.pol FILE` with a generated policy exits 0 or 2 and prints no traceback."""
    fd, name = tempfile.mkstemp(dir=cli_dir, suffix=".pol")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(policy.text)
        assert_no_traceback(run_on_file(cli_dir, ".json", content, ["check", "--policy", name]), {0, 2})
    finally:
        os.unlink(name)


SEED_TEXTS = tuple(path.read_text(encoding="utf-8") for path in SEED_POLICY_FILES)


@st.composite
def mutated_policies(draw: st.DrawFn) -> str:
    """A seed policy with a random slice deleted, duplicated, or a random text inserted (once to three times)."""
    text = draw(st.sampled_from(SEED_TEXTS))
    for _ in range(draw(st.integers(1, 3))):
        start = draw(st.integers(0, len(text)))
        end = draw(st.integers(start, min(len(text), start + 80)))
        how = draw(st.sampled_from(("delete", "duplicate", "insert", "replace")))
        if how == "delete":
            text = text[:start] + text[end:]
        elif how == "duplicate":
            text = text[:end] + text[start:end] + text[end:]
        else:
            piece = draw(
                st.one_of(
                    st.text(max_size=12),
                    st.sampled_from(
                        (
                            "rule",
                            "codes",
                            ":",
                            "..",
                            "per day",
                            "deny",
                            "CO-",
                            "2026-02-30",
                            "x0",
                            "\n",
                            '"',
                            "#",
                            "S9379..S9325",
                            "99601..S9325",
                            "except 99601",
                            "+",
                            "or",
                            "0th",
                            "policy",
                        )
                    ),
                )
            )
            text = text[:start] + piece + (text[end:] if how == "replace" else text[start:])
    return text


def assert_compiles_or_reports(directory: Path, text: str) -> None:
    result = run_on_file(directory, ".pol", text, ["compile"])
    assert_no_traceback(result, {0, 1})
    if result.exit_code == 1:
        assert "error[POL" in result.stderr, result.output


@given(text=st.text())
def test_cli_compile_never_prints_a_traceback(cli_dir: Path, text: str) -> None:
    """`policyc compile FILE.pol` on any text exits 0 or 1, prints no traceback, and a failure names error[POLnnn]."""
    assert_compiles_or_reports(cli_dir, text)


@given(text=mutated_policies())
def test_cli_compile_reports_mutated_policies(cli_dir: Path, text: str) -> None:
    """`policyc compile` on a seed policy with slices deleted, duplicated or inserted exits 0 or 1 with error[POL..]."""
    assert_compiles_or_reports(cli_dir, text)


BAD_ESCAPE_POLICY = 'policy p "bad \\x escape"\n  plans all\n  effective 2025-01-01\n'
escapes = st.sampled_from(("\\x", "\\x4", "\\u12", "\\U0001", "\\N", "\\N{nope}", "\\o", "\\\\", '\\"', "\\n", "\\t"))


@st.composite
def policies_with_escapes(draw: st.DrawFn) -> str:
    """A seed policy with backslash escapes (valid or not) and other text put inside its quoted strings."""
    text = draw(st.sampled_from(SEED_TEXTS))
    quotes = [i for i, ch in enumerate(text) if ch == '"']
    opening = quotes[0::2]
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.sampled_from(opening)) + 1
        piece = draw(escapes) + draw(st.text(alphabet="abc4{}é ", max_size=4))
        text = text[:at] + piece + text[at:]
        opening = [q + len(piece) if q >= at else q for q in opening]
    return text


# Found by this property: `"\\x"` crashed `compile` (internal error, exit 3) until commit 0ff7d68.
@example(text=BAD_ESCAPE_POLICY)
@given(text=policies_with_escapes())
def test_cli_compile_reports_bad_escapes(cli_dir: Path, text: str) -> None:
    """`policyc compile` on a policy whose quoted strings hold any backslash escape exits 0 or 1, no traceback."""
    assert_compiles_or_reports(cli_dir, text)


# Found by this property: `"café \\t"` read as 'cafÃ© \t' (latin-1 garbling) until commit 0ff7d68.
@example(title="café")
@given(title=st.text(alphabet='abcé€ü" ', min_size=1, max_size=8))
def test_escaped_strings_keep_their_text(title: str) -> None:
    """A quoted string means its characters as written, non-ASCII ones included; `\\"` is a quote."""
    written = title.replace('"', '\\"')
    policy = policyc.compile_text(f'policy p "{written}\\""\n  plans all\n  effective 2025-01-01\n', GENERATED_NAME)
    assert policy.title == title + '"'


@given(policy=gen.policy_texts())
def test_cli_compiles_generated_policies(cli_dir: Path, policy: gen.GeneratedPolicy) -> None:
    """`policyc compile` accepts every generated policy: exit 0, no traceback."""
    assert_no_traceback(run_on_file(cli_dir, ".pol", policy.text, ["compile"]), {0})


# ---------------------------------------------------------------- 9. deterministic generated Python


@given(policy=gen.policy_texts(max_rules=6))
def test_generated_python_is_deterministic(policy: gen.GeneratedPolicy) -> None:
    """Compiling the same policy text twice gives identical Python source."""
    first = policyc.compile_text(policy.text, GENERATED_NAME).python_source
    second = policyc.compile_text(policy.text, GENERATED_NAME).python_source
    assert first == second
    assert first.startswith("# Generated by policyc from gen.pol")


_COMPILE_SCRIPT = """
import json, sys
import policyc
texts = json.load(sys.stdin)
json.dump([policyc.compile_text(t, "gen.pol").python_source for t in texts], sys.stdout)
"""


@settings(max_examples=4)  # each example starts two interpreters; the batch holds several policies
@given(policies=st.lists(gen.policy_texts(max_rules=6), min_size=5, max_size=10))
def test_generated_python_is_the_same_whatever_the_hash_seed(policies: list[gen.GeneratedPolicy]) -> None:
    """Compiling in interpreters with different PYTHONHASHSEED (set and dict order) gives identical Python source."""
    texts = [p.text for p in policies]
    outputs = []
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run(
            [sys.executable, "-c", _COMPILE_SCRIPT],
            input=json.dumps(texts),
            capture_output=True,
            text=True,
            env=env,
            cwd=REPO,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        outputs.append(json.loads(done.stdout))
    assert outputs[0] == outputs[1]
    assert outputs[0] == [policyc.compile_text(t, GENERATED_NAME).python_source for t in texts]


# ---------------------------------------------------------------- 10. add-on settling stops once no primary fell

# National codes around add-on chains: 96368 needs 96366 (among others), which needs 96367, which needs 96374;
# 0836T and 88177 need each other. Most primaries have an MUE of 1, so two units deny one and start a cascade;
# 96360 and 96523 bring PTP denials.
CHAIN_CODES = (
    "96360", "96361", "96365", "96366", "96367", "96368", "96374", "96375", "96376", "96409", "96411",
    "96413", "96415", "96417", "96523", "36591", "0836T", "88177", "88172", "99601", "99602", "96160", "99202",
)  # fmt: skip
# In the MUE quarter, after it, and before the add-on edits began (2013-04-01).
NATIONAL_DATES = ("2024-07-15", "2024-07-16", "2024-10-01", "2013-03-31")


@functools.cache
def national_engine() -> policyc.Engine:
    return policyc.load(REPO / "policies" / "cms")


def settled_every_pass(engine: policyc.Engine, data: dict[str, Any]) -> ClaimResult:
    """The claim judged as the engine does, but re-running add-on settling after every removal (primaries=None)."""
    claim = policyc.parse_claim(data)
    assert isinstance(claim, policyc.Claim)
    index = engine.index_for(claim.plan)
    return judge(claim, attrs.evolve(index, primaries=None), index.work(claim.lines), ())


def assert_settled_alike(engine: policyc.Engine, data: dict[str, Any]) -> None:
    result, slow = engine.check(data), settled_every_pass(engine, data)
    fired = any(findings_of_kind(line, "addon") for line in result.lines)
    event("some line has an add-on finding" if fired else "none")
    assert result == slow
    assert result.to_dict() == slow.to_dict()


@st.composite
def chain_claims(draw: st.DrawFn) -> dict[str, Any]:
    """A Medicare claim of national add-ons and their primaries, mostly on one date."""
    days = draw(st.lists(st.sampled_from(NATIONAL_DATES), min_size=1, max_size=2, unique=True))
    lines = [
        {
            "line": number,
            "code": draw(st.sampled_from(CHAIN_CODES)),
            "units": draw(st.sampled_from((1, 1, 2))),
            "date": draw(st.sampled_from(days)),
            "modifiers": draw(st.lists(st.sampled_from(("XU", "59", "25")), max_size=1)),
        }
        for number in range(1, draw(st.integers(1, 7)) + 1)
    ]
    return {"claim_id": "P", "plan": "medicare", "member_id": "M", "billing_provider": "1234567893", "lines": lines}


def chain(*specs: tuple[str, int]) -> dict[str, Any]:
    lines = [
        {"line": number, "code": code, "units": units, "date": "2024-07-15", "modifiers": []}
        for number, (code, units) in enumerate(specs, start=1)
    ]
    return {"claim_id": "P", "plan": "medicare", "member_id": "M", "billing_provider": "1234567893", "lines": lines}


# 96374 x2 is over its MUE of 1; 96367, 96366 and 96368 then fall one after another, one pass each.
@example(data=chain(("96368", 1), ("96366", 1), ("96367", 1), ("96374", 2)))
@example(data=chain(("96368", 1), ("96366", 1), ("96367", 1), ("96374", 1)))
@example(data=chain(("0836T", 1), ("88177", 7)))  # 88177 over its MUE takes the cycle down
# 96366 (a primary of 96368) and then 96361 (no primary of any) fall in one pass; 96368 falls in the next.
@example(data=chain(("96368", 1), ("96366", 1), ("96361", 1)))
@given(data=chain_claims())
def test_settling_add_ons_stops_when_no_primary_fell_national(data: dict[str, Any]) -> None:
    """Under the national tables, the engine (another settling pass only when a line that may be a primary fell)
    gives the same result as settling with a pass after every removal, messages included."""
    assert_settled_alike(national_engine(), data)


# The rule judging 99602 runs first; the S9500 it needs falls to the second rule, so 99602 falls in a second pass.
WRITTEN_CHAIN = gen.GeneratedPolicy(
    "policy gen\n  plans all\n  effective 2024-10-07\n\n"
    "rule c: addon 99602 requires S9500 on the same day deny CO-107 N122\n"
    "rule b: addon S9500 requires 99601 on the same day deny CO-107 N122\n",
    ("addon", "addon"),
    ("99601", "99602", "S9500"),
    gen.PLANS,
    gen.DATES,
)
TWO_LINKS = {
    "claim_id": "C0",
    "plan": "medicaid",
    "member_id": "M001",
    "billing_provider": "1234567893",
    "lines": [
        {"line": 1, "code": "99602", "modifiers": [], "units": 1, "date": "2025-12-31"},
        {"line": 2, "code": "S9500", "modifiers": [], "units": 1, "date": "2025-12-31"},
    ],
}


@example(case=(WRITTEN_CHAIN, TWO_LINKS))
@given(case=gen.policy_cases(require=("addon",), max_lines=6))
def test_settling_add_ons_stops_when_no_primary_fell_generated(
    case: tuple[gen.GeneratedPolicy, dict[str, Any]],
) -> None:
    """Under generated policies with written add-on rules, the same."""
    policy, claim = case
    assert_settled_alike(compile_generated(policy.text), claim)
