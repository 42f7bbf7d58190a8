"""The policyc language server: compiler errors and lint warnings as the analyst types, and hover on names."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from importlib import metadata

import attrs
import click
from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path

from policyc import nodes as n
from policyc.checks import check
from policyc.diagnostics import Diagnostic, DiagnosticSink, PolicyError, Severity
from policyc.lint import lint_policy
from policyc.lower import evaluate_set
from policyc.parser import parse
from policyc.source import SourceFile, Span

HOVER_CODES = 8
_NAME_CHAR = re.compile(r"[a-z0-9_-]")
logger = logging.getLogger(__name__)


@attrs.frozen
class Parsed:
    """The last text of a document that parsed, and its nodes: hover keeps working while the text is broken."""

    source: SourceFile
    policy: n.Policy
    members: dict[str, frozenset[str]]


def analyse(source: SourceFile) -> tuple[list[Diagnostic], n.Policy | None]:
    """The compiler's errors, or else its warnings and the linter's; with the nodes whenever the text parses."""
    try:
        policy = parse(source)
    except PolicyError as error:
        return error.diagnostics, None
    sink = DiagnosticSink(source)
    check(policy, sink)
    found = sink.diagnostics if sink.has_errors else [*sink.diagnostics, *lint_policy(policy, source)]
    return sorted(found, key=Diagnostic.sort_key), policy


def set_members(policy: n.Policy) -> dict[str, frozenset[str]]:
    """The codes of each code set, evaluated in file order as the compiler does."""
    members: dict[str, frozenset[str]] = {}
    for definition in policy.code_sets:
        members.setdefault(definition.name, evaluate_set(definition.expr, members))
    return members


def to_range(span: Span, lines: Sequence[str], source: SourceFile, server: LanguageServer) -> types.Range:
    """An LSP range (0-based lines, characters in the negotiated encoding) from a span of `source`."""
    codec = server.workspace.position_codec

    def position(offset: int) -> types.Position:
        at = source.position(offset)
        return codec.position_to_client_units(lines, types.Position(line=at.line - 1, character=at.column - 1))

    return types.Range(start=position(span.start), end=position(span.end))


def to_lsp(diagnostic: Diagnostic, lines: Sequence[str], server: LanguageServer) -> types.Diagnostic:
    severity = types.DiagnosticSeverity.Error
    if diagnostic.severity is Severity.WARNING:
        severity = types.DiagnosticSeverity.Warning
    help_line = f"\nhelp: {diagnostic.help}" if diagnostic.help else ""
    return types.Diagnostic(
        range=to_range(diagnostic.span, lines, diagnostic.source, server),
        message=diagnostic.message + help_line,
        severity=severity,
        code=diagnostic.code,
        source="policyc",
    )


def word_at(text: str, offset: int) -> Span | None:
    """The name (lower case, digits, `-`, `_`) under a cursor offset, if any."""
    start = end = max(0, min(offset, len(text)))
    while start > 0 and _NAME_CHAR.match(text[start - 1]):
        start -= 1
    while end < len(text) and _NAME_CHAR.match(text[end]):
        end += 1
    return Span(start, end) if end > start and text[start].isalpha() else None


def describe_set(parsed: Parsed, definition: n.CodeSetDef) -> str:
    codes = sorted(parsed.members.get(definition.name, frozenset()))
    shown = ", ".join(codes[:HOVER_CODES]) + (", ..." if len(codes) > HOVER_CODES else "")
    written = " ".join(parsed.source.text[definition.expr.span.start : definition.expr.span.end].split())
    title = f": {definition.title}" if definition.title else ""
    count = f"{len(codes)} code{'' if len(codes) == 1 else 's'}"
    return f"**code set `{definition.name}`**{title}\n\n{count}: {shown}\n\n`{written}`"


def describe_rule(parsed: Parsed, rule: n.Rule) -> str:
    text = parsed.source.text
    kind = type(rule.body).__name__.lower()
    title = f": {rule.title}" if rule.title else ""
    parts = [f"**rule `{rule.id}`** ({kind}){title}"]
    parts += [f"action: `{' '.join(text[a.span.start : a.span.end].split())}`" for a in rule.actions]
    parts += [f"in force: `{' '.join(text[d.span.start : d.span.end].split())}`" for d in rule.dates]
    return "\n\n".join(parts)


def describe_name(parsed: Parsed, name: str, after_rule: bool) -> str | None:
    """Markdown for the code set or rule called `name`; right after `rule` the name is a rule id."""
    sets = {d.name: d for d in parsed.policy.code_sets}
    rules = {r.id: r for r in parsed.policy.rules}
    if name in sets and not (after_rule and name in rules):
        return describe_set(parsed, sets[name])
    if name in rules:
        return describe_rule(parsed, rules[name])
    return None


class PolicyServer(LanguageServer):
    """A language server for `.pol` files that keeps each document's last parse for hover."""

    def __init__(self) -> None:
        super().__init__("policyc", _version())
        self.parsed: dict[str, Parsed] = {}

    def refresh(self, uri: str) -> None:
        """Check the document as it stands and publish every error or warning."""
        document = self.workspace.get_text_document(uri)
        source = SourceFile(to_fs_path(uri) or uri, document.source)
        try:
            found, policy = analyse(source)
        except Exception as error:  # noqa: BLE001 - one bad document must not stop the server
            logger.exception("policyc could not check %s", uri)
            self.window_log_message(types.LogMessageParams(types.MessageType.Error, f"policyc: {error!r}"))
            return
        if policy is not None:
            self.parsed[uri] = Parsed(source, policy, set_members(policy))
        lines = source.text.split("\n")
        params = types.PublishDiagnosticsParams(
            uri=uri, version=document.version, diagnostics=[to_lsp(d, lines, self) for d in found]
        )
        self.text_document_publish_diagnostics(params)

    def forget(self, uri: str) -> None:
        self.parsed.pop(uri, None)
        self.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=uri, diagnostics=[]))

    def hover(self, params: types.HoverParams) -> types.Hover | None:
        """Title, size and first codes of a code set; title, kind, action and dates of a rule."""
        parsed = self.parsed.get(params.text_document.uri)
        if parsed is None:
            return None
        text = self.workspace.get_text_document(params.text_document.uri).source
        lines = text.split("\n")
        at = self.workspace.position_codec.position_from_client_units(lines, params.position)
        offset = sum(len(line) + 1 for line in lines[: at.line]) + at.character
        span = word_at(text, offset)
        if span is None:
            return None
        after_rule = text[: span.start].rstrip().endswith("rule")
        markdown = describe_name(parsed, text[span.start : span.end], after_rule)
        if markdown is None:
            return None
        contents = types.MarkupContent(kind=types.MarkupKind.Markdown, value=markdown)
        return types.Hover(contents=contents, range=to_range(span, lines, SourceFile("", text), self))


def build_server() -> PolicyServer:
    """A server with its features registered."""
    server = PolicyServer()

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: PolicyServer, params: types.DidOpenTextDocumentParams) -> None:
        ls.refresh(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: PolicyServer, params: types.DidChangeTextDocumentParams) -> None:
        ls.refresh(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_SAVE)
    def did_save(ls: PolicyServer, params: types.DidSaveTextDocumentParams) -> None:
        ls.refresh(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: PolicyServer, params: types.DidCloseTextDocumentParams) -> None:
        ls.forget(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_HOVER)
    def hover(ls: PolicyServer, params: types.HoverParams) -> types.Hover | None:
        return ls.hover(params)

    return server


def _version() -> str:
    try:
        return metadata.version("policyc")
    except metadata.PackageNotFoundError:
        return "0"


def serve() -> None:
    """Run the server on standard input and output until the editor says `exit`."""
    build_server().start_io()


@click.command("lsp")
@click.option("--stdio", is_flag=True, help="Talk over standard input and output (the default and only transport).")
def lsp_command(stdio: bool) -> None:
    """Run the language server for .pol files over standard input and output (for an editor to start)."""
    serve()


if __name__ == "__main__":
    lsp_command()
