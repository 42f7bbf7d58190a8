"""The compiler as a table of stages: source text -> nodes -> checks -> IR -> Python -> compiled policy."""

from __future__ import annotations

import linecache
import os
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
    return lower(policy, source)


def to_python(source: SourceFile) -> str:
    """The generated Python module for a `.pol` source (what `policyc compile --emit python` prints)."""
    return codegen.generate(to_ir(source))


def load_python(python_source: str, policy_ir: ir.PolicyIR) -> CompiledPolicy:
    """Run generated source in a namespace of its own and take its POLICY."""
    filename = f"<policyc {policy_ir.path}>"
    # Registering the source lets tracebacks and debuggers show the generated lines and their .pol comments.
    linecache.cache[filename] = (len(python_source), None, python_source.splitlines(True), filename)
    module = ModuleType(f"policyc.generated.{codegen.py_name(policy_ir.id)}")
    exec(compile(python_source, filename, "exec"), module.__dict__)
    compiled: CompiledPolicy = module.POLICY
    return attrs.evolve(compiled, python_source=python_source)


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
    if problems:
        raise PolicyError(problems)
    return compiled


def _duplicate_policy(policy: CompiledPolicy, first_path: str) -> Diagnostic:
    source = read_source(policy.path)
    parsed = parse(source)
    return Diagnostic(
        "POL230", f"policy id `{policy.id}` is also used by {first_path}", source, parsed.id_span,
        "give each policy file its own id: findings name rules as `<policy-id>/<rule-id>`",
    )
