"""The Pygments lexer for `.pol`: every token of the seed policies and the documented examples has a type."""

from __future__ import annotations

import importlib
import importlib.metadata
import re
from pathlib import Path

import pytest
from pygments.lexers import get_lexer_by_name, get_lexer_for_filename
from pygments.token import Comment, Error, Keyword, Literal, Name, Number, String, _TokenType

from policyc.formatter import format_text
from policyc.highlight import PolicyLexer

SEEDS = sorted(Path("policies").rglob("*.pol"))
DOC_EXAMPLES = [
    example
    for doc in ("docs/language.md", "docs/tools.md")
    for example in re.findall(r"```pol\n(.*?)```", Path(doc).read_text(encoding="utf-8"), re.S)
]
ENTRY_POINT = "policyc.highlight:PolicyLexer"  # [project.entry-points."pygments.lexers"] pol = ...


def tokens(text: str) -> list[tuple[_TokenType, str]]:
    return [(kind, value) for kind, value in PolicyLexer().get_tokens(text) if value.strip()]


def errors(text: str) -> list[str]:
    return [value for kind, value in tokens(text) if kind in Error]


@pytest.mark.parametrize("path", SEEDS, ids=str)
def test_every_token_of_a_seed_policy_has_a_type_that_is_not_error(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert errors(text) == []
    assert "".join(value for _, value in PolicyLexer().get_tokens(text)) == text


def test_every_pol_example_of_the_language_reference_lexes_without_error() -> None:
    assert len(DOC_EXAMPLES) > 5
    assert [errors(example) for example in DOC_EXAMPLES] == [[] for _ in DOC_EXAMPLES]


def test_text_that_is_no_policy_gives_error_tokens() -> None:
    assert errors("policy p @ plans all ; $") == ["@", ";", "$"]


@pytest.mark.parametrize(
    ("text", "value", "kind"),
    [
        ("rule per-diem-bundle:", "per-diem-bundle", Name.Function),
        ("codes per_diem =", "per_diem", Name.Class),
        ("policy home-infusion", "home-infusion", Name.Namespace),
        ("limit 99601 to 4 units per day", "per", Keyword),
        ("limit 99601 to 4 units per day", "99601", Name.Constant),
        ("bundle in_per_diem into per_diem", "in_per_diem", Name),
        ("when line.units > 2", "line.units", Name.Attribute),
        ("effective 2024-10-07", "2024-10-07", Literal.Date),
        ("deny CO-151 N362 appealable", "CO-151", Name.Exception),
        ("deny CO-151 N362 appealable", "N362", Name.Label),
        ("deny CO-151 N362 appealable", "appealable", Keyword),
        ("expect line 1 denied CO-107", "denied", Keyword.Constant),
        ("3rd+  with SJ", "3rd+", Number),
        ("line 1: 99602 x2", "x2", Number),
        ("claim has diagnosis Z45.2, E11.9", "Z45.2", Name.Constant),
        ('payer "a # b" # note', '"a # b"', String.Double),
        ('payer "a # b" # note', "# note", Comment.Single),
    ],
)
def test_each_kind_of_word_gets_its_token_type(text: str, value: str, kind: _TokenType) -> None:
    assert (kind, value) in tokens(text)


def test_formatted_policies_lex_without_error() -> None:
    text = format_text('policy p "t" plans all effective 2025-01-01 rule r: when (line has modifier SH or SJ) '
                       'and claim.plan not in ("a", "b") and member.age >= 18 cut back CO-151 N362')
    assert errors(text) == []


def test_the_entry_point_names_the_lexer_with_its_aliases_and_file_pattern() -> None:
    module, name = ENTRY_POINT.split(":")
    lexer = getattr(importlib.import_module(module), name)
    assert lexer is PolicyLexer
    assert {"pol", "policyc"} <= set(lexer.aliases) and lexer.filenames == ["*.pol"]


def test_pygments_finds_the_lexer_by_name_and_by_file_name_once_policyc_is_installed() -> None:
    declared = [e for e in importlib.metadata.entry_points(group="pygments.lexers") if e.value == ENTRY_POINT]
    if not declared:
        pytest.skip("this policyc was installed before it declared its lexer: reinstall it")
    assert isinstance(get_lexer_by_name("pol"), PolicyLexer)
    assert isinstance(get_lexer_for_filename("home-infusion.pol"), PolicyLexer)
