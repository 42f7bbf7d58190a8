"""Tests for policyc.codegen: golden output for the seeds, determinism, line comments and loadable code."""

from __future__ import annotations

import datetime
import re
from pathlib import Path

import pytest

from policyc import codegen
from policyc.claims import Claim, Line
from policyc.compiler import compile_text, read_source, to_ir, to_python
from policyc.runtime import CompiledPolicy, CompiledRule
from policyc.source import SourceFile

D = datetime.date
SEEDS = {
    "home-infusion": "policies/payer/home-infusion.pol",
    "mue-home-infusion-2026q1": "policies/medicaid/mue-home-infusion-2026q1.pol",
}

EVERYTHING = """\
policy kitchen-sink "Every construct"
  payer "Example"
  source "Doc 1"
  plans commercial, medicaid
  effective 2025-01-01 until 2025-12-31

codes per_diem = S9325..S9379
codes supplies = A4221, E0779..E0781 except E0780
codes both = per_diem, supplies except S9330

rule add "addon": addon 99602 requires 99601 on the same day by the same provider
  deny CO-107 N122
rule add-claim: addon 99602 requires 99601 on the same claim deny CO-107
rule lim-line: limit J3370 to 2 units per line cut back CO-151 N362 appealable
rule lim-day: limit 99601 to 4 units per day by the same rendering provider
  rationale "MUE"
  deny CO-151
  effective 2025-03-01 until 2025-06-30
rule lim-claim: limit both to 6 units per claim review "too many"
rule lim-claim-cut: limit J1100 to 3 units per claim by the same provider cut back CO-151
rule seq: sequence per_diem on the same day by the same provider:
  1st without SH, SJ
  2nd with SH
  3rd+ with SJ
  deny CO-4 N519
rule bun: bundle supplies into per_diem by the same rendering provider deny CO-97 M15
rule pr: pair 99601 with 99602 on the same day unless modifier 59 or XU deny CO-97
rule pr-claim: pair 99601 with 99602 on the same claim deny CO-97
rule w-mod: when line has modifier SH or SJ and line.code not in per_diem deny CO-4
rule w-diag: when claim has diagnosis Z45.2 or Z95.828 deny CO-4
rule w-in: when line.code in both, 99601 and not claim.place_of_service in ("12", "49") deny CO-4
rule w-cmp: when member.age < 18 or line.units >= 3 or line.date > 2025-06-01 deny CO-4
rule w-text: when claim.plan = "medicaid" and member.sex != "F" review "check"
rule w-values: when line.units in (1, 2) and line.date not in (2025-07-04) and line.code in J1100 deny CO-4
"""


def generate_seed(path: str) -> str:
    return to_python(read_source(path))


# ---------------------------------------------------------------- golden output


@pytest.mark.parametrize("name", sorted(SEEDS))
def test_generated_code_of_the_seeds(name: str, golden) -> None:  # type: ignore[no-untyped-def]
    golden(f"codegen/{name}.py", generate_seed(SEEDS[name]))


@pytest.mark.parametrize("path", sorted(SEEDS.values()))
def test_generation_is_deterministic(path: str) -> None:
    assert generate_seed(path) == generate_seed(path)


def test_generation_is_deterministic_for_sets_and_conditions() -> None:
    source = SourceFile("t.pol", EVERYTHING)
    first = to_python(source)
    assert all(to_python(SourceFile("t.pol", EVERYTHING)) == first for _ in range(3))
    # sets of modifiers and codes are written sorted, never in hash order
    assert "frozenset({'SH', 'SJ'})" in first
    assert "frozenset({'59', 'XU'})" in first


# ---------------------------------------------------------------- line comments


def line_comments(python: str) -> list[tuple[str, int, str, str]]:
    return [
        (m[1], int(m[2]), m[3], m[4])
        for m in re.finditer(r"^# (\S+):(\d+)  (rule|codes) (\S+)$", python, flags=re.MULTILINE)
    ]


