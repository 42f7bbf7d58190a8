"""`policyc fuzz`: generate claims against policies and check the language's invariants on each."""

from __future__ import annotations

import hashlib
import json
import re
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import attrs
import click

from policyc import ir
from policyc.claims import Rejection, parse_claim
from policyc.compiler import compile_paths, find_policy_files, load_python
from policyc.diagnostics import PolicyError
from policyc.engine import Engine
from policyc.reference import ReferenceEngine, Unsupported, read_policies
from policyc.results import ClaimResult, LineResult
from policyc.runtime import CompiledPolicy

Json = dict[str, Any]
EXIT_OK, EXIT_VIOLATION, EXIT_USAGE = 0, 1, 2
ROUND = 100  # examples per Hypothesis run; the budget is spent in rounds, each with its own seed


@attrs.frozen
class Engines:
    """What the invariants look at: the engine under test, the reference, and the rules by finding name."""

    compiled: Engine
    reference: ReferenceEngine | None  # None when it does not model a policy (an unknown rule body)
    rules: dict[str, ir.RuleIR]
    policies: tuple[ir.PolicyIR, ...]
    note: str | None = None  # why the reference is missing


Check = Callable[[Engines, Json], "str | None"]


# ---------------------------------------------------------------- the invariants


def engines_agree(engines: Engines, claim: Json) -> str | None:
    if engines.reference is None:
        return None
    got, want = engines.compiled.check(claim), engines.reference.check(claim)
    problems = [
        f"line {a.line}: compiled {verdict(a)}, reference {verdict(b)}"
        for a, b in zip(got.lines, want.lines, strict=False)
        if a.to_dict() != b.to_dict() or a != b or allowed(a) != allowed(b)
    ]
    if got.status != want.status or len(got.lines) != len(want.lines):
        problems.append(f"compiled gives {got.status}, the reference {want.status}")
    return "\n".join(problems) or None


def verdict(line: LineResult) -> str:
    """`denied CO-151 (0 of 5 units)` and, when only messages differ, every finding's message."""
    codes = " ".join(f.adjustment or "review" for f in line.findings)
    text = f"{line.status} {codes}".rstrip() + f" ({line.allowed_units} of {line.units} units)"
    return text + "".join(f"\n    {f.rule}: {f.message}" for f in line.findings)


def allowed(line: LineResult) -> list[int | None]:
    return [f.allowed_units for f in line.findings]


def order_free(engines: Engines, claim: Json) -> str | None:
    before = by_number(engines.compiled.check(claim))
    lines = claim["lines"]
    for order in (lines[::-1], lines[1:] + lines[:1]):
        after = by_number(engines.compiled.check({**claim, "lines": order}))
        for number, line in before.items():
            if line != after[number] or line.to_dict() != after[number].to_dict():
                shown = ", ".join(str(other["line"]) for other in order)
                return f"line {number}: {verdict(line)}\n  with lines in the order {shown}: {verdict(after[number])}"
    return None


def by_number(result: ClaimResult) -> dict[int, LineResult]:
    return {line.line: line for line in result.lines}


def split_keeps_caps(engines: Engines, claim: Json) -> str | None:
    caps = {name: rule for name, rule in engines.rules.items() if is_aggregate_cap(rule)}
    if not caps:
        return None
    before = cap_verdicts(claim, engines.compiled.check(claim), caps)
    for index, line in enumerate(claim["lines"]):
        if line["units"] < 2:
            continue
        number = max(other["line"] for other in claim["lines"]) + 1
        pieces = [{**line, "units": line["units"] - 1}, {**line, "line": number, "units": 1}]
        split = {**claim, "lines": claim["lines"][:index] + pieces + claim["lines"][index + 1 :]}
        after = cap_verdicts(split, engines.compiled.check(split), caps)
        if before != after:
            return (f"splitting line {line['line']} into {line['units'] - 1} + 1 units (new line {number}) changes "
                    f"the caps fired from {sorted(before)} to {sorted(after)}")
    return None


def is_aggregate_cap(rule: ir.RuleIR) -> bool:
    return isinstance(rule.body, ir.LimitIR) and rule.body.scope.extent != "line"


