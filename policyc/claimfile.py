"""Reading a claims file (one JSON object, a JSON array of objects, or NDJSON) into one record per claim."""

from __future__ import annotations

import codecs
import io
import itertools
import json
import os
import sys
from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import BinaryIO, TextIO

import attrs

from policyc.claims import Claim, ClaimError, Rejection, parse_claim

_JSON_SPACE = b" \t\r\n"

Numbered = Iterator[tuple[int, bytes]]


@attrs.frozen
class ClaimRecord:
    """One record of a claims file: a claim, or why it is none."""

    position: int  # 0-based index of the record in the file
    source_line: int | None  # 1-based line in the file for an NDJSON record, else None
    parsed: Claim | Rejection


class ClaimFileError(Exception):
    """The claims file cannot be read at all; the message names the file and says why."""


@attrs.frozen
class _Invalid:
    """A line that is no JSON value, and why."""

    reason: str


def read_claims(path: str | os.PathLike[str] | None, stream: TextIO | None = None) -> Iterator[ClaimRecord]:
    """The records of a claims file in file order: `-` or None reads stdin, `stream` an open text stream.

    NDJSON is streamed line by line; an array or a single document is read whole. Raises
    ClaimFileError (on the first `next`, as nothing happens before) when the file cannot be read at all.
    """
    name = _name(path, stream)
    if stream is not None:
        yield from _records(_encoded(stream), name)
        return
    if path is None or os.fspath(path) == "-":
        # The byte stream, so that a line that is not UTF-8 rejects one claim instead of ending the run.
        stdin_bytes = getattr(sys.stdin, "buffer", None)
        yield from _records(stdin_bytes if stdin_bytes is not None else _encoded(sys.stdin), name)
        return
    with _open(path, name) as handle:
        yield from _records(handle, name)


def _open(path: str | os.PathLike[str], name: str) -> BinaryIO:
    try:
        return open(path, "rb")
    except OSError as error:
        raise ClaimFileError(f"cannot read `{name}`: {_why(error)}") from None


def read_claims_text(text: str, name: str = "<claims>") -> Iterator[ClaimRecord]:
    """The records of claims file contents already in memory; `name` is for messages."""
    # surrogatepass: a lone surrogate becomes bytes that fail UTF-8 decoding, so it is reported, not raised.
    return _records(io.BytesIO(text.encode("utf-8", "surrogatepass")), name)


def decode_json(text: str | bytes) -> object:
    """Decode JSON as claims files are decoded: exact decimals, and NaN or Infinity refused."""
    return json.loads(text, parse_float=Decimal, parse_constant=_refuse_constant)


def _refuse_constant(name: str) -> object:
    # Python's json takes these by default, but they are not JSON and no amount or count can be one.
    raise ValueError(f"`{name}` is not a JSON value")


# What decoding may raise: ValueError (JSONDecodeError, an int over 4300 digits, NaN), RecursionError for
# deep nesting, ArithmeticError for a number beyond what Decimal can hold.
_DECODE_ERRORS = (ValueError, RecursionError, ArithmeticError)


def _records(source: Iterable[bytes], name: str) -> Iterator[ClaimRecord]:
    lines = _numbered(source, name)
    head = _through_nonblank(lines)
    if not head:
        return
    first_number, first = head[-1]
    value = _load_line(first)
    # Only a first line that is a whole value on its own can start NDJSON; anything else is read whole.
    if first.lstrip(_JSON_SPACE).startswith(b"[") or isinstance(value, _Invalid):
        yield from _whole(b"".join(raw for _, raw in itertools.chain(head, lines)), name)
        return
    following = _through_nonblank(lines)
    if not following:
        yield ClaimRecord(0, None, parse_claim(value))
        return
    yield ClaimRecord(0, first_number, parse_claim(value))
    yield from _ndjson(itertools.chain(following, lines), 1)


def _numbered(source: Iterable[bytes], name: str) -> Numbered:
    """The lines of `source` numbered from 1, without a leading UTF-8 byte order mark."""
    try:
        for number, raw in enumerate(source, start=1):
            yield number, (raw.removeprefix(codecs.BOM_UTF8) if number == 1 else raw)
    except OSError as error:
        raise ClaimFileError(f"cannot read `{name}`: {_why(error)}") from None


