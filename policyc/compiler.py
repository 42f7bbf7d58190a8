"""The compiler as a table of stages: source text -> nodes -> checks -> IR -> Python -> compiled policy."""

from __future__ import annotations

import linecache
import os
import re
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType

import attrs

from policyc import codegen, ir, nodes
from policyc.checks import check
from policyc.diagnostics import Diagnostic, DiagnosticSink, PolicyError
from policyc.lower import lower
from policyc.parser import parse
from policyc.runtime import CompiledPolicy
from policyc.source import SourceFile, Span
from policyc.tablecache import bind_tables

POLICY_SUFFIX = ".pol"


def read_source(path: str | os.PathLike[str]) -> SourceFile:
    """A `.pol` file as a SourceFile named as the user wrote its path; unreadable files become diagnostics."""
    name = display_name(path)
    try:
        return SourceFile(name, Path(path).read_text(encoding="utf-8"))
    except UnicodeDecodeError as error:
        reason = f"the file is not UTF-8 text ({error.reason} at byte {error.start})"
    except OSError as error:
        reason = f"the file cannot be read ({error.strerror or error})"
    empty = SourceFile(name, "")
    raise PolicyError([Diagnostic("POL001", reason, empty, Span(0, 0), "check the path and the file's encoding")])


def display_name(path: str | os.PathLike[str]) -> str:
    """The path relative to the working directory when it lies below it, so findings name `policies/x.pol`."""
    resolved = Path(path).resolve()
    try:
        return resolved.relative_to(Path.cwd()).as_posix()
    except ValueError:
        return Path(path).as_posix()


def check_source(source: SourceFile) -> tuple[nodes.Policy, DiagnosticSink]:
    """Parse and check; raises PolicyError on errors, returns the nodes and any warnings."""
    policy = parse(source)
    sink = DiagnosticSink(source)
    check(policy, sink)
    sink.raise_if_errors()
    return policy, sink


def to_ir(source: SourceFile) -> ir.PolicyIR:
    policy, _ = check_source(source)
    return lower(policy, source, bind_tables(policy, source))


def to_python(source: SourceFile) -> str:
    """The generated Python module for a `.pol` source (what `policyc compile --emit python` prints)."""
    return codegen.generate(to_ir(source))


def load_python(python_source: str, policy_ir: ir.PolicyIR) -> CompiledPolicy:
    """Run generated source in a namespace of its own and take its POLICY."""
    filename = f"<policyc {policy_ir.path}>"
    # Registering the source lets tracebacks and debuggers show the generated lines and their .pol comments.
    linecache.cache[filename] = (len(python_source), None, python_source.splitlines(True), filename)
    module = ModuleType(f"policyc.generated.{codegen.py_name(policy_ir.id)}")
    # Table rows are data, not code: the generated module names each table by content hash and reads it here.
    module.__dict__["TABLES"] = {table.digest: table.data for table in policy_ir.tables}
    exec(compile(python_source, filename, "exec"), module.__dict__)
    compiled: CompiledPolicy = module.POLICY
    rules = tuple(
        attrs.evolve(rule, cross_claim=cross_claim(rule_ir.body)) if cross_claim(rule_ir.body) else rule
        for rule, rule_ir in zip(compiled.rules, policy_ir.rules, strict=True)
    )
    return attrs.evolve(compiled, python_source=python_source, rules=rules)


def cross_claim(body: ir.BodyIR) -> str | None:
    """Which earlier claims' lines a rule adds to its own (per-day caps, add-ons and PTP edits; docs/tables.md).

    "provider": lines billed by the claim's billing provider; "member": lines of every provider (the rule's
    scope then groups them: by rendering provider, or not at all).
    """
    if not isinstance(body, (ir.LimitIR, ir.AddonIR, ir.PairIR, ir.TableLimitIR, ir.TableAddonIR, ir.TablePairIR)):
        return None
    if body.scope.extent != "day":
        return None
    return "provider" if body.scope.provider == "billing" else "member"


