"""Load bound tables once: a per-process memo and an on-disk cache of parsed tables keyed by content hash."""

from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
import tempfile
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import BinaryIO

import attrs

from policyc import nodes as n
from policyc.diagnostics import DiagnosticSink
from policyc.source import SourceFile, Span
from policyc.tables import (
    AocRow,
    AocTable,
    MueTable,
    PtpRow,
    PtpTable,
    Table,
    TableError,
    read_table,
    with_interned_codes,
)

# Bump when the parsed form changes, so old cache files are never read as the new shape.
CACHE_VERSION = 2
CACHE_ENV = "POLICYC_CACHE_DIR"
_memo: dict[str, Table] = {}
_memo_lock = threading.Lock()


@attrs.frozen
class LoadedTable:
    """A table read for a rule: its parsed rows and the hash of everything it was read from."""

    table: Table
    digest: str  # sha256 of the kind, format, setting and every file's bytes
    rows: int


def cache_dir() -> Path | None:
    """Where parsed tables (and the grammar's parser tables) are kept between runs.

    $POLICYC_CACHE_DIR, else the user's cache folder; "" turns the cache off.
    """
    configured = os.environ.get(CACHE_ENV)
    if configured is not None:
        return Path(configured) if configured else None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "policyc" / "tables"


def load_table(
    kind: str, files: Sequence[tuple[Path, str]], fmt: str | None = None, setting: str | None = None
) -> LoadedTable:
    """Read the files (path, name to show) of one table binding; raises TableError naming the file and line."""
    contents = [_read(path, name) for path, name in files]
    digest = _digest(kind, fmt, setting, contents)
    table = _memo.get(digest)
    if table is None:
        table = _from_disk(digest)
        if table is None:
            table = _parse(kind, files, contents, fmt, setting)
            _to_disk(digest, table)
        with _memo_lock:
            table = _memo.setdefault(digest, table)
    return LoadedTable(table, digest, _row_count(table))


def _read(path: Path, name: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise TableError(name, None, f"the file cannot be read ({error.strerror or error})") from None


def _digest(kind: str, fmt: str | None, setting: str | None, contents: Sequence[bytes]) -> str:
    digest = hashlib.sha256(f"policyc-table/{CACHE_VERSION}/{kind}/{fmt}/{setting}/{len(contents)}".encode())
    for data in contents:
        digest.update(len(data).to_bytes(8, "big"))
        digest.update(data)
    return digest.hexdigest()


def _parse(
    kind: str, files: Sequence[tuple[Path, str]], contents: Sequence[bytes], fmt: str | None, setting: str | None
) -> Table:
    tables = [read_table(kind, data, name, fmt, setting) for (_, name), data in zip(files, contents, strict=True)]
    return tables[0] if len(tables) == 1 else merge(tables, [name for _, name in files])


def merge(tables: Sequence[Table], names: Sequence[str]) -> Table:
    """One table from several files of one kind (CMS splits the PTP table into four)."""
    first = tables[0]
    if isinstance(first, MueTable):
        mue: dict[str, tuple[str, int]] = {}
        rows = {}
        for table, name in zip(tables, names, strict=True):
            assert isinstance(table, MueTable)
            for code, row in table.rows.items():
                if code in mue:
                    where, line = mue[code]
                    raise TableError(name, row.line, f"code `{code}` is also listed in {where} (line {line})")
                mue[code] = (name, row.line)
                rows[code] = row
        return MueTable(rows)
    if isinstance(first, AocTable):
        addons: dict[str, list[AocRow]] = {}
        for table in tables:
            assert isinstance(table, AocTable)
            for code, found in table.rows.items():
                addons.setdefault(code, []).extend(found)
        return AocTable({code: tuple(found) for code, found in addons.items()})
    pairs: dict[str, dict[str, list[PtpRow]]] = {}
    for table in tables:
        assert isinstance(table, PtpTable)
        for column1, inner in table.rows.items():
            for column2, ptp_rows in inner.items():
                pairs.setdefault(column1, {}).setdefault(column2, []).extend(ptp_rows)
    return PtpTable({c1: {c2: tuple(r) for c2, r in inner.items()} for c1, inner in pairs.items()})


def _row_count(table: Table) -> int:
    return len(table.rows) if isinstance(table, MueTable) else len(table)


def _from_disk(digest: str) -> Table | None:
    """The cached parse, or None when there is none or it cannot be used (any problem means: parse again)."""
    directory = cache_dir()
    if directory is None:
        return None
    try:
        with open(directory / f"{digest}.pickle", "rb") as handle:
            table = pickle.load(handle)
    except Exception:  # noqa: BLE001 - a missing, truncated or foreign cache file only costs a re-parse
        return None
    if not isinstance(table, (MueTable, AocTable, PtpTable)):
        return None
    return with_interned_codes(table)  # unpickling makes new strings; a parsed table's codes are interned


def _to_disk(digest: str, table: Table) -> None:
    save_in_cache(f"{digest}.pickle", lambda out: pickle.dump(table, out, protocol=pickle.HIGHEST_PROTOCOL))


def save_in_cache(name: str, write: Callable[[BinaryIO], object]) -> None:
    """Write a file of the cache folder through `write`; a read-only or full disk only costs the next run time."""
    directory = cache_dir()
    if directory is None:
        return
    temporary = None
    try:
        directory.mkdir(parents=True, exist_ok=True)
        # Write then rename, so a reader never sees half a file and two writers never mix theirs.
        handle, temporary = tempfile.mkstemp(dir=directory, suffix=".tmp")
        with os.fdopen(handle, "wb") as out:
            write(out)
        os.replace(temporary, directory / name)
    except OSError:
        if temporary is not None:
            with contextlib.suppress(OSError):
                os.unlink(temporary)


def clear_memo() -> None:
    """Forget the tables read in this process (for tests that time a cold load)."""
    with _memo_lock:
        _memo.clear()


KIND_OF_NODE: dict[type, str] = {n.TableLimit: "mue", n.TableAddon: "addon", n.TablePair: "pair"}


def bind_tables(policy: n.Policy, source: SourceFile) -> dict[n.TableRef, LoadedTable]:
    """Read every table the policy's rules bind; a table that cannot be read is a POL240 error at its path."""
    sink = DiagnosticSink(source)
    base = Path(source.name).parent
    bound: dict[n.TableRef, LoadedTable] = {}
    for rule in policy.rules:
        body = rule.body
        if not isinstance(body, (n.TableLimit, n.TableAddon, n.TablePair)) or body.table in bound:
            continue
        files = [(base / p.path, (base / p.path).as_posix()) for p in body.table.paths]
        setting = body.setting if isinstance(body, n.TablePair) else None
        try:
            bound[body.table] = load_table(KIND_OF_NODE[type(body)], files, body.table.format, setting)
        except TableError as error:
            sink.error(
                "POL301",
                _blamed_span(body.table, error),
                f"the table cannot be read: {error.describe()}",
                _table_help(error),
            )
    sink.raise_if_errors()
    return bound


def _blamed_span(ref: n.TableRef, error: TableError) -> Span:
    """The span of the path naming the file at fault (the first one when the error names none of them)."""
    for path in ref.paths:
        if error.file.endswith(path.path):
            return path.span
    return ref.paths[0].span


def _table_help(error: TableError) -> str:
    if error.line is None and "cannot be read" in error.reason:
        return "table paths are relative to the .pol file; check the name"
    if error.line is None:
        return "check that the file is the table this rule expects (`mue`, `addon` or `pair`)"
    return f"correct line {error.line} of the file, or export the table again"
