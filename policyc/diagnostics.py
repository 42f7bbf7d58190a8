"""Diagnostics: what the compiler reports about a `.pol` file, and how it prints them for an analyst."""

from __future__ import annotations

from enum import Enum

import attrs

from policyc.source import SourceFile, Span


class Severity(Enum):
    ERROR = "error"
    WARNING = "warning"


@attrs.frozen
class Diagnostic:
    """One problem at one place: a stable code, a message for the analyst and an optional fix hint."""

    code: str
    message: str
    source: SourceFile = attrs.field(repr=False)
    span: Span
    help: str | None = None
    severity: Severity = Severity.ERROR

    def sort_key(self) -> tuple[str, int, str]:
        return (self.source.name, self.span.start, self.code)

    def render(self) -> str:
        """`file:line:col: error[CODE]: message`, the source line with a caret, and a `help:` line."""
        pos = self.source.position(self.span.start)
        head = f"{self.source.name}:{pos.line}:{pos.column}: {self.severity.value}[{self.code}]: {self.message}"
        if not self.source.text:
            return head + (f"\n  = help: {self.help}" if self.help else "")
        raw = self.source.line_text(pos.line)
        # Tabs are shown as spaces so the caret lines up under the span whatever the terminal's tab width.
        text = raw.expandtabs()
        gutter = " " * len(str(pos.line))
        end = self.source.position(self.span.end)
        end_column = end.column if end.line == pos.line else len(raw) + 1
        left = len(raw[: pos.column - 1].expandtabs())
        width = len(raw[: end_column - 1].expandtabs()) - left
        caret = " " * left + "^" * max(1, width)
        lines = [head, f"{gutter} |", f"{pos.line} | {text}", f"{gutter} | {caret}"]
        if self.help:
            lines.append(f"{gutter} = help: {self.help}")
        return "\n".join(lines)


class PolicyError(Exception):
    """A policy failed to compile; holds every diagnostic, sorted by position."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics = sorted(diagnostics, key=Diagnostic.sort_key)
        super().__init__(self.render())

    def render(self) -> str:
        count = sum(1 for d in self.diagnostics if d.severity is Severity.ERROR)
        noun = "error" if count == 1 else "errors"
        parts = [d.render() for d in self.diagnostics]
        files = len({d.source.name for d in self.diagnostics})
        where = "" if files == 1 else f" in {files} files"
        parts.append(f"{count} {noun}{where}: nothing was compiled")
        return "\n\n".join(parts)


class DiagnosticSink:
    """Collects diagnostics for one source file so every stage can report and go on."""

    def __init__(self, source: SourceFile) -> None:
        self.source = source
        self.diagnostics: list[Diagnostic] = []

    def error(self, code: str, span: Span, message: str, help: str | None = None) -> None:
        self.diagnostics.append(Diagnostic(code, message, self.source, span, help))

    def warning(self, code: str, span: Span, message: str, help: str | None = None) -> None:
        self.diagnostics.append(Diagnostic(code, message, self.source, span, help, Severity.WARNING))

    @property
    def has_errors(self) -> bool:
        return any(d.severity is Severity.ERROR for d in self.diagnostics)

    def raise_if_errors(self) -> None:
        if self.has_errors:
            raise PolicyError(self.diagnostics)
