"""Tests for policyc.source: offsets to line:col, the text of a line, and spans."""

from __future__ import annotations

import pytest

from policyc.source import Position, SourceFile, Span

TEXT = "policy p\n  plans all\nrule r"


@pytest.mark.parametrize(
    ("offset", "line", "column"),
    [
        (0, 1, 1),  # the first character of the file
        (7, 1, 8),  # the `p` of `policy p`
        (8, 1, 9),  # the newline ending line 1 belongs to line 1
        (9, 2, 1),  # the first character after a newline
        (11, 2, 3),  # `plans`
        (21, 3, 1),  # the first character of the last line
        (26, 3, 6),  # the last character of the file
        (27, 3, 7),  # the offset just past the end of the file
        (500, 3, 7),  # offsets past the end are clamped to the end
        (-4, 1, 1),  # and negative ones to the start
    ],
)
def test_position_turns_offsets_into_line_and_column(offset: int, line: int, column: int) -> None:
    assert SourceFile("p.pol", TEXT).position(offset) == Position(line, column)


def test_position_at_the_end_of_a_file_ending_in_a_newline_is_on_the_empty_last_line() -> None:
    source = SourceFile("p.pol", "policy p\n")
    assert source.position(9) == Position(2, 1)
    assert source.line_text(2) == ""


def test_position_in_an_empty_file() -> None:
    assert SourceFile("p.pol", "").position(0) == Position(1, 1)


@pytest.mark.parametrize(
    ("line", "text"),
    [(1, "policy p"), (2, "  plans all"), (3, "rule r")],
)
def test_line_text_gives_a_line_without_its_newline(line: int, text: str) -> None:
    assert SourceFile("p.pol", TEXT).line_text(line) == text


def test_crlf_lines_keep_columns_and_drop_the_carriage_return() -> None:
    source = SourceFile("p.pol", "policy p\r\n  plans all\r\nrule r\r\n")
    assert source.line_text(1) == "policy p"
    assert source.line_text(2) == "  plans all"
    assert source.line_text(3) == "rule r"
    assert source.position(source.text.index("plans")) == Position(2, 3)
    assert source.position(source.text.index("rule")) == Position(3, 1)


def test_line_of_is_the_line_a_span_starts_on() -> None:
    source = SourceFile("p.pol", TEXT)
    start = TEXT.index("plans")
    assert source.line_of(Span(start, len(TEXT))) == 2


def test_cover_is_the_smallest_span_holding_both() -> None:
    assert Span(3, 5).cover(Span(10, 12)) == Span(3, 12)
    assert Span(10, 12).cover(Span(3, 5)) == Span(3, 12)
    assert Span(2, 20).cover(Span(5, 6)) == Span(2, 20)
    assert Span(4, 4).cover(Span(4, 4)) == Span(4, 4)
