"""Read the CMS NCCI edit tables (MUE, add-on, PTP) as published or as flat CSVs into lookup dictionaries."""

from __future__ import annotations

import csv
import datetime
import functools
import io
import re
import sys
from collections.abc import Iterator, Mapping, Sequence
from typing import Literal, NamedTuple

import attrs

# Table codes are read as the files hold them; a code of an unknown family is still 5 letters or digits.
_CODE = re.compile(r"[A-Z0-9]{5}")
_MAI = re.compile(r"([0-9]+)(?:\s.*)?", re.DOTALL)
_COMPACT_DATE = re.compile(r"[0-9]{8}")
NO_PRIMARY = "CCCCC"  # the AOC file's mark for "no national primary" (type 2)
OPEN_END = datetime.date(9999, 12, 31)  # flat files write "no deletion" as 9999-12-31
FORMATS = ("cms", "flat")
SETTINGS = ("practitioner", "outpatient_hospital")
# CMS names the PTP files by setting: ccipra (practitioner) and ccioph (outpatient hospital).
SETTING_OF_PREFIX = {"ccipra": "practitioner", "ccioph": "outpatient_hospital"}


class TableError(Exception):
    """A table that cannot be read: the file, the line (when one is to blame) and why."""

    def __init__(self, file: str, line: int | None, reason: str) -> None:
        self.file, self.line, self.reason = file, line, reason
        super().__init__(self.describe())

    def describe(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where}: {self.reason}"


class MueRow(NamedTuple):
    """One MUE: the most units of a code per line (MAI 1) or per day (MAI 2, 3)."""

    value: int
    mai: int
    rationale: str
    line: int  # where the row is in its file, for messages


class AocRow(NamedTuple):
    """One add-on / primary pair; `primary` is None for a type 2 (or a type 3 listing no primary)."""

    primary: str | None
    type: int
    start: datetime.date | None
    end: datetime.date | None
    line: int


class PtpRow(NamedTuple):
    """One procedure-to-procedure edit between a column 1 and a column 2 code, in force from start to end."""

    start: datetime.date | None
    end: datetime.date | None
    indicator: int  # 0: no modifier bypasses, 1: an NCCI modifier may bypass, 9: no edit
    rationale: str
    line: int


def in_force(start: datetime.date | None, end: datetime.date | None, day: datetime.date) -> bool:
    """Whether a row with these dates applies to a date of service (both ends included, None open)."""
    return (start is None or start <= day) and (end is None or day <= end)


@attrs.frozen(eq=False)
class MueTable:
    """An MUE table: code -> its row."""

    rows: Mapping[str, MueRow]

    @property
    def codes(self) -> frozenset[str]:
        return frozenset(self.rows)

    @property
    def judged_codes(self) -> frozenset[str]:
        """The codes of the lines the table can put a finding on: all of them."""
        return self.codes


class AddonEntry(NamedTuple):
    """What one add-on code's rows say, folded for lookup: undated rows collapse to one set of primaries."""

    typed_one: bool  # some undated row is of type 1
    primaries: frozenset[str]  # the primaries of the undated rows
    first: AocRow  # the first row, named in messages
    dated: bool  # some row has an effective or deletion date: read the rows per date of service instead


def addon_entries(rows: Mapping[str, tuple[AocRow, ...]]) -> dict[str, AddonEntry]:
    entries = {}
    for code, found in rows.items():
        dated = any(r.start is not None or r.end is not None for r in found)
        primaries = frozenset(r.primary for r in found if r.primary is not None)
        entries[code] = AddonEntry(any(r.type == 1 for r in found), primaries, found[0], dated)
    return entries


