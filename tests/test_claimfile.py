"""Tests of reading claims files: the three formats, broken records, unreadable files and streaming."""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from policyc.claimfile import ClaimFileError, ClaimRecord, decode_json, read_claims, read_claims_text
from policyc.claims import Claim, ClaimError, Rejection


def claim(claim_id: str, **line: Any) -> dict[str, Any]:
    return {
        "claim_id": claim_id,
        "plan": "acme-ppo",
        "member_id": "M-1",
        "billing_provider": "1234567893",
        "lines": [{"line": 1, "code": "99601", "units": 1, "date": "2026-01-05", **line}],
    }


def compact(*claims: dict[str, Any]) -> str:
    return "\n".join(json.dumps(c) for c in claims) + "\n"


def ids(records: list[ClaimRecord]) -> list[str | None]:
    return [r.parsed.claim_id for r in records]


def only_reason(record: ClaimRecord) -> str:
    assert isinstance(record.parsed, Rejection)
    (error,) = record.parsed.errors
    assert error.field == ""
    return error.reason


def write(tmp_path: Path, data: str | bytes, name: str = "claims.json") -> Path:
    path = tmp_path / name
    if isinstance(data, str):
        path.write_text(data, encoding="utf-8")
    else:
        path.write_bytes(data)
    return path


# -- formats -----------------------------------------------------------------------------------------------


def test_one_object() -> None:
    (record,) = read_claims_text(json.dumps(claim("C-1")))
    assert record == ClaimRecord(0, None, record.parsed)
    assert isinstance(record.parsed, Claim) and record.parsed.claim_id == "C-1"


def test_pretty_printed_object() -> None:
    (record,) = read_claims_text(json.dumps(claim("C-1"), indent=2))
    assert isinstance(record.parsed, Claim)
    assert record.source_line is None


def test_array_with_an_element_that_is_no_object() -> None:
    text = json.dumps([claim("C-1"), "C-2", claim("C-3")], indent=2)
    records = list(read_claims_text(text))
    assert [r.position for r in records] == [0, 1, 2]
    assert [r.source_line for r in records] == [None, None, None]
    assert ids(records) == ["C-1", None, "C-3"]
    assert only_reason(records[1]) == "a claim must be a JSON object, got string"
    assert isinstance(records[2].parsed, Claim)


def test_empty_array_and_empty_file_have_no_records() -> None:
    assert list(read_claims_text("[]")) == []
    assert list(read_claims_text("")) == []
    assert list(read_claims_text("\n  \n")) == []


def test_ndjson_numbers_records_and_lines_skipping_blank_lines() -> None:
    text = (
        "\n"
        + json.dumps(claim("C-1"))
        + "\n\n"
        + json.dumps(claim("C-2"))
        + "\r\n"
        + json.dumps(claim("C-3"))
    )
    records = list(read_claims_text(text))
    assert ids(records) == ["C-1", "C-2", "C-3"]
    assert [r.position for r in records] == [0, 1, 2]
    assert [r.source_line for r in records] == [2, 4, 5]
    assert all(isinstance(r.parsed, Claim) for r in records)


def test_ndjson_with_a_broken_line_keeps_the_others() -> None:
    broken = '{"claim_id": "C-2" "plan": "x"}'
    text = compact(claim("C-1")) + broken + "\n" + compact(claim("C-3"), claim("C-4", units=0))
    records = list(read_claims_text(text))
    assert ids(records) == ["C-1", None, "C-3", "C-4"]
    assert only_reason(records[1]) == "invalid JSON on line 2: Expecting ',' delimiter (col 20)"
    assert records[1].source_line == 2
    assert isinstance(records[2].parsed, Claim)
    # A valid JSON line that is no valid claim is an ordinary rejection with its paths.
    assert records[3].parsed == Rejection(
        "C-4", (ClaimError("lines[0].units", "must be a positive whole number, got 0"),)
    )


@pytest.mark.parametrize("ending", ["\n", "\r\n"])
def test_a_line_that_breaks_off_is_reported_where_it_ends(ending: str) -> None:
    broken = '{"claim_id": "C-2", "plan":'
    records = list(read_claims_text(compact(claim("C-1")) + broken + ending + compact(claim("C-3"))))
    assert only_reason(records[1]) == f"invalid JSON on line 2: Expecting value (col {len(broken) + 1})"
    with pytest.raises(
        ClaimFileError, match=rf"^c\.json:1:{len(broken) + 1}: invalid JSON: Expecting value$"
    ):
        list(read_claims_text(broken + ending, "c.json"))