def compile_source(source: SourceFile) -> CompiledPolicy:
    """Every stage, from source text to a compiled policy."""
    policy_ir = to_ir(source)
    return load_python(codegen.generate(policy_ir), policy_ir)


def compile_text(text: str, name: str = "<policy>") -> CompiledPolicy:
    return compile_source(SourceFile(name, text))


def find_policy_files(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """The `.pol` files named, and those below each directory named, in a stable order."""
    found: dict[Path, Path] = {}
    for path in map(Path, paths):
        listed = sorted(p for p in path.rglob(f"*{POLICY_SUFFIX}") if p.is_file()) if path.is_dir() else [path]
        for file in listed:
            # A file reached twice (named alone and through its folder) is one policy, not a duplicate.
            found.setdefault(file.resolve(), file)
    return list(found.values())


def compile_paths(paths: Iterable[str | os.PathLike[str]]) -> list[CompiledPolicy]:
    """Compile every policy under `paths`; one PolicyError holds the diagnostics of every failing file."""
    compiled: list[CompiledPolicy] = []
    problems: list[Diagnostic] = []
    first_file: dict[str, str] = {}
    files = find_policy_files(paths)
    for path in files:
        try:
            policy = compile_source(read_source(path))
        except PolicyError as error:
            problems.extend(error.diagnostics)
            continue
        if policy.id in first_file:
            problems.append(_duplicate_policy(policy, first_file[policy.id]))
            continue
        first_file[policy.id] = policy.path
        compiled.append(policy)
    problems.extend(_extends_problems(compiled))
    if problems:
        raise PolicyError(problems)
    return compiled


def _extends_problems(compiled: list[CompiledPolicy]) -> list[Diagnostic]:
    """A policy must extend one that is loaded with it, and no chain of `extends` may come back to its start."""
    by_id = {policy.id: policy for policy in compiled}
    problems = []
    for policy in compiled:
        for base in policy.extends:
            if base not in by_id:
                problems.append(_extends_diagnostic(
                    policy, base, "POL306", f"policy `{policy.id}` extends `{base}`, which is not loaded",
                    "load the extended policy's file too (for example `-p policies/cms`); fix its errors if it has any",
                ))
        chain = _cycle(policy, by_id)
        if chain:
            problems.append(_extends_diagnostic(
                policy, chain[1], "POL307", f"policy `{policy.id}` extends itself: {' -> '.join(chain)}",
                "a policy can only extend policies that do not extend it back",
            ))
    return problems


def _cycle(policy: CompiledPolicy, by_id: dict[str, CompiledPolicy]) -> list[str]:
    """A chain of `extends` from `policy` back to itself (depth first, sorted, so always the same one), or []."""
    def walk(current: CompiledPolicy, path: list[str]) -> list[str]:
        for base in sorted(current.extends):
            if base == policy.id:
                return [*path, base]
            if base in by_id and base not in path:
                found = walk(by_id[base], [*path, base])
                if found:
                    return found
        return []

    return walk(policy, [policy.id])


def _extends_diagnostic(policy: CompiledPolicy, base: str, code: str, message: str, help_text: str) -> Diagnostic:
    """A diagnostic under the name `base` in the policy's `extends` line."""
    source = read_source(policy.path)
    fields = parse(source).header_values("extends")
    span = fields[0].span if fields else Span(0, 0)
    found = re.search(rf"(?<![\w-]){re.escape(base)}(?![\w-])", source.text[span.start : span.end])
    if found:
        span = Span(span.start + found.start(), span.start + found.end())
    return Diagnostic(code, message, source, span, help_text)


def _duplicate_policy(policy: CompiledPolicy, first_path: str) -> Diagnostic:
    source = read_source(policy.path)
    parsed = parse(source)
    return Diagnostic(
        "POL230", f"policy id `{policy.id}` is also used by {first_path}", source, parsed.id_span,
        "give each policy file its own id: findings name rules as `<policy-id>/<rule-id>`",
    )
