"""`policyc test`: run the `test` blocks of `.pol` files against the policies given, and measure rule coverage."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping, Sequence

import attrs
import click

from policyc import ir
from policyc import nodes as n
from policyc.claims import Claim, Line, Rejection, parse_claim
from policyc.compiler import check_source, compile_paths, find_policy_files, read_source
from policyc.diagnostics import PolicyError
from policyc.engine import Engine
from policyc.lower import lower
from policyc.results import ClaimResult, Finding, LineResult
from policyc.runtime import CompiledRule
from policyc.source import SourceFile

# A test claim that names no plan gets the policy's first plan, or this one under `plans all`.
DEFAULT_PLAN = "commercial"
TEST_MEMBER = "M-TEST"
TEST_PROVIDER = "1234567893"
EXIT_OK, EXIT_FAILED = 0, 1  # 2, bad usage, is click's


# ---------------------------------------------------------------- what a run reports


@attrs.frozen
class LineCheck:
    """One `expect line N ...` and what the line got."""

    line: int
    described: str  # "99602 x1 on 2025-03-02", or "" when the test holds no such line
    expected_status: str
    expected_adjustment: str | None
    actual: LineResult | None

    @property
    def passed(self) -> bool:
        if self.actual is None or self.actual.status != self.expected_status:
            return False
        if self.expected_adjustment is None:
            return True
        # The adjustment of the strongest finding; when findings of one strength disagree, any of them.
        return any(
            f.adjustment == self.expected_adjustment for f in self.actual.findings if f.status == self.actual.status
        )


@attrs.frozen
class TestOutcome:
    """One `test` block after it ran."""

    __test__ = False  # keep pytest from collecting this class

    policy_id: str
    path: str
    line: int
    name: str
    checks: tuple[LineCheck, ...]
    problems: tuple[str, ...] = ()  # test claims that are no valid claim

    @property
    def passed(self) -> bool:
        return not self.problems and all(check.passed for check in self.checks)

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"


@attrs.frozen
class RuleCoverage:
    """Which tests of a rule's own file make it fire, and which hold a line of its codes it leaves alone."""

    rule: str  # "policy-id/rule-id"
    source: str  # "path.pol:LINE"
    fired_in: tuple[str, ...]  # test names
    silent_in: tuple[str, ...]

    @property
    def covered(self) -> bool:
        return bool(self.fired_in and self.silent_in)


@attrs.frozen
class TestReport:
    """Every test outcome of a run, and the coverage of every rule of the policies tested."""

    __test__ = False

    outcomes: tuple[TestOutcome, ...]
    coverage: tuple[RuleCoverage, ...]

    @property
    def passed(self) -> bool:
        return all(outcome.passed for outcome in self.outcomes)

    @property
    def failures(self) -> tuple[TestOutcome, ...]:
        return tuple(outcome for outcome in self.outcomes if not outcome.passed)


# ---------------------------------------------------------------- building claims from test nodes


@attrs.frozen
class PolicyUnderTest:
    """One policy file: its nodes (for the tests), its IR (for coverage) and where it lives."""

    nodes: n.Policy
    ir: ir.PolicyIR
    source: SourceFile

    @property
    def default_plan(self) -> str:
        plans = self.ir.plans
        if plans is None:
            return DEFAULT_PLAN
        written = self.nodes.header_values("plans")[0].value
        assert isinstance(written, tuple)
        return written[0]


def claim_mapping(policy: PolicyUnderTest, test: n.TestCase, index: int) -> dict[str, object]:
    """The interchange form of a test's `index`-th claim, with the documented defaults filled in."""
    claim = test.claims[index]
    day = claim.date or policy.ir.start
    suffix = f" #{index + 1}" if len(test.claims) > 1 else ""
    return {
        "claim_id": f"{policy.ir.id}: {test.name}{suffix}",
        "plan": claim.plan or policy.default_plan,
        "member_id": TEST_MEMBER,
        "billing_provider": TEST_PROVIDER,
        "lines": [
            {
                "line": line.number,
                "code": line.code,
                "modifiers": list(line.modifiers),
                "units": line.units,
                "date": (line.date or day).isoformat(),
            }
            for line in claim.lines
        ],
    }


def describe_line(line: Line) -> str:
    modifiers = "".join(f" {m}" for m in line.modifiers)
    return f"{line.code}{modifiers} x{line.units} on {line.date.isoformat()}"


# ---------------------------------------------------------------- running