def test_ndjson_whose_first_line_is_broken() -> None:
    text = '{"claim_id": "C-1",\n' + compact(claim("C-2"), claim("C-3"))
    records = list(read_claims_text(text))
    assert ids(records) == [None, "C-2", "C-3"]
    assert only_reason(records[0]).startswith("invalid JSON on line 1: ")
    assert [r.source_line for r in records] == [1, 2, 3]


def test_ndjson_lines_that_are_no_objects() -> None:
    records = list(read_claims_text(compact(claim("C-1")) + '"C-2"\n42\n'))
    assert [only_reason(r) for r in records[1:]] == [
        "a claim must be a JSON object, got string",
        "a claim must be a JSON object, got number",
    ]


# -- file-level errors -------------------------------------------------------------------------------------


def test_single_line_document_with_a_syntax_error() -> None:
    with pytest.raises(ClaimFileError, match=r"^claims\.json:1:20: invalid JSON: Expecting ',' delimiter$"):
        list(read_claims_text('{"claim_id": "C-1" "plan": "x"}', "claims.json"))


def test_pretty_printed_document_with_a_syntax_error_is_one_error_not_a_rejection_per_line() -> None:
    text = json.dumps(claim("C-1"), indent=2).replace('"plan"', '"plan" "oops"', 1)
    with pytest.raises(ClaimFileError, match=r"^c\.json:3:\d+: invalid JSON: "):
        list(read_claims_text(text, "c.json"))


def test_array_with_a_syntax_error(tmp_path: Path) -> None:
    text = "[\n" + json.dumps(claim("C-1")) + "\n" + json.dumps(claim("C-2")) + "\n]"
    with pytest.raises(ClaimFileError, match=r"claims\.json:3:1: invalid JSON: Expecting ',' delimiter"):
        list(read_claims(write(tmp_path, text)))


def test_missing_file_is_reported_on_first_next(tmp_path: Path) -> None:
    path = tmp_path / "nope.json"
    records = read_claims(path)  # nothing happens before the first record is asked for
    with pytest.raises(ClaimFileError) as caught:
        next(records)
    assert str(caught.value) == f"cannot read `{path}`: no such file"


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(ClaimFileError, match="it is a directory"):
        list(read_claims(tmp_path))


def test_document_that_is_not_utf8(tmp_path: Path) -> None:
    data = json.dumps(claim("C-1"), indent=2).replace("M-1", "M-\u00e9").encode("latin-1")
    with pytest.raises(ClaimFileError, match=r"not UTF-8 text \(byte 0xe9 at line 4, col 19\)"):
        list(read_claims(write(tmp_path, data)))


def test_utf16_file(tmp_path: Path) -> None:
    data = json.dumps(claim("C-1")).encode("utf-16")
    with pytest.raises(ClaimFileError, match="it is UTF-16 text; save it as UTF-8"):
        list(read_claims(write(tmp_path, data)))


def test_ndjson_line_that_is_not_utf8_rejects_only_that_claim(tmp_path: Path) -> None:
    bad = json.dumps(claim("C-2")).replace("M-1", "M-\u00e9").encode("latin-1")
    data = compact(claim("C-1")).encode() + bad + b"\n" + compact(claim("C-3")).encode()
    records = list(read_claims(write(tmp_path, data)))
    assert ids(records) == ["C-1", None, "C-3"]
    assert only_reason(records[1]).startswith("invalid JSON on line 2: not UTF-8 (byte 0xe9 at col ")


def test_utf8_byte_order_mark_is_skipped(tmp_path: Path) -> None:
    for text in (json.dumps(claim("C-1")), compact(claim("C-1"), claim("C-2"))):
        records = list(read_claims(write(tmp_path, b"\xef\xbb\xbf" + text.encode())))
        assert all(isinstance(r.parsed, Claim) for r in records) and records