@attrs.frozen(eq=False)
class AocTable:
    """An add-on code table: add-on code -> its rows, one per listed primary."""

    rows: Mapping[str, tuple[AocRow, ...]]
    entries: Mapping[str, AddonEntry] = attrs.field(
        default=attrs.Factory(lambda self: addon_entries(self.rows), takes_self=True), repr=False
    )

    def in_force(self, code: str, day: datetime.date) -> tuple[bool, frozenset[str], AocRow] | None:
        """(some row is type 1, the listed primaries, the first row) of the code's rows in force, or None."""
        entry = self.entries.get(code)
        if entry is None:
            return None
        if not entry.dated:
            return entry.typed_one, entry.primaries, entry.first
        listed = [r for r in self.rows[code] if in_force(r.start, r.end, day)]
        if not listed:
            return None
        primaries = frozenset(r.primary for r in listed if r.primary is not None)
        return any(r.type == 1 for r in listed), primaries, listed[0]

    @property
    def codes(self) -> frozenset[str]:
        """Every add-on and listed primary code, so a rule sees both kinds of line."""
        return frozenset(self.rows) | self.primaries

    @property
    def primaries(self) -> frozenset[str]:
        """Every listed primary code."""
        return frozenset(row.primary for rows in self.rows.values() for row in rows if row.primary)

    @property
    def judged_codes(self) -> frozenset[str]:
        """The add-on codes: a primary is only ever looked for, never judged."""
        return frozenset(self.rows)

    def __len__(self) -> int:
        return sum(len(rows) for rows in self.rows.values())


@attrs.frozen(eq=False)
class PtpTable:
    """A PTP table: column 1 code -> column 2 code -> the dated rows of that pair."""

    rows: Mapping[str, Mapping[str, tuple[PtpRow, ...]]]
    # The same rows keyed the other way round, column 2 first: a claim holds few column 2 codes (the ones
    # denied) and many column 1 codes, so the engine starts from the column 2 lines.
    by_column2: Mapping[str, Mapping[str, tuple[PtpRow, ...]]] = attrs.field(
        default=attrs.Factory(lambda self: column2_first(self.rows), takes_self=True), repr=False
    )

    @property
    def codes(self) -> frozenset[str]:
        return frozenset(self.rows) | frozenset(self.by_column2)

    @property
    def judged_codes(self) -> frozenset[str]:
        """The column 2 codes: an edit denies the column 2 line."""
        return frozenset(self.by_column2)

    def __len__(self) -> int:
        return sum(len(rows) for inner in self.rows.values() for rows in inner.values())


def column2_first(
    rows: Mapping[str, Mapping[str, tuple[PtpRow, ...]]],
) -> dict[str, dict[str, tuple[PtpRow, ...]]]:
    turned: dict[str, dict[str, tuple[PtpRow, ...]]] = {}
    for column1, inner in rows.items():
        for column2, pair_rows in inner.items():
            turned.setdefault(column2, {})[column1] = pair_rows
    return turned


Table = MueTable | AocTable | PtpTable


# ------------------------------------------------------------------ text and records


def decode(data: bytes) -> str:
    """UTF-8 when the bytes are UTF-8 (with or without a BOM), else Latin-1, the encoding CMS publishes in."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def records(text: str, delimiter: str = ",") -> Iterator[tuple[int, list[str]]]:
    """CSV records with the line each starts on; a quoted cell may span lines, as the CMS header's does."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    start = 1
    while True:
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            raise _Problem(start, f"the file is not valid CSV ({error})") from None
        yield start, record
        start = reader.line_num + 1


class _Problem(Exception):
    """A problem on one line of the file being read; the reader adds the file's name."""

    def __init__(self, line: int | None, reason: str) -> None:
        super().__init__(reason)
        self.line, self.reason = line, reason


def _header_key(cell: str) -> str:
    return " ".join(cell.split()).lower()


def _blank(record: Sequence[str]) -> bool:
    return all(not cell.strip() for cell in record)


def _code(text: str, what: str, line: int) -> str:
    code = text.strip()
    if not _CODE.fullmatch(code):
        raise _Problem(line, f"{what} `{code}` is not a procedure code (5 letters or digits)")
    return sys.intern(code)  # as `Line.code` is: see `with_interned_codes`


def _whole(text: str, what: str, line: int) -> int:
    value = text.strip()
    if not value.isascii() or not value.isdigit():
        raise _Problem(line, f"{what} must be a whole number, got `{value}`")
    return int(value)


def _date(text: str, what: str, line: int) -> datetime.date | None:
    """yyyy-mm-dd or yyyymmdd; blank, `*` and 9999-12-31 mean no date (an open end)."""
    day = _parse_date(text.strip())
    if day is False:
        raise _Problem(line, f"{what} `{text.strip()}` is not a date (yyyymmdd, yyyy-mm-dd or `*`)")
    return day