def _through_nonblank(lines: Numbered) -> list[tuple[int, bytes]]:
    """The next lines up to and including the first non-blank one; empty when only blank lines are left."""
    taken = []
    for number, raw in lines:
        taken.append((number, raw))
        if not _blank(raw):
            return taken
    return []


def _whole(data: bytes, name: str) -> Iterator[ClaimRecord]:
    """The records of a file read whole: one document, or NDJSON whose first line is broken."""
    try:
        value = decode_json(data.rstrip(_JSON_SPACE).decode("utf-8"))
    except _DECODE_ERRORS as error:
        failure: Exception = error
    else:
        items = value if isinstance(value, list) else [value]
        for position, item in enumerate(items):
            yield ClaimRecord(position, None, parse_claim(item))
        return
    lines = list(enumerate(data.split(b"\n"), start=1))
    if not _looks_like_ndjson(lines):
        raise ClaimFileError(_whole_file_problem(name, data, failure))
    yield from _ndjson(iter(lines), 0)


def _looks_like_ndjson(lines: list[tuple[int, bytes]]) -> bool:
    """Whether text that is no JSON document is NDJSON: more than one line, one of the first two a value.

    A pretty-printed document with a syntax error fails this, and is reported once at the error
    instead of as a rejection for each of its lines.
    """
    first_two = list(itertools.islice((raw for _, raw in lines if not _blank(raw)), 2))
    if len(first_two) < 2 or first_two[0].lstrip(_JSON_SPACE).startswith(b"["):
        return False
    return any(not isinstance(_load_line(raw), _Invalid) for raw in first_two)


def _ndjson(lines: Numbered, position: int) -> Iterator[ClaimRecord]:
    """One record per non-blank line, numbered from `position`; a line that is no JSON is a rejection."""
    for number, raw in lines:
        if _blank(raw):
            continue
        value = _load_line(raw)
        if isinstance(value, _Invalid):
            error = ClaimError("", f"invalid JSON on line {number}: {value.reason}")
            parsed: Claim | Rejection = Rejection(None, (error,))
        else:
            parsed = parse_claim(value)
        yield ClaimRecord(position, number, parsed)
        position += 1


def _load_line(raw: bytes) -> object:
    """The JSON value on one line, or _Invalid saying why there is none."""
    try:
        # Without its newline, a line that breaks off is reported where it ends, not at col 1 of the next.
        return decode_json(raw.rstrip(b"\r\n").decode("utf-8"))
    except UnicodeDecodeError as error:
        return _Invalid(f"not UTF-8 (byte 0x{raw[error.start]:02x} at col {error.start + 1})")
    except json.JSONDecodeError as error:
        return _Invalid(f"{error.msg} (col {error.colno})")
    except _DECODE_ERRORS as error:
        return _Invalid(_decode_problem(error))


def _whole_file_problem(name: str, data: bytes, error: Exception) -> str:
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return f"cannot read `{name}`: it is UTF-16 text; save it as UTF-8"
    if isinstance(error, UnicodeDecodeError):
        line = data.count(b"\n", 0, error.start) + 1
        column = error.start - data.rfind(b"\n", 0, error.start)
        return f"cannot read `{name}`: not UTF-8 text (byte 0x{data[error.start]:02x} at line {line}, col {column})"
    if isinstance(error, json.JSONDecodeError):
        return f"{name}:{error.lineno}:{error.colno}: invalid JSON: {error.msg}"
    return f"{name}: invalid JSON: {_decode_problem(error)}"


def _decode_problem(error: Exception) -> str:
    if isinstance(error, RecursionError):
        return "nested too deeply"
    if isinstance(error, ArithmeticError):
        return "a number is out of range"
    return str(error)


def _blank(raw: bytes) -> bool:
    return not raw.strip(_JSON_SPACE)


def _encoded(stream: Iterable[str]) -> Iterator[bytes]:
    for line in stream:
        yield line.encode("utf-8", "surrogatepass")


def _name(path: str | os.PathLike[str] | None, stream: TextIO | None) -> str:
    if path is not None and os.fspath(path) != "-":
        return os.fspath(path)
    if stream is not None and isinstance(getattr(stream, "name", None), str):
        return str(stream.name)
    return "<stdin>" if stream is None else "<stream>"


def _why(error: OSError) -> str:
    if isinstance(error, FileNotFoundError):
        return "no such file"
    if isinstance(error, IsADirectoryError):
        return "it is a directory"
    if isinstance(error, PermissionError):
        return "permission denied"
    return (error.strerror or str(error)).lower()