def cap_verdicts(claim: Json, result: ClaimResult, caps: dict[str, ir.RuleIR]) -> set[tuple[str, str, str]]:
    """Where each per-day or per-claim cap fired: rule, day and code; a cut back only by rule and day.

    A cut back trims lines in line-number order, so which code it lands on may move with a split.
    """
    dates = {line["line"]: line["date"] for line in claim["lines"]}
    fired = set()
    for line in result.lines:
        for finding in line.findings:
            rule = caps.get(finding.rule)
            if rule is not None:
                assert isinstance(rule.body, ir.LimitIR)
                day = dates[line.line] if rule.body.scope.extent == "day" else "the claim"
                fired.add((finding.rule, day, line.code if rule.action.kind != "cut back" else "any code"))
    return fired


def primary_keeps_addons(engines: Engines, claim: Json) -> str | None:
    before = by_number(engines.compiled.check(claim))
    for added in with_primaries(engines.rules.values(), claim):
        after = by_number(engines.compiled.check(added))
        new = after[added["lines"][-1]["line"]]
        if new.status == "denied" or new.allowed_units == 0:
            continue  # not a payable primary
        if any(non_addon(line) != non_addon(after[n]) for n, line in before.items()):
            continue  # the new line changed another rule's verdict, which may rightly take a primary away
        for number, line in before.items():
            gained = addon_rules(after[number]) - addon_rules(line)
            if gained:
                primary = added["lines"][-1]
                return (f"adding line {primary['line']} ({primary['code']} x1, paid) gives line {number} "
                        f"the add-on finding {', '.join(sorted(gained))}")
    return None


def with_primaries(rules: Iterable[ir.RuleIR], claim: Json) -> Iterator[Json]:
    """The claim with one primary line added beside an add-on line, for (at most) two add-on lines."""
    number = max(line["line"] for line in claim["lines"]) + 1
    tried = 0
    for rule in rules:
        if not isinstance(rule.body, ir.AddonIR):
            continue
        for line in claim["lines"]:
            if line["code"] in rule.body.addons.members and tried < 2:
                tried += 1
                primary = {"line": number, "code": min(rule.body.primaries.members), "modifiers": [],
                           "units": 1, "date": line["date"]}
                if line.get("rendering_provider"):
                    primary["rendering_provider"] = line["rendering_provider"]
                yield {**claim, "lines": [*claim["lines"], primary]}


def non_addon(line: LineResult) -> set[tuple[str, str, int | None]]:
    return {(f.rule, f.action, f.allowed_units) for f in line.findings if f.kind != "addon"}


def addon_rules(line: LineResult) -> set[str]:
    return {f.rule for f in line.findings if f.kind == "addon"}


INVARIANTS: dict[str, Check] = {
    "the compiled engine and the reference interpreter agree": engines_agree,
    "line order never changes a line's result": order_free,
    "splitting a line's units never changes a per-day or per-claim cap's verdict": split_keeps_caps,
    "adding a payable primary never gives an add-on finding": primary_keeps_addons,
}


# ---------------------------------------------------------------- the search


class Violation(Exception):
    """An invariant broken by a claim; one subclass per invariant keeps Hypothesis's shrinking apart."""

    invariant = ""

    def __init__(self, claim: Json, problem: str) -> None:
        super().__init__(problem)
        self.claim, self.problem = claim, problem


VIOLATIONS = {
    name: type(f"Violation{index}", (Violation,), {"invariant": name}) for index, name in enumerate(INVARIANTS)
}


def check_claim(engines: Engines, claim: Json, invariants: Sequence[str]) -> None:
    """Raise the Violation of the first of `invariants` (in that order) the claim breaks."""
    for name in invariants:
        problem = INVARIANTS[name](engines, claim)
        if problem is not None:
            raise VIOLATIONS[name](claim, problem)


def violations_in(error: BaseException) -> Iterator[Violation]:
    if isinstance(error, Violation):
        yield error
    elif isinstance(error, BaseExceptionGroup):
        for inner in error.exceptions:
            yield from violations_in(inner)


