"""Source files and spans: positions are kept as offsets and turned into line:col only to print."""

from __future__ import annotations

import bisect

import attrs


@attrs.frozen
class Span:
    """A half-open range of character offsets into one source file."""

    start: int
    end: int

    def cover(self, other: Span) -> Span:
        """The smallest span holding both spans."""
        return Span(min(self.start, other.start), max(self.end, other.end))


@attrs.frozen
class Position:
    """A 1-based line and column, for printing."""

    line: int
    column: int


@attrs.frozen
class SourceFile:
    """The text of a `.pol` file and the name diagnostics print for it."""

    name: str
    text: str
    _line_starts: tuple[int, ...] = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        starts = [0] + [i + 1 for i, ch in enumerate(self.text) if ch == "\n"]
        object.__setattr__(self, "_line_starts", tuple(starts))

    def position(self, offset: int) -> Position:
        """The line and column of a character offset."""
        offset = max(0, min(offset, len(self.text)))
        index = bisect.bisect_right(self._line_starts, offset) - 1
        return Position(index + 1, offset - self._line_starts[index] + 1)

    def line_text(self, line: int) -> str:
        """The text of a 1-based line, without its newline."""
        start = self._line_starts[line - 1]
        end = self._line_starts[line] - 1 if line < len(self._line_starts) else len(self.text)
        return self.text[start:end].rstrip("\r")

    def line_of(self, span: Span) -> int:
        """The line a span starts on."""
        return self.position(span.start).line