class Runner:
    """Runs the tests of several policies, every one against an engine of all of them."""

    def __init__(self, policies: Sequence[PolicyUnderTest], engine: Engine) -> None:
        self.policies = policies
        self.engine = engine
        self.rules_by_name = {rule.name: rule for rule in engine.rules()}
        self.fired: dict[str, list[str]] = {}
        self.silent: dict[str, list[str]] = {}

    def run(self) -> TestReport:
        outcomes = [self.run_test(policy, test) for policy in self.policies for test in policy.nodes.tests]
        return TestReport(tuple(outcomes), tuple(self.coverage()))

    def run_test(self, policy: PolicyUnderTest, test: n.TestCase) -> TestOutcome:
        lines: dict[int, tuple[Line, LineResult]] = {}
        problems: list[str] = []
        for index in range(len(test.claims)):
            parsed = parse_claim(claim_mapping(policy, test, index))
            if isinstance(parsed, Rejection):
                problems.append(parsed.describe())
                continue
            result = self.engine.check(parsed)
            self.observe(policy, test.name, parsed, result)
            for line in parsed.lines:
                lines[line.line] = (line, result.line(line.line))
        checks = tuple(self.line_check(expectation, lines) for expectation in test.expectations)
        where = policy.source.line_of(test.span)
        return TestOutcome(policy.ir.id, policy.ir.path, where, test.name, checks, tuple(problems))

    @staticmethod
    def line_check(expectation: n.Expectation, lines: Mapping[int, tuple[Line, LineResult]]) -> LineCheck:
        found = lines.get(expectation.line)
        described = describe_line(found[0]) if found else ""
        actual = found[1] if found else None
        return LineCheck(expectation.line, described, expectation.status, expectation.adjustment, actual)

    def observe(self, policy: PolicyUnderTest, test_name: str, claim: Claim, result: ClaimResult) -> None:
        """Note, for each rule of the test's own policy, whether it fired on a line and stayed silent on one."""
        targets = {rule.id: target_codes(rule) for rule in policy.ir.rules}
        for rule, bucket in self.engine.index_for(claim.plan, claim.claim_type).buckets(claim.lines).items():
            if rule.policy_id != policy.ir.id or rule.id not in targets:
                continue
            codes = targets[rule.id]
            fired = set(_lines_with_finding(result, rule))
            if fired:
                _note(self.fired, rule.name, test_name)
            if any(line.line not in fired and (codes is None or line.code in codes) for line in bucket):
                _note(self.silent, rule.name, test_name)

    def coverage(self) -> Iterable[RuleCoverage]:
        for policy in self.policies:
            for rule in filter(judges_lines, policy.ir.rules):
                name = f"{policy.ir.id}/{rule.id}"
                source = self.rules_by_name[name].source if name in self.rules_by_name else policy.ir.path
                yield RuleCoverage(name, source, tuple(self.fired.get(name, ())), tuple(self.silent.get(name, ())))


def target_codes(rule: ir.RuleIR) -> frozenset[str] | None:
    """The codes a rule can put a finding on (an add-on's add-ons, a pair's column 2); None: any line."""
    return ir.target_codes(rule.body)


def judges_lines(rule: ir.RuleIR) -> bool:
    """Whether coverage applies: a `switch off` rule judges no line (it only removes rows of other tables)."""
    return not isinstance(rule.body, ir.SwitchOffIR)


def _lines_with_finding(result: ClaimResult, rule: CompiledRule) -> Iterable[int]:
    return (line.line for line in result.lines if any(f.rule == rule.name for f in line.findings))


def _note(seen: dict[str, list[str]], rule: str, test_name: str) -> None:
    names = seen.setdefault(rule, [])
    if test_name not in names:
        names.append(test_name)


# ---------------------------------------------------------------- the library entry point


def load_policies(paths: Iterable[str | os.PathLike[str]]) -> tuple[list[PolicyUnderTest], Engine]:
    """Every policy under `paths` with its tests, and one engine of all of them; raises PolicyError."""
    files = find_policy_files(paths)
    engine = Engine(compile_paths(files))  # reports every problem of every file, duplicate ids included
    policies = []
    for path in files:
        source = read_source(path)
        nodes, _ = check_source(source)
        policies.append(PolicyUnderTest(nodes, lower(nodes, source), source))
    return policies, engine


