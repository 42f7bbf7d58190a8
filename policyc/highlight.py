"""A Pygments lexer for `.pol` files, so documentation and terminal output can highlight policies."""

from __future__ import annotations

from collections.abc import Callable

from pygments.lexer import RegexLexer, bygroups, default, words
from pygments.token import (
    Comment,
    Keyword,
    Literal,
    Name,
    Number,
    Operator,
    Punctuation,
    String,
    Whitespace,
)

# The grammar's terminals (grammar/policy.lark), written again here: Pygments lexes without a parser.
NAME = r"[a-z][a-z0-9]*(?:[_-][a-z0-9]+)*"
END_OF_WORD = r"(?![\w.-])"  # `per` is a keyword, `per-diem-bundle` a name; `line` a keyword, `line.units` a field
KEYWORDS = (
    "policy", "payer", "source", "plans", "claims", "effective", "until", "codes", "except", "rule", "addon",
    "requires", "limit", "to", "units", "unit", "per", "line", "day", "claim", "sequence", "with", "without", "bundle",
    "into", "pair", "unless", "modifier", "when", "on", "the", "same", "by", "provider", "rendering", "rationale",
    "has", "diagnosis", "test", "plan", "expect", "all",
)
LINE_STATUSES = ("paid", "denied", "reduced", "review")
WORD_OPERATORS = ("and", "or", "not", "in")

# The stubs leave `bygroups` untyped; this name gives it a type so that strict checking holds.
_bygroups: Callable[..., object] = bygroups


class PolicyLexer(RegexLexer):
    """Highlights the `.pol` policy language of policyc."""

    name = "policyc"
    aliases = ["pol", "policyc"]
    filenames = ["*.pol"]
    mimetypes = ["text/x-policyc"]

    tokens = {
        "root": [
            (r"\s+", Whitespace),
            (r"#[^\n]*", Comment.Single),
            (r'"(?:[^"\\\n]|\\.)*"', String.Double),
            # Definitions: the policy id, a code set's name and a rule id.
            (rf"(policy)(\s+)({NAME})", _bygroups(Keyword.Declaration, Whitespace, Name.Namespace)),
            (rf"(codes)(\s+)({NAME})", _bygroups(Keyword.Declaration, Whitespace, Name.Class)),
            (rf"(rule)(\s+)({NAME})", _bygroups(Keyword.Declaration, Whitespace, Name.Function)),
            (r"(test)\b", Keyword.Declaration),
            (r"(deny)\b", Keyword, "action"),
            (r"(cut)(\s+)(back)\b", _bygroups(Keyword, Whitespace, Keyword), "action"),
            (r"(?:line|claim|member)\.[a-z_]+", Name.Attribute),
            (r"[0-9]{4}-[0-9]{2}-[0-9]{2}", Literal.Date),
            (r"[0-9]+(?:st|nd|rd|th)\+?", Number),  # a sequence rank: 1st, 3rd+
            (r"x[0-9]+\b", Number),  # units of a test line: x2
            (words(LINE_STATUSES, suffix=END_OF_WORD), Keyword.Constant),
            (words(WORD_OPERATORS, suffix=END_OF_WORD), Operator.Word),
            (words(KEYWORDS, suffix=END_OF_WORD), Keyword),
            (r"[A-Z]{2}-[A-Z0-9]{1,4}", Name.Exception),  # an expectation's adjustment: CO-107
            # Codes, modifiers and diagnoses (Z45.2) share one shape outside the parser.
            (r"[A-Z0-9]+(?:\.[0-9A-Z]{1,4})?", Name.Constant),
            (r"[0-9]+", Number.Integer),
            (NAME, Name),
            (r"\.\.", Operator),
            (r"!=|<=|>=|[=<>]", Operator),
            (r"[,:()]", Punctuation),
        ],
        # After `deny` / `cut back`: the group code and CARC, then RARCs, then `appealable`.
        "action": [
            (r"[^\S\n]+", Whitespace),
            (r"[A-Z]{2}-[A-Z0-9]{1,4}", Name.Exception),
            (r"[A-Z]{1,2}[0-9]{1,4}\b", Name.Label),
            (rf"appealable{END_OF_WORD}", Keyword),
            default("#pop"),
        ],
    }