@functools.lru_cache(maxsize=4096)
def _parse_date(value: str) -> datetime.date | None | Literal[False]:
    """The date a cell holds, None for an open end, False for no date at all; tables repeat a few dates often."""
    if value in ("", "*"):
        return None
    try:
        if _COMPACT_DATE.fullmatch(value):
            day = datetime.date(int(value[:4]), int(value[4:6]), int(value[6:]))
        else:
            day = datetime.date.fromisoformat(value)
    except ValueError:
        return False
    return None if day == OPEN_END else day


def _columns(header: Sequence[str], required: Sequence[str], optional: Sequence[str], line: int) -> dict[str, int]:
    """Where each named column is in a flat file's header."""
    positions = {_header_key(cell).replace(" ", "_"): index for index, cell in enumerate(header)}
    missing = [name for name in required if name not in positions]
    if missing:
        found = ", ".join(f"`{c}`" for c in header if c.strip()) or "nothing"
        raise _Problem(line, f"the header lacks the column {', '.join(f'`{m}`' for m in missing)} (found {found})")
    return {name: positions[name] for name in (*required, *optional) if name in positions}


def _cells(record: Sequence[str], columns: Mapping[str, int], line: int) -> dict[str, str]:
    last = max(columns.values())
    if len(record) <= last:
        raise _Problem(line, f"expected {last + 1} columns, found {len(record)}")
    return {name: record[index] for name, index in columns.items()}


# ------------------------------------------------------------------ MUE


MUE_FLAT_COLUMNS = ("hcpcs_code", "mue_value", "mai")


def read_mue(data: bytes, name: str, fmt: str | None = None) -> MueTable:
    """An MUE table: the flat CSV (hcpcs_code, mue_value, mai, mue_rationale) or the CMS CSV as published."""
    try:
        return MueTable(_mue_rows(decode(data), fmt))
    except _Problem as problem:
        raise TableError(name, problem.line, problem.reason) from None


def _mue_rows(text: str, fmt: str | None) -> dict[str, MueRow]:
    stream = (item for item in records(text) if not _blank(item[1]))
    header_line, header = _find_mue_header(stream, fmt)
    if _header_key(header[0]) == "hcpcs_code":
        columns = _columns(header, MUE_FLAT_COLUMNS, ("mue_rationale",), header_line)
    else:
        columns = {"hcpcs_code": 0, "mue_value": 1, "mai": 2, "mue_rationale": 3}
    rows: dict[str, MueRow] = {}
    for line, record in stream:
        cells = _cells(record, columns, line)
        code = _code(cells["hcpcs_code"], "code", line)
        if code in rows:
            raise _Problem(line, f"code `{code}` is listed twice (first on line {rows[code].line})")
        rows[code] = MueRow(
            _whole(cells["mue_value"], "the MUE value", line),
            _mai(cells["mai"], line),
            cells.get("mue_rationale", "").strip(),
            line,
        )
    if not rows:
        raise _Problem(None, "the table holds no rows")
    return rows


def _find_mue_header(stream: Iterator[tuple[int, list[str]]], fmt: str | None) -> tuple[int, list[str]]:
    """The header record; the CMS file puts a notice record (or several) before it."""
    for skipped, (line, record) in enumerate(stream):
        key = _header_key(record[0])
        if key == "hcpcs_code" and fmt != "cms":
            return line, record
        if re.fullmatch(r"hcpcs\s*/\s*cpt code", key) and fmt != "flat":
            if len(record) < 3 or "adjudication indicator" not in _header_key(record[2]):
                raise _Problem(line, "the CMS header's third column should be `MUE Adjudication Indicator`")
            return line, record
        # Only the CMS layout has records before its header (the AMA notice); give up early on anything else.
        if fmt == "flat" or skipped >= 3 or _CODE.fullmatch(record[0].strip()):
            break
    expected = {
        "flat": "a `hcpcs_code,mue_value,mai,mue_rationale` header",
        "cms": 'the CMS header ("HCPCS/CPT Code", values, MUE Adjudication Indicator, rationale)',
        None: 'a flat `hcpcs_code,...` header or the CMS header ("HCPCS/CPT Code", ...)',
    }[fmt]
    raise _Problem(1, f"no MUE table header found: expected {expected}")


def _mai(text: str, line: int) -> int:
    """`3` or, as CMS writes it, `3 Date of Service Edit: Clinical`."""
    match = _MAI.fullmatch(text.strip())
    if match is None or match.group(1) not in ("1", "2", "3"):
        raise _Problem(line, f"the MUE adjudication indicator must be 1, 2 or 3, got `{text.strip()}`")
    return int(match.group(1))