@attrs.define
class Run:
    """One fuzzing session: what was found, what was checked, which rules fired."""

    engines: Engines
    corpus: Path | None
    found: dict[str, Violation] = attrs.Factory(dict)
    checked: int = 0
    behaviours: set[tuple[str, str]] = attrs.Factory(set)

    def open_invariants(self, turn: int = 0) -> list[str]:
        """The invariants not broken yet, the `turn`-th first: one that many claims break cannot hide the rest."""
        names = [name for name in INVARIANTS if name not in self.found]
        if self.engines.reference is None:
            names = [name for name in names if INVARIANTS[name] is not engines_agree]
        return names[turn % len(names) :] + names[: turn % len(names)] if names else []

    def check(self, claim: Json, turn: int = 0) -> None:
        """Check one claim; keep it in the corpus when it makes a rule do something not seen before."""
        self.checked += 1
        judge = self.engines.reference or self.engines.compiled  # the reference says what a rule should do
        result = judge.check(claim)
        new = {(f.rule, line.status) for line in result.lines for f in line.findings} - self.behaviours
        if new:
            self.behaviours |= new
            self.keep(claim)
        check_claim(self.engines, claim, self.open_invariants(turn))

    def keep(self, claim: Json) -> None:
        if self.corpus is not None:
            text = json.dumps(claim, indent=2, sort_keys=False) + "\n"
            name = hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]
            (self.corpus / f"{name}.json").write_text(text, encoding="utf-8")

    def replay(self, claims: Sequence[Json]) -> None:
        for claim in claims:
            try:
                self.check(claim)
            except Violation as violation:
                self.found[violation.invariant] = violation

    def search(self, strategy: Any, seed: int, deadline: float, max_claims: int | None) -> None:
        """Hypothesis runs of ROUND examples, each with its own seed, until the deadline or `max_claims`."""
        round_number = 0
        while time.monotonic() < deadline and self.open_invariants():
            # A round ends early when it finds a violation (it shrinks it instead), so count what was checked.
            examples = ROUND if max_claims is None else min(ROUND, max_claims - self.checked)
            if examples <= 0:
                return
            self.one_round(strategy, seed * 100_003 + round_number, deadline, examples, round_number)
            round_number += 1

    def one_round(self, strategy: Any, seed: int, deadline: float, examples: int, turn: int) -> None:
        """One Hypothesis run, asking the invariants in one order; each violation comes back shrunk."""
        from hypothesis import HealthCheck, Verbosity, given, settings
        from hypothesis import seed as seed_of

        failing: list[Violation] = []

        @seed_of(seed)
        @settings(max_examples=examples, database=None, deadline=None, verbosity=Verbosity.quiet,
                  suppress_health_check=list(HealthCheck), report_multiple_bugs=True)
        @given(strategy)
        def run_one(claim: Json) -> None:
            # Past the deadline, new claims go through unchecked, but not while a failure shrinks.
            if time.monotonic() < deadline or failing:
                try:
                    self.check(claim, turn)
                except Violation as violation:
                    failing.append(violation)
                    raise

        try:
            run_one()
        except BaseException as error:  # noqa: B036 - Hypothesis groups several violations together
            violations = list(violations_in(error))
            if not violations:
                raise
            for violation in violations:
                self.keep(violation.claim)
                self.found.setdefault(violation.invariant, violation)


# ---------------------------------------------------------------- loading


def load_engines(paths: Sequence[str], python_files: Sequence[str]) -> Engines:
    """The compiled engine and, when it models every policy, the reference; an edited module replaces its policy."""
    compiled = compile_paths(paths)
    policies = read_policies(paths)
    replacements = {policy.id: policy for policy in (load_generated(path, policies) for path in python_files)}
    engine = Engine([replacements.get(p.id, p) for p in compiled])
    rules = {f"{p.id}/{rule.id}": rule for p in policies for rule in p.rules}
    try:
        return Engines(engine, ReferenceEngine(policies), rules, tuple(policies))
    except Unsupported as error:
        return Engines(engine, None, rules, tuple(policies), f"the engines are not compared: {error}")


def load_generated(path: str, policies: Sequence[ir.PolicyIR]) -> CompiledPolicy:
    """A generated module (`policyc compile --emit python`, perhaps edited), loaded as the compiler loads its own."""
    text = Path(path).read_text(encoding="utf-8")
    named = re.search(r"^# policy (\S+)", text, flags=re.MULTILINE)
    if named is None or "POLICY" not in text:
        raise click.UsageError(f"{path} is no generated policy module: use one `policyc compile --emit python` printed")
    policy = next((p for p in policies if p.id == named.group(1)), None)
    if policy is None:
        raise click.UsageError(f"{path} is policy `{named.group(1)}`, which no --policy file holds")
    try:
        return load_python(text, policy)
    except Exception as error:  # noqa: BLE001 - any error in a user's edited module is a usage error
        raise click.UsageError(f"{path} does not run: {type(error).__name__}: {error}") from None