def test_nan_is_not_json() -> None:
    records = list(read_claims_text(compact(claim("C-1")) + '{"claim_id": "C-2", "x": NaN}\n'))
    assert only_reason(records[1]) == "invalid JSON on line 2: `NaN` is not a JSON value"
    with pytest.raises(ClaimFileError, match="`Infinity` is not a JSON value"):
        list(read_claims_text('{"charge": Infinity}'))


def test_pathological_lines_are_rejections_not_crashes() -> None:
    lines = ["[" * 100_000, "9" * 5000, "1e99999999999999999999", json.dumps(claim("C-4"))]
    records = list(read_claims_text(compact(claim("C-0")) + "\n".join(lines)))
    assert ids(records) == ["C-0", None, None, None, "C-4"]
    assert only_reason(records[1]) == "invalid JSON on line 2: nested too deeply"
    assert "4300" in only_reason(records[2])
    assert only_reason(records[3]) == "invalid JSON on line 4: a number is out of range"


# -- numbers -----------------------------------------------------------------------------------------------


def test_charges_keep_their_decimal_digits() -> None:
    (record,) = read_claims_text(
        '{"claim_id": "C-1", "plan": "p", "member_id": "m", "billing_provider": "b",'
        ' "lines": [{"line": 1, "code": "99601", "units": 1, "date": "2026-01-05",'
        ' "charge": 180.10}, {"line": 2, "code": "99602", "units": 1,'
        ' "date": "2026-01-05", "charge": 0.1}]}'
    )
    assert isinstance(record.parsed, Claim)
    charges = [line.charge for line in record.parsed.lines]
    assert charges == [Decimal("180.10"), Decimal("0.1")]
    assert [str(c) for c in charges] == ["180.10", "0.1"]


def test_units_written_with_a_decimal_point_are_rejected() -> None:
    (record,) = read_claims_text(json.dumps(claim("C-1")).replace('"units": 1', '"units": 2.0'))
    assert record.parsed == Rejection(
        "C-1",
        (ClaimError("lines[0].units", "must be a positive whole number without a decimal point, got 2.0"),),
    )


def test_decode_json_reads_floats_as_decimals() -> None:
    assert decode_json('{"a": 180.10, "b": 2}') == {"a": Decimal("180.10"), "b": 2}
    assert isinstance(decode_json("2.0"), Decimal)


# -- sources -----------------------------------------------------------------------------------------------


def test_path_and_text_give_the_same_records(tmp_path: Path) -> None:
    text = compact(claim("C-1"), claim("C-2"))
    assert list(read_claims(write(tmp_path, text))) == list(read_claims_text(text))
    assert list(read_claims(str(tmp_path / "claims.json"))) == list(read_claims_text(text))


def test_dash_reads_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    stdin = io.TextIOWrapper(io.BytesIO(compact(claim("C-1"), claim("C-2")).encode()), encoding="utf-8")
    monkeypatch.setattr(sys, "stdin", stdin)
    assert ids(list(read_claims("-"))) == ["C-1", "C-2"]


def test_stdin_without_a_byte_buffer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("not json"))
    with pytest.raises(ClaimFileError, match=r"^<stdin>:1:1: invalid JSON"):
        list(read_claims("-"))


def test_stream_argument() -> None:
    stream = io.StringIO(json.dumps([claim("C-1")]))
    assert ids(list(read_claims("upload.json", stream))) == ["C-1"]
    with pytest.raises(ClaimFileError, match=r"^upload\.json:1:1: "):
        list(read_claims("upload.json", io.StringIO("]")))


class CountingStream(io.StringIO):
    """A text stream that counts the lines read from it."""

    lines_read = 0

    def __next__(self) -> str:
        line = super().__next__()
        self.lines_read += 1
        return line


def test_ndjson_is_streamed_line_by_line() -> None:
    stream = CountingStream(compact(*(claim(f"C-{n}") for n in range(1000))))
    records: Iterator[ClaimRecord] = read_claims(None, stream)
    assert ids([next(records), next(records)]) == ["C-0", "C-1"]
    assert stream.lines_read <= 3  # the second record needs one line of look-ahead at most
    assert len(list(records)) == 998


def test_a_document_is_read_whole() -> None:
    stream = CountingStream(json.dumps([claim("C-1"), claim("C-2")], indent=2))
    records = read_claims(None, stream)
    next(records)
    assert stream.lines_read == len(stream.getvalue().splitlines())