# ------------------------------------------------------------------ add-on codes


AOC_FLAT_COLUMNS = ("add_on_code", "primary_code", "aoc_edit_type")
AOC_DATE_COLUMNS = ("aoc_edit_effective_date", "aoc_edit_deletion_date", "effective_date", "deletion_date")


def read_aoc(data: bytes, name: str, fmt: str | None = None) -> AocTable:
    """An add-on code table, flat CSV: add_on_code, primary_code (`CCCCC`: none), aoc_edit_type, optional dates."""
    if fmt == "cms":
        raise TableError(name, None, "the CMS add-on file layout is not supported; convert it to the flat CSV")
    try:
        return AocTable(_aoc_rows(decode(data)))
    except _Problem as problem:
        raise TableError(name, problem.line, problem.reason) from None


def _aoc_rows(text: str) -> dict[str, tuple[AocRow, ...]]:
    stream = (item for item in records(text) if not _blank(item[1]))
    first = next(stream, None)
    if first is None:
        raise _Problem(None, "the table holds no rows")
    columns = _columns(first[1], AOC_FLAT_COLUMNS, AOC_DATE_COLUMNS, first[0])
    rows: dict[str, list[AocRow]] = {}
    for line, record in stream:
        cells = _cells(record, columns, line)
        addon = _code(cells["add_on_code"], "add-on code", line)
        kind = _whole(cells["aoc_edit_type"], "the add-on edit type", line)
        if kind not in (1, 2, 3):
            raise _Problem(line, f"the add-on edit type must be 1, 2 or 3, got `{kind}`")
        primary_text = cells["primary_code"].strip()
        primary = None if primary_text == NO_PRIMARY else _code(primary_text, "primary code", line)
        if primary is None and kind == 1:
            raise _Problem(line, f"type 1 add-on `{addon}` needs a primary code, got `{NO_PRIMARY}`")
        start = _date(cells.get("aoc_edit_effective_date", cells.get("effective_date", "")), "effective date", line)
        end = _date(cells.get("aoc_edit_deletion_date", cells.get("deletion_date", "")), "deletion date", line)
        rows.setdefault(addon, []).append(AocRow(primary, kind, start, end, line))
    if not rows:
        raise _Problem(None, "the table holds no rows")
    return {code: tuple(found) for code, found in rows.items()}


# ------------------------------------------------------------------ procedure-to-procedure


PTP_FLAT_COLUMNS = ("column_1", "column_2", "deletion_date", "modifier_indicator")
PTP_FLAT_OPTIONAL = ("setting", "effective_date", "ptp_edit_rationale")


def read_ptp(data: bytes, name: str, fmt: str | None = None, setting: str | None = None) -> PtpTable:
    """A PTP table: the flat CSV or the CMS tab-delimited file; `setting` keeps one setting's rows."""
    text = decode(data)
    first_line = text.split("\n", 1)[0]
    layout = fmt or ("cms" if "\t" in first_line else "flat")
    try:
        if layout == "cms":
            _cms_setting(name, setting)
            rows = _ptp_cms_rows(text)
        else:
            rows = _ptp_flat_rows(text, setting)
    except _Problem as problem:
        raise TableError(name, problem.line, problem.reason) from None
    return PtpTable(rows)


def _cms_setting(name: str, setting: str | None) -> None:
    """The CMS file has no setting column; its name (ccipra, ccioph) says which setting it holds."""
    if setting is None:
        return
    base = name.rsplit("/", 1)[-1].lower()
    named = next((s for prefix, s in SETTING_OF_PREFIX.items() if base.startswith(prefix)), None)
    if named != setting:
        told = f"its name says {named}" if named else "its name (ccipra..., ccioph...) does not say which"
        raise _Problem(None, f"a CMS PTP file holds one setting and {told}, not {setting}")