@pytest.mark.parametrize("path", sorted(SEEDS.values()))
def test_line_comments_point_at_the_pol_line(path: str) -> None:
    python = generate_seed(path)
    pol_lines = Path(path).read_text(encoding="utf-8").splitlines()
    comments = line_comments(python)
    policy_ir = to_ir(read_source(path))
    assert len(comments) == len(policy_ir.rules) + len(policy_ir.code_sets)
    for file, line, kind, name in comments:
        assert file == path
        assert pol_lines[line - 1].startswith(f"{kind} {name}"), (line, pol_lines[line - 1])


def test_line_comments_and_rule_sources_agree_in_the_kitchen_sink() -> None:
    policy = compile_text(EVERYTHING, "t.pol")
    pol_lines = EVERYTHING.splitlines()
    comments = {name: line for _, line, kind, name in line_comments(policy.python_source) if kind == "rule"}
    assert list(comments) == [rule.id for rule in policy.rules]
    for rule in policy.rules:
        line = comments[rule.id]
        assert rule.source == f"t.pol:{line}"
        assert pol_lines[line - 1].startswith(f"rule {rule.id}")


def test_generated_source_compiles_and_names_its_origin() -> None:
    python = generate_seed(SEEDS["home-infusion"])
    compile(python, "<test>", "exec")
    assert python.splitlines()[0] == codegen.HEADER.format(path=SEEDS["home-infusion"])
    assert python.splitlines()[1] == "# policy home-infusion 'Home infusion'"


# ---------------------------------------------------------------- every construct compiles and runs


@pytest.fixture(scope="module")
def everything() -> CompiledPolicy:
    return compile_text(EVERYTHING, "t.pol")


def rule_of(policy: CompiledPolicy, rule_id: str) -> CompiledRule:
    return next(rule for rule in policy.rules if rule.id == rule_id)


def make_claim(*lines: Line, **fields: object) -> Claim:
    values: dict[str, object] = {
        "claim_id": "c1",
        "claim_type": "professional",
        "plan": "commercial",
        "member_id": "m1",
        "billing_provider": "b1",
        "lines": lines,
    }
    values.update(fields)
    return Claim(**values)  # type: ignore[arg-type]


def make_line(
    number: int, code: str, *modifiers: str, units: int = 1, day: int = 2, **fields: object
) -> Line:
    return Line(number, code, modifiers, units, D(2025, 3, day), **fields)  # type: ignore[arg-type]


def fired(rule: CompiledRule, claim: Claim) -> dict[int, int | None]:
    """The lines the rule gives a verdict on, with the units a cut back leaves."""
    standing = {line.line for line in claim.lines}
    return {v.line: v.allowed_units for v in rule.evaluate(claim.lines, claim, standing)}


def test_every_construct_loads_with_its_header(everything: CompiledPolicy) -> None:
    assert (everything.id, everything.title, everything.payer, everything.source_document) == (
        "kitchen-sink",
        "Every construct",
        "Example",
        "Doc 1",
    )
    assert everything.plans == frozenset({"commercial", "medicaid"})
    assert (everything.start, everything.end, everything.path) == (D(2025, 1, 1), D(2025, 12, 31), "t.pol")
    assert [(r.id, r.kind) for r in everything.rules] == [
        ("add", "addon"),
        ("add-claim", "addon"),
        ("lim-line", "limit"),
        ("lim-day", "limit"),
        ("lim-claim", "limit"),
        ("lim-claim-cut", "limit"),
        ("seq", "sequence"),
        ("bun", "bundle"),
        ("pr", "pair"),
        ("pr-claim", "pair"),
        ("w-mod", "when"),
        ("w-diag", "when"),
        ("w-in", "when"),
        ("w-cmp", "when"),
        ("w-text", "when"),
        ("w-values", "when"),
    ]