def run_tests(paths: Iterable[str | os.PathLike[str]]) -> TestReport:
    """Run every `test` block of every policy under `paths`, each against an engine of all those policies.

    Running every test with every policy given lets a test show a cascade across files (a Medicaid MUE
    denying the 99601 an add-on of another policy needs). Raises PolicyError when a policy does not compile.
    """
    policies, engine = load_policies(paths)
    return Runner(policies, engine).run()


# ---------------------------------------------------------------- printing


def failure_text(outcome: TestOutcome) -> list[str]:
    """A failed test: each expectation it missed, with what the line got and every finding behind that."""
    lines = [f"{click.style('FAIL', fg='red', bold=True)} {outcome.where}: {outcome.name}"]
    lines.extend(f"  {problem}" for problem in outcome.problems)
    for check in outcome.checks:
        if check.passed:
            continue
        expected = check.expected_status + (f" {check.expected_adjustment}" if check.expected_adjustment else "")
        missing = "its claim could not be checked" if outcome.problems else "not in the test"
        lines.append(f"  line {check.line}: {check.described or missing}")
        lines.append(f"    expected {expected}")
        if check.actual is None:
            continue
        lines.append(f"    got      {_verdict(check.actual)}")
        lines.extend(f"      {_finding(f)}" for f in check.actual.findings)
        if not check.actual.findings:
            lines.append("      (no rule fired)")
    return lines


def _verdict(line: LineResult) -> str:
    strongest = [f.adjustment for f in line.findings if f.status == line.status and f.adjustment]
    units = f", {line.allowed_units} of {line.units} units allowed" if line.status == "reduced" else ""
    return " ".join([line.status, *dict.fromkeys(strongest)]) + units


def _finding(finding: Finding) -> str:
    codes = " ".join(c for c in (finding.adjustment, *finding.rarc) if c)
    return f"{finding.rule} ({finding.source}): {finding.action} {codes}".rstrip() + f": {finding.message}"


def coverage_text(report: TestReport) -> list[str]:
    """Per rule: the tests of its file that make it fire and that hold a line of its codes it leaves alone."""
    lines = ["coverage: a rule is covered when a test of its file makes it fire and a test line of its codes"
             " stays silent"]
    width = max((len(c.rule) for c in report.coverage), default=0)
    for cover in report.coverage:
        fires = _count("fires in", cover.fired_in) if cover.fired_in else click.style("never fires", fg="red")
        silent = _count("silent in", cover.silent_in) if cover.silent_in else click.style("never silent", fg="red")
        lines.append(f"  {cover.rule:<{width}}  {fires}, {silent}  ({cover.source})")
    covered = sum(1 for c in report.coverage if c.covered)
    lines.append(f"{covered} of {len(report.coverage)} rules covered")
    return lines


def _count(what: str, tests: Sequence[str]) -> str:
    return f"{what} {len(tests)} test{'s' if len(tests) != 1 else ''}"


def summary_text(report: TestReport) -> str:
    total, failed = len(report.outcomes), len(report.failures)
    text = f"{total} test{'s' if total != 1 else ''}: {total - failed} passed"
    return text + (f", {click.style(f'{failed} failed', fg='red', bold=True)}" if failed else "")


@click.command("test")
@click.argument("paths", nargs=-1, required=True, metavar="PATH...")
@click.option("--coverage", is_flag=True, help="Report, per rule, whether tests make it fire and stay silent.")
@click.option("--verbose", "-v", is_flag=True, help="Name every test that passed as well.")
def test_command(paths: tuple[str, ...], coverage: bool, verbose: bool) -> None:
    """Run the test blocks of .pol files (or directories of them).

    Every test runs against all the policies given, together, as `policyc check` would apply them, so
    a test can show one policy's denial cascading into another's add-on. Exit status: 0 when every
    test passes, 1 when one fails or a policy does not compile, 2 for bad usage.
    """
    from policyc.cli import policy_files  # at call time: the command line imports this module

    try:
        report = run_tests(policy_files(paths))
    except PolicyError as error:
        click.echo(error.render(), err=True)
        sys.exit(EXIT_FAILED)
    for outcome in report.outcomes:
        if not outcome.passed:
            click.echo("\n".join(failure_text(outcome)))
        elif verbose:
            click.echo(f"{click.style('ok', fg='green')}   {outcome.where}: {outcome.name}")
    if coverage:
        click.echo("\n".join(coverage_text(report)))
    click.echo(summary_text(report))
    sys.exit(EXIT_OK if report.passed else EXIT_FAILED)
