"""Parse `.pol` text with the LALR grammar and turn Lark's errors into diagnostics for the analyst."""

from __future__ import annotations

import datetime
import functools
import hashlib
from pathlib import Path

import lark
from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken
from lark.lexer import PatternStr

from policyc import nodes
from policyc.builder import build
from policyc.diagnostics import DiagnosticSink, PolicyError
from policyc.source import SourceFile, Span
from policyc.tablecache import cache_dir, save_in_cache

GRAMMAR_NAME = "policy.lark"

# What each named terminal is, in the analyst's words; anonymous keywords print as themselves.
TERMINAL_WORDS = {
    "NAME": "a name in lower case (like `per_diem`)",
    "CODE": "a code or modifier in upper case (like `99601`, `S9325`, `SH`)",
    "STRING": 'a quoted text (like "Home infusion")',
    "DATE": "a date as yyyy-mm-dd",
    "NUMBER": "a whole number",
    "ADJUSTMENT": "a group code and CARC (like `CO-107`)",
    "RARC": "a RARC (like `N122`)",
    "ORDINAL": "a rank (like `1st`, `2nd`, `3rd+`)",
    "FIELD": "a field (like `line.units`, `member.age`)",
    "DIAGNOSIS": "a diagnosis code (like `Z45.2`)",
    "TIMES": "units (like `x2`)",
    "ALT_OR": "`or`",
    "$END": "the end of the file",
}


def grammar_path() -> Path:
    """The grammar inside the installed package, or in the source tree when running from a checkout."""
    packaged = Path(__file__).parent / "grammar" / GRAMMAR_NAME
    if packaged.exists():
        return packaged
    return Path(__file__).resolve().parent.parent / "grammar" / GRAMMAR_NAME


@functools.cache
def lark_parser() -> Lark:
    """The LALR parser, built once per process, and read from the cache folder when an earlier run built it.

    Working out the LALR tables takes most of a cold start (about 0.17 s); reading them back takes 0.02 s.
    """
    grammar = grammar_path().read_text(encoding="utf-8")
    # The grammar's text and Lark's version name the file, so a changed grammar or Lark never reads old tables.
    key = hashlib.sha256(f"{lark.__version__}\n{grammar}".encode()).hexdigest()[:24]
    name = f"grammar-{key}.lark"
    directory = cache_dir()
    if directory is not None:
        try:
            with open(directory / name, "rb") as handle:
                cached = Lark.load(handle)
            if isinstance(cached, Lark):
                return cached
        except Exception:  # noqa: BLE001 - a missing, truncated or foreign file only costs building the tables
            pass
    parser = Lark(grammar, parser="lalr", lexer="contextual", propagate_positions=True, maybe_placeholders=False)
    save_in_cache(name, parser.save)
    return parser


def parse(source: SourceFile) -> nodes.Policy:
    """The syntax nodes of a `.pol` file; raises PolicyError on a syntax error or an impossible date."""
    sink = DiagnosticSink(source)
    try:
        tree = lark_parser().parse(source.text)
    except UnexpectedInput as error:
        _report_syntax_error(sink, error)
        raise PolicyError(sink.diagnostics) from None
    _check_dates(sink, tree)
    sink.raise_if_errors()
    return build(tree)


def _check_dates(sink: DiagnosticSink, tree: Tree[Token]) -> None:
    for token in tree.scan_values(lambda v: isinstance(v, Token) and v.type == "DATE"):
        try:
            datetime.date.fromisoformat(str(token))
        except ValueError:
            span = Span(token.start_pos or 0, token.end_pos or 0)
            sink.error("POL102", span, f"`{token}` is not a date", "write an existing date as yyyy-mm-dd")


def _report_syntax_error(sink: DiagnosticSink, error: UnexpectedInput) -> None:
    text = sink.source.text
    if isinstance(error, UnexpectedToken) and error.token.type == "$END" or isinstance(error, UnexpectedEOF):
        expected = _expected(error)
        # Point just after the last word, not at an empty line past the end of the file.
        end = len(text.rstrip())
        span = Span(end, end)
        sink.error("POL101", span, "the file ends too early", f"expected {expected}")
        return
    if isinstance(error, UnexpectedToken):
        token = error.token
        start = token.start_pos or 0
        word = _word_at(text, start, max(token.end_pos or 0, start + 1))
        sink.error("POL101", Span(start, start + len(word)), f"unexpected `{word}`", _hint(word, token.type, error))
        return
    assert isinstance(error, UnexpectedCharacters)
    start = error.pos_in_stream or 0
    word = _word_at(text, start, start + 1)
    span = Span(start, start + len(word))
    sink.error("POL101", span, f"unexpected `{word}`", _hint(word, None, error))


def _word_at(text: str, start: int, end: int) -> str:
    """The whole word a bad token starts, so the caret covers what the analyst wrote."""
    while end < len(text) and (text[end].isalnum() or text[end] in "_-.+"):
        end += 1
    return text[start:end]


def _hint(word: str, token_type: str | None, error: UnexpectedInput) -> str:
    expected_types = getattr(error, "expected", None) or getattr(error, "allowed", None) or set()
    if "CODE" in expected_types and word.upper() != word and word.isalnum():
        return f"codes and modifiers are written in upper case: `{word.upper()}`"
    if "NAME" in expected_types and token_type == "CODE":
        return "names start with a lower-case letter (like `per_diem`); codes go after `=` in a code set"
    if "ADJUSTMENT" in expected_types:
        return "a denial names its group code and CARC joined by `-`, then any RARCs: `deny CO-107 N122`"
    return f"expected {_expected(error)}"


def _expected(error: UnexpectedInput) -> str:
    names = getattr(error, "expected", None) or getattr(error, "allowed", None) or set()
    words = sorted({_terminal_word(name) for name in names})
    if len(words) > 8:
        words = words[:8] + ["..."]
    return "one of: " + ", ".join(words) if len(words) > 1 else (words[0] if words else "something else")


def _terminal_word(name: str) -> str:
    if name in TERMINAL_WORDS:
        return TERMINAL_WORDS[name]
    try:
        pattern = lark_parser().get_terminal(name).pattern
    except KeyError:
        return name.lower()
    return f"`{pattern.value}`" if isinstance(pattern, PatternStr) else name.lower()
