"""Mutation check: mutate each policy and show whether the policy's own `test` blocks catch every mutant.

    python scripts/mutation_check.py                  # every policy under policies/
    python scripts/mutation_check.py policies/payer   # files or folders
    python scripts/mutation_check.py -v policies      # name every mutant, killed ones too

A mutant is the policy with one small mistake an analyst could make: a cap off by one, a code removed
from a set (an item of a list, or the first code of a range), an action dropped (a denial turned into a
review) or a whole rule removed. It is killed when one of the policy's own tests fails against it (run
with every other policy given, as `policyc test` runs them); a mutant that no longer compiles is
stillborn and not counted. Prints a score per policy and every surviving mutant; exit status 1 when a
mutant survives, so CI can hold the line.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import attrs

from policyc import nodes as n
from policyc.compiler import check_source, compile_paths, compile_source, find_policy_files, read_source, to_ir
from policyc.diagnostics import PolicyError
from policyc.engine import Engine
from policyc.results import LineResult
from policyc.runtime import CompiledPolicy
from policyc.source import SourceFile, Span

REVIEW = 'review "mutant: action dropped"'
RUNNER_BROKEN = ""  # why policyc.testrunner is not used, once it failed


@attrs.frozen
class Mutant:
    """One mistake: where (the span replaced), what it becomes, and how to say it."""

    span: Span
    replacement: str
    operator: str

    def apply(self, text: str) -> str:
        return text[: self.span.start] + self.replacement + text[self.span.end :]


# ---------------------------------------------------------------- mutation operators


def mutants(policy: n.Policy, text: str) -> Iterator[Mutant]:
    """Every mutant of one policy, in source order within each operator."""
    for rule in policy.rules:
        yield from cap_off_by_one(rule, text)
    for expr in set_exprs(policy):
        yield from code_removed(expr, text)
    for rule in policy.rules:
        action = rule.actions[0] if rule.actions else None
        if isinstance(action, (n.Deny, n.CutBack)):
            yield Mutant(action.span, REVIEW, "action dropped")
        yield Mutant(rule.span, "", f"rule `{rule.id}` removed")


def cap_off_by_one(rule: n.Rule, text: str) -> Iterator[Mutant]:
    if not isinstance(rule.body, n.Limit):
        return
    body = text[rule.body.span.start : rule.body.span.end]
    found = re.search(r"\bto\s+([0-9]+)", body)
    if found is None:
        return
    span = Span(rule.body.span.start + found.start(1), rule.body.span.start + found.end(1))
    for cap in (rule.body.cap - 1, rule.body.cap + 1):
        if cap >= 0:
            yield Mutant(span, str(cap), f"cap {rule.body.cap} -> {cap}")


def set_exprs(policy: n.Policy) -> Iterator[n.SetExpr]:
    """Every code list the policy writes: its code sets and the sets inside its rules."""
    for definition in policy.code_sets:
        yield definition.expr
    for rule in policy.rules:
        body = rule.body
        for name in ("addons", "primaries", "codes", "bundled", "into", "column1", "column2"):
            expr = getattr(body, name, None)
            if isinstance(expr, n.SetExpr):
                yield expr
        if isinstance(body, n.When):
            yield from condition_sets(body.condition)


def condition_sets(cond: n.Condition) -> Iterator[n.SetExpr]:
    if isinstance(cond, (n.AllOf, n.AnyOf)):
        for item in cond.items:
            yield from condition_sets(item)
    elif isinstance(cond, n.Not):
        yield from condition_sets(cond.item)
    elif isinstance(cond, n.FieldInCodes):
        yield cond.codes


def code_removed(expr: n.SetExpr, text: str) -> Iterator[Mutant]:
    """Each item left out of its list, and each range without its first code."""
    items = expr.items
    for index, item in enumerate(items):
        written = text[item.span.start : item.span.end]
        if len(items) > 1:
            # Take the separator with the item: the one before it, or for the first item the one after.
            start = items[index - 1].span.end if index else item.span.start
            end = item.span.end if index else items[1].span.start
            yield Mutant(Span(start, end), "", f"`{written}` removed from a set")
        if isinstance(item, n.RangeItem) and item.low < item.high:
            low = next_code(item.low)
            yield Mutant(item.span, f"{low}..{item.high}", f"`{item.low}` removed from `{written}`")


def next_code(code: str) -> str:
    """The code after `code` in its range (same shape): S9325 -> S9326, 0001F -> 0002F."""
    digits = re.search(r"[0-9]+", code)
    assert digits is not None
    bumped = str(int(digits.group()) + 1).zfill(len(digits.group()))
    return code[: digits.start()] + bumped + code[digits.end() :]


# ---------------------------------------------------------------- running a policy's own tests


def tests_pass(policy: n.Policy, source: SourceFile, engine: Engine) -> bool:
    """Whether every `test` block of the policy passes against the engine (policyc.testrunner when present)."""
    global RUNNER_BROKEN
    if not RUNNER_BROKEN:
        try:
            from policyc.testrunner import PolicyUnderTest, Runner

            return Runner([PolicyUnderTest(policy, to_ir(source), source)], engine).run().passed
        except ImportError:
            RUNNER_BROKEN = "policyc.testrunner is not installed"
        except Exception as error:  # noqa: BLE001 - another module's bug must not stop the check
            RUNNER_BROKEN = f"policyc.testrunner failed on {source.name} ({type(error).__name__}: {error})"
        print(f"mutation_check: {RUNNER_BROKEN}; running the tests with this script's own runner", file=sys.stderr)
    return all(own_test_passes(policy, test, engine) for test in policy.tests)


def own_test_passes(policy: n.Policy, test: n.TestCase, engine: Engine) -> bool:
    """A small stand-in for the test runner: build each test claim, compare status and adjustment."""
    plans = policy.header_values("plans")[0].value
    default_plan = "commercial" if not isinstance(plans, tuple) or "all" in plans else plans[0]
    dates = policy.header_values("effective")[0].value
    assert isinstance(dates, n.DateRange)
    got: dict[int, LineResult] = {}
    for index, claim in enumerate(test.claims):
        lines = [{"line": line.number, "code": line.code, "modifiers": list(line.modifiers), "units": line.units,
                  "date": (line.date or claim.date or dates.start).isoformat()} for line in claim.lines]
        mapping = {"claim_id": f"{test.name} #{index + 1}", "plan": claim.plan or default_plan,
                   "member_id": "M-TEST", "billing_provider": "1234567893", "lines": lines}
        got.update({line.line: line for line in engine.check(mapping).lines})
    for expectation in test.expectations:
        line = got.get(expectation.line)
        if line is None or line.status != expectation.status:
            return False
        strongest = {f.adjustment for f in line.findings if f.status == line.status}
        if expectation.adjustment is not None and expectation.adjustment not in strongest:
            return False
    return True


@attrs.frozen
class Score:
    path: str
    killed: tuple[str, ...]
    survived: tuple[str, ...]
    stillborn: int

    @property
    def percent(self) -> str:
        total = len(self.killed) + len(self.survived)
        return f"{100 * len(self.killed) // total}%" if total else "-"


def check_policy(path: Path, others: Sequence[CompiledPolicy]) -> Score:
    """Run the policy's tests against each of its mutants, every other policy loaded beside it."""
    source = read_source(path)
    policy, _ = check_source(source)
    killed: list[str] = []
    survived: list[str] = []
    stillborn = 0
    for mutant in mutants(policy, source.text):
        mutated = SourceFile(source.name, mutant.apply(source.text))
        where = f"{source.name}:{source.line_of(mutant.span)}: {mutant.operator}"
        try:
            compiled = compile_source(mutated)
            nodes, _ = check_source(mutated)
        except PolicyError:
            stillborn += 1
            continue
        engine = Engine([*others, compiled])
        (survived if tests_pass(nodes, mutated, engine) else killed).append(where)
    return Score(source.name, tuple(killed), tuple(survived), stillborn)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", default=["policies"], help="policy files or folders (default: policies)")
    parser.add_argument("-v", "--verbose", action="store_true", help="name the killed mutants too")
    args = parser.parse_args(argv)
    files = find_policy_files(args.paths)
    if not files:
        print(f"no .pol files under {', '.join(args.paths)}", file=sys.stderr)
        return 2
    try:
        compiled = compile_paths(files)
    except PolicyError as error:
        print(error.render(), file=sys.stderr)
        return 2
    scores = []
    for path, policy in zip(files, compiled, strict=True):
        scores.append(check_policy(path, [other for other in compiled if other is not policy]))
    width = max(len(score.path) for score in scores)
    print(f"{'policy':<{width}}  mutants  killed  survived  stillborn  score")
    for s in scores:
        total = len(s.killed) + len(s.survived)
        counts = f"{total:>7}  {len(s.killed):>6}  {len(s.survived):>8}  {s.stillborn:>9}"
        print(f"{s.path:<{width}}  {counts}  {s.percent:>5}")
    for s in scores:
        for where in s.survived:
            print(f"survived: {where}")
        if args.verbose:
            for where in s.killed:
                print(f"killed:   {where}")
    return 1 if any(s.survived for s in scores) else 0


if __name__ == "__main__":
    sys.exit(main())