def test_rule_entries(everything: CompiledPolicy) -> None:
    lim_day = rule_of(everything, "lim-day")
    assert (lim_day.start, lim_day.end, lim_day.rationale) == (D(2025, 3, 1), D(2025, 6, 30), "MUE")
    assert lim_day.action.kind == "deny" and (lim_day.action.group, lim_day.action.carc) == ("CO", "151")
    lim_line = rule_of(everything, "lim-line")
    assert (lim_line.action.kind, lim_line.action.rarcs, lim_line.action.appealable) == (
        "cut back",
        ("N362",),
        True,
    )
    assert rule_of(everything, "lim-claim").action.reason == "too many"
    assert rule_of(everything, "add").title == "addon"


def test_dispatch_tables(everything: CompiledPolicy) -> None:
    assert rule_of(everything, "add").dispatch_codes == frozenset({"99601", "99602"})
    assert rule_of(everything, "bun").dispatch_codes == frozenset(
        {"A4221", "E0779", "E0781"} | {f"S{n}" for n in range(9325, 9380)}
    )
    assert rule_of(everything, "w-mod").dispatch_codes is None
    assert rule_of(everything, "w-mod").dispatch_modifiers == frozenset({"SH", "SJ"})
    assert rule_of(everything, "w-values").dispatch_codes == frozenset({"J1100"})
    assert rule_of(everything, "w-diag").dispatch_codes is None
    assert rule_of(everything, "w-diag").dispatch_modifiers is None
    both = rule_of(everything, "lim-claim").dispatch_codes
    assert both is not None and "S9330" not in both and "E0780" not in both and "A4221" in both


def test_addon_rules(everything: CompiledPolicy) -> None:
    alone = make_claim(make_line(1, "99602"))
    assert fired(rule_of(everything, "add"), alone) == {1: None}
    same_day = make_claim(make_line(1, "99601"), make_line(2, "99602"))
    assert fired(rule_of(everything, "add"), same_day) == {}
    other_day = make_claim(make_line(1, "99601", day=3), make_line(2, "99602"))
    assert fired(rule_of(everything, "add"), other_day) == {2: None}
    assert fired(rule_of(everything, "add-claim"), other_day) == {}


def test_limit_rules(everything: CompiledPolicy) -> None:
    assert fired(rule_of(everything, "lim-line"), make_claim(make_line(1, "J3370", units=5))) == {1: 2}
    assert fired(rule_of(everything, "lim-line"), make_claim(make_line(1, "J3370", units=2))) == {}
    by_rendering = make_claim(
        make_line(1, "99601", units=3, rendering_provider="r1"),
        make_line(2, "99601", units=3, rendering_provider="r2"),
        make_line(3, "99601", units=2, rendering_provider="r1"),
    )
    assert fired(rule_of(everything, "lim-day"), by_rendering) == {1: None, 3: None}
    per_claim = make_claim(make_line(1, "S9338", units=4, day=2), make_line(2, "A4221", units=3, day=9))
    assert fired(rule_of(everything, "lim-claim"), per_claim) == {1: None, 2: None}
    cut = make_claim(make_line(1, "J1100", units=2), make_line(2, "J1100", units=2, day=5))
    assert fired(rule_of(everything, "lim-claim-cut"), cut) == {2: 1}


def test_sequence_rule(everything: CompiledPolicy) -> None:
    seq = rule_of(everything, "seq")
    good = make_claim(make_line(1, "S9500"), make_line(2, "S9338", "SH"), make_line(3, "S9542", "SJ"))
    assert fired(seq, good) == {}
    bad = make_claim(make_line(1, "S9500"), make_line(2, "S9338"))
    assert fired(seq, bad) == {1: None, 2: None}


def test_bundle_and_pair_rules(everything: CompiledPolicy) -> None:
    bun = rule_of(everything, "bun")
    same = make_claim(
        make_line(1, "S9338", rendering_provider="r1"), make_line(2, "A4221", rendering_provider="r1")
    )
    assert fired(bun, same) == {2: None}
    other = make_claim(
        make_line(1, "S9338", rendering_provider="r1"), make_line(2, "A4221", rendering_provider="r2")
    )
    assert fired(bun, other) == {}
    pr = rule_of(everything, "pr")
    assert fired(pr, make_claim(make_line(1, "99601"), make_line(2, "99602"))) == {2: None}
    assert fired(pr, make_claim(make_line(1, "99601"), make_line(2, "99602", "59"))) == {}
    assert fired(pr, make_claim(make_line(1, "99601", "XU"), make_line(2, "99602"))) == {}
    apart = make_claim(make_line(1, "99601"), make_line(2, "99602", day=4))
    assert fired(pr, apart) == {}
    assert fired(rule_of(everything, "pr-claim"), apart) == {2: None}