def _ptp_flat_rows(text: str, setting: str | None) -> dict[str, dict[str, tuple[PtpRow, ...]]]:
    stream = (item for item in records(text) if not _blank(item[1]))
    first = next(stream, None)
    if first is None:
        raise _Problem(None, "the table holds no rows")
    columns = _columns(first[1], PTP_FLAT_COLUMNS, PTP_FLAT_OPTIONAL, first[0])
    if setting is not None and "setting" not in columns:
        raise _Problem(first[0], f"the table has no `setting` column, so it cannot pick the {setting} rows")
    found: dict[str, dict[str, list[PtpRow]]] = {}
    settings_seen: set[str] = set()
    for line, record in stream:
        cells = _cells(record, columns, line)
        if setting is not None:
            settings_seen.add(cells["setting"].strip())
            if cells["setting"].strip() != setting:
                continue
        column1, column2, row = _ptp_row(
            line,
            cells["column_1"],
            cells["column_2"],
            cells.get("effective_date", ""),
            cells["deletion_date"],
            cells["modifier_indicator"],
            cells.get("ptp_edit_rationale", ""),
        )
        found.setdefault(column1, {}).setdefault(column2, []).append(row)
    if not found:
        shown = ", ".join(sorted(settings_seen))
        raise _Problem(
            None, f"no row has setting `{setting}` (found {shown})" if setting else "the table holds no rows"
        )
    return {c1: {c2: tuple(rows) for c2, rows in inner.items()} for c1, inner in found.items()}


def _ptp_cms_rows(text: str) -> dict[str, dict[str, tuple[PtpRow, ...]]]:
    lines = text.splitlines()
    start = _ptp_cms_data_start(lines)
    found: dict[str, dict[str, list[PtpRow]]] = {}
    for number, raw in enumerate(lines[start:], start=start + 1):
        if not raw.strip():
            continue
        cells = raw.split("\t")
        if len(cells) < 6:
            raise _Problem(number, f"expected 7 tab-separated columns, found {len(cells)}")
        if cells[2].strip() not in ("", "*"):
            raise _Problem(number, f"the third column holds `*` or nothing, got `{cells[2].strip()}`")
        column1, column2, row = _ptp_row(
            number, cells[0], cells[1], cells[3], cells[4], cells[5], cells[6] if len(cells) > 6 else ""
        )
        if row.start is None:
            raise _Problem(number, "the effective date is missing")
        found.setdefault(column1, {}).setdefault(column2, []).append(row)
    if not found:
        raise _Problem(None, "the table holds no rows")
    return {c1: {c2: tuple(rows) for c2, rows in inner.items()} for c1, inner in found.items()}


def _ptp_cms_data_start(lines: Sequence[str]) -> int:
    """The index of the first data line: after the `Column 1` header and its continuation lines."""
    for index, raw in enumerate(lines[:20]):
        if raw.startswith("Column 1\t"):
            index += 1
            while index < len(lines) and lines[index].startswith("\t"):
                index += 1
            return index
    raise _Problem(1, "no `Column 1<tab>Column 2` header line in the first 20 lines of the CMS PTP file")


def _ptp_row(
    line: int, column1: str, column2: str, effective: str, deletion: str, indicator: str, rationale: str
) -> tuple[str, str, PtpRow]:
    first = _code(column1, "column 1 code", line)
    second = _code(column2, "column 2 code", line)
    modifier = indicator.strip()
    if modifier not in ("0", "1", "9"):
        raise _Problem(line, f"the modifier indicator must be 0, 1 or 9, got `{modifier}`")
    start = _date(effective, "effective date", line)
    end = _date(deletion, "deletion date", line)
    return first, second, PtpRow(start, end, int(modifier), rationale.strip(), line)


def with_interned_codes(table: Table) -> Table:
    """The table with every code interned, as a table read from a file has them (an unpickled one has not).

    A claim line's code is interned too (`Line.code`), so looking it up in a table compares two pointers. A
    string compared by its text is read from wherever it lies in memory, and the keys of a table of 15,000
    codes lie all over it: each such read is a wait on memory, once per line and table.
    """
    intern = sys.intern
    if isinstance(table, MueTable):
        return MueTable({intern(code): row for code, row in table.rows.items()})
    if isinstance(table, AocTable):
        return AocTable({
            intern(code): tuple(row._replace(primary=intern(row.primary)) if row.primary else row for row in rows)
            for code, rows in table.rows.items()
        })
    return PtpTable({
        intern(column1): {intern(column2): rows for column2, rows in inner.items()}
        for column1, inner in table.rows.items()
    })


def read_table(kind: str, data: bytes, name: str, fmt: str | None = None, setting: str | None = None) -> Table:
    """Read one table file of a kind (`mue`, `addon`, `pair`)."""
    if kind == "pair":
        return read_ptp(data, name, fmt, setting)
    if kind == "addon":
        return read_aoc(data, name, fmt)
    return read_mue(data, name, fmt)