def read_corpus(directory: Path) -> list[Json]:
    """The claims kept by earlier runs, in file-name order; unreadable files are skipped with a warning."""
    claims = []
    for path in sorted(directory.glob("*.json")):
        try:
            claim = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            click.echo(f"policyc fuzz: skipping {path}: {error}", err=True)
            continue
        parsed = parse_claim(claim)
        if isinstance(parsed, Rejection):
            click.echo(f"policyc fuzz: skipping {path}: {parsed.describe()}", err=True)
        else:
            claims.append(claim)
    return claims


# ---------------------------------------------------------------- the command


def report(run: Run, seconds: float, seed: int) -> None:
    for name, violation in run.found.items():
        click.echo(f"violation: {name}")
        click.echo("  " + violation.problem.replace("\n", "\n  "))
        click.echo(json.dumps(violation.claim, indent=2))
        click.echo()
    if run.engines.note:
        click.echo(f"policyc fuzz: {run.engines.note}", err=True)
    rules = run.engines.rules
    silent = sorted(set(rules) - {rule for rule, _ in run.behaviours})
    counted = f"{len(rules)} rule{'s' if len(rules) != 1 else ''}"
    click.echo(f"checked {run.checked} claims in {seconds:.1f} s (seed {seed}) against {counted}", err=True)
    if silent:
        click.echo(f"rules that never fired: {', '.join(silent)}", err=True)
    count = len(run.found)
    click.echo(f"{count} invariant{'s' if count != 1 else ''} violated" if count else "no violation", err=True)


@click.command("fuzz")
@click.option("--policy", "-p", "policies", multiple=True, required=True, metavar="PATH",
              help="A .pol file or a directory searched recursively; repeat for more.")
@click.option("--budget", type=click.FloatRange(min=0), default=10.0, show_default=True,
              help="Seconds to spend generating claims.")
@click.option("--seed", type=int, default=0, show_default=True, help="The same seed generates the same claims.")
@click.option("--max-claims", type=click.IntRange(min=0), default=None,
              help="Stop after checking this many claims (shrinking included): with --seed, a run that does not "
              "depend on the machine's speed.")
@click.option("--corpus", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="A directory of claims kept between runs: replayed first, then added to.")
@click.option("--python", "python_files", multiple=True, type=click.Path(exists=True, dir_okay=False),
              metavar="FILE", help="A generated module (`policyc compile --emit python`, edited) to test "
              "in place of the compiled policy with the same id.")
def fuzz_command(policies: tuple[str, ...], budget: float, seed: int, max_claims: int | None,
                 corpus: Path | None, python_files: tuple[str, ...]) -> None:
    """Generate claims against policies and check the language's invariants on each.

    Each violation is printed with the invariant it breaks and a minimal claim in the interchange
    format. Exit status: 0 when no invariant was broken, 1 when one was (or a policy does not
    compile), 2 for bad usage.
    """
    try:
        from policyc.testing import claims_for
    except ImportError as error:
        raise click.UsageError(f"policyc fuzz needs Hypothesis ({error}): pip install hypothesis") from None
    started = time.monotonic()
    missing = [path for path in policies if not Path(path).exists()]
    if missing or not find_policy_files(policies):
        raise click.UsageError(f"no .pol files found under {', '.join(missing or policies)}")
    try:
        engines = load_engines(policies, python_files)
    except PolicyError as error:
        click.echo(error.render(), err=True)
        sys.exit(EXIT_VIOLATION)
    if corpus is not None:
        try:
            corpus.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise click.UsageError(f"cannot use {corpus} as the corpus: {error.strerror or error}") from None
    run = Run(engines, corpus)
    run.replay(read_corpus(corpus) if corpus is not None else [])
    if engines.rules:
        run.search(claims_for(engines.policies), seed, started + budget, max_claims)
    report(run, time.monotonic() - started, seed)
    sys.exit(EXIT_VIOLATION if run.found else EXIT_OK)