def test_when_rules(everything: CompiledPolicy) -> None:
    w_mod = rule_of(everything, "w-mod")
    assert fired(
        w_mod, make_claim(make_line(1, "99601", "SH"), make_line(2, "S9338", "SH"), make_line(3, "99601"))
    ) == {1: None}
    w_diag = rule_of(everything, "w-diag")
    assert fired(w_diag, make_claim(make_line(1, "99601"), diagnoses=("z95.828",))) == {1: None}
    assert fired(w_diag, make_claim(make_line(1, "99601"), diagnoses=("Z45.3",))) == {}
    w_in = rule_of(everything, "w-in")
    # S9330 is taken out of `both`; the claim's place of service is read, never the line's
    lines = (make_line(1, "99601"), make_line(2, "S9330"), make_line(3, "E0779", place_of_service="12"))
    assert fired(w_in, make_claim(*lines)) == {1: None, 3: None}
    assert fired(w_in, make_claim(*lines, place_of_service="49")) == {}
    assert fired(w_in, make_claim(make_line(1, "99601"), place_of_service="11")) == {1: None}


def test_when_comparisons(everything: CompiledPolicy) -> None:
    w_cmp = rule_of(everything, "w-cmp")
    adult = {"member_birth_date": D(1980, 1, 1)}
    assert fired(w_cmp, make_claim(make_line(1, "99601"), **adult)) == {}
    assert fired(w_cmp, make_claim(make_line(1, "99601"), member_birth_date=D(2010, 1, 1))) == {1: None}
    assert fired(w_cmp, make_claim(make_line(1, "99601", units=3), **adult)) == {1: None}
    assert fired(w_cmp, make_claim(make_line(1, "99601"))) == {}  # no birth date: the age test is false
    late = Line(1, "99601", (), 1, D(2025, 6, 2))
    assert fired(w_cmp, make_claim(late, **adult)) == {1: None}
    w_text = rule_of(everything, "w-text")
    assert fired(w_text, make_claim(make_line(1, "99601"), plan="medicaid", member_sex="M")) == {1: None}
    assert fired(w_text, make_claim(make_line(1, "99601"), plan="medicaid", member_sex="F")) == {}
    assert fired(w_text, make_claim(make_line(1, "99601"), plan="medicaid")) == {}  # no sex given
    w_values = rule_of(everything, "w-values")
    assert fired(w_values, make_claim(make_line(1, "J1100", units=2), make_line(2, "J1100", units=3))) == {
        1: None
    }
    holiday = Line(1, "J1100", (), 1, D(2025, 7, 4))
    assert fired(w_values, make_claim(holiday)) == {}


def test_generated_code_reads_like_the_policy(everything: CompiledPolicy) -> None:
    python = everything.python_source
    assert "SET_PER_DIEM = rt.code_set(ranges=(('S9325', 'S9379'),))" in python
    assert "SET_BOTH = (SET_PER_DIEM | SET_SUPPLIES) - (rt.code_set(codes=('S9330',)))" in python
    assert "    'when line has modifier SH or SJ and line.code not in per_diem'" in python
    compile(python, "<test>", "exec")


def test_code_set_names_that_differ_only_by_dash_and_underscore_stay_apart() -> None:
    policy = compile_text(
        "policy p plans all effective 2025-01-01\n"
        "codes a-b = 99601\n"
        "codes a_b = 99602\n"
        "rule r: bundle A4221 into a-b on the same day deny CO-97\n",
        "t.pol",
    )
    assert policy.rules[0].dispatch_codes == frozenset({"A4221", "99601"})
