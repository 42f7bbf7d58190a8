"""Table readers on the real CMS files and on broken ones, table rules' dates, quarters side by side, the cache."""

from __future__ import annotations

import collections
import datetime
import pickle
import sys
from pathlib import Path
from typing import Any

import pytest

import policyc
from policyc import ir, tablecache
from policyc.compiler import read_source, to_ir
from policyc.diagnostics import PolicyError
from policyc.tables import AocTable, MueTable, PtpTable, TableError, read_aoc, read_mue, read_ptp

CMS = Path("policies/cms")
SAMPLES = CMS / "samples"
MUE_FLAT = CMS / "mue_practitioner_2024-07-01.csv"
AOC_FLAT = CMS / "aoc_pairs_2024-06-03.csv"
PTP_FLAT = CMS / "ptp_pairs_home_infusion_subset.csv"
MUE_CMS = SAMPLES / "MCR_MUE_PractitionerServices_Eff_07-01-2026.excerpt.csv"
PTP_CMS = SAMPLES / "ccipra-v322r0-f1.selected-rows.txt"
D = datetime.date


@pytest.fixture(autouse=True)
def _private_table_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the tables these tests parse out of the user's cache folder."""
    monkeypatch.setenv("POLICYC_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "table-cache"))


# ------------------------------------------------------------------ the real files


def test_the_flat_mue_table_holds_every_row() -> None:
    table = read_mue(MUE_FLAT.read_bytes(), str(MUE_FLAT))
    assert len(table.rows) == 14_677
    assert collections.Counter(row.mai for row in table.rows.values()) == {3: 9_479, 2: 5_157, 1: 41}
    assert table.rows["99601"][:3] == (0, 3, "CMS Policy")
    assert table.rows["99213"][:3] == (2, 3, "Clinical: Data")


def test_the_cms_mue_file_with_its_notice_and_embedded_newline() -> None:
    data = MUE_CMS.read_bytes()
    assert b'"HCPCS/\nCPT Code"' in data.replace(b"\r\n", b"\n")
    table = read_mue(data, "x.csv")
    assert len(table.rows) == 44
    first = table.rows["0001U"]
    # The notice record spans 7 physical lines and the header 2, so the first row is on line 10.
    assert (first.value, first.mai, first.rationale, first.line) == (1, 2, "Code Descriptor / CPT Instruction", 10)
    assert table.rows["0002M"].mai == 3  # "3 Date of Service Edit: Clinical"


def test_the_cms_mue_file_in_latin_1_as_cms_publishes_it() -> None:
    text = MUE_CMS.read_text(encoding="utf-8")
    assert "®" in text
    latin = read_mue(text.encode("latin-1"), "x.csv")
    assert latin.rows == read_mue(text.encode("utf-8"), "x.csv").rows


def test_the_flat_add_on_table() -> None:
    table = read_aoc(AOC_FLAT.read_bytes(), str(AOC_FLAT))
    assert len(table) == 7_465 and len(table.rows) == 668
    types = collections.Counter(row.type for rows in table.rows.values() for row in rows)
    assert types == {1: 6_860, 2: 36, 3: 569}
    assert [(r.primary, r.type) for r in table.rows["99602"]] == [("99601", 1)]
    assert [(r.primary, r.type) for r in table.rows["0054T"]] == [(None, 2)]  # CCCCC
    assert table.in_force("96160", D(2024, 7, 1)) is not None


def test_the_flat_ptp_table_keeps_one_setting() -> None:
    data = PTP_FLAT.read_bytes()
    practitioner = read_ptp(data, "p.csv", setting="practitioner")
    hospital = read_ptp(data, "p.csv", setting="outpatient_hospital")
    both = read_ptp(data, "p.csv")
    assert (len(practitioner), len(hospital), len(both)) == (12_172, 2_043, 14_215)
    rows = practitioner.rows["99213"]["99212"]
    assert [(r.end, r.indicator) for r in rows] == [(D(2019, 12, 31), 1), (None, 1)]  # 9999-12-31: open
    assert all(r.start is None for r in rows)  # the flat copy has no effective dates


def test_the_cms_ptp_file_with_its_multi_line_header() -> None:
    table = read_ptp(PTP_CMS.read_bytes(), "ccipra-v322r0-f1.selected-rows.txt", setting="practitioner")
    assert len(table) == 26
    retro = table.rows["0001A"]["90473"][0]
    assert (retro.start, retro.end, retro.indicator) == (D(2022, 1, 1), D(2022, 1, 1), 9)
    assert table.rows["0001U"]["0030U"][0].end is None  # "*": not deleted
    assert table.rows["0001U"]["0029U"][0].end == D(2026, 6, 30)  # a future deletion date
    assert table.rows["0001A"]["0591T"][0].line == 7


def test_the_format_is_told_by_the_file_and_can_be_forced() -> None:
    assert read_mue(MUE_CMS.read_bytes(), "x", "cms").rows == read_mue(MUE_CMS.read_bytes(), "x").rows
    with pytest.raises(TableError, match="no MUE table header"):
        read_mue(MUE_CMS.read_bytes(), "x", "flat")
    with pytest.raises(TableError, match="no MUE table header"):
        read_mue(b"hcpcs_code,mue_value,mai\n99213,2,3\n", "x", "cms")
    assert read_ptp(PTP_CMS.read_bytes(), "x", "cms").rows == read_ptp(PTP_CMS.read_bytes(), "x").rows


# ------------------------------------------------------------------ broken files: the file, the line, the reason

MUE_HEADER = "hcpcs_code,mue_value,mai,mue_rationale\n"
AOC_HEADER = "add_on_code,primary_code,aoc_edit_type\n"
PTP_HEADER = "setting,column_1,column_2,deletion_date,modifier_indicator,ptp_edit_rationale\n"
CMS_PTP_HEAD = PTP_CMS.read_text(encoding="utf-8").splitlines(keepends=True)[:6]


def cms_mue(*rows: str) -> bytes:
    head = MUE_CMS.read_text(encoding="utf-8").split("0001U")[0]
    return (head + "".join(rows)).encode("latin-1")


BROKEN: list[tuple[str, bytes, int | None, str]] = [
    ("mue", MUE_HEADER.encode() + b"99213,2,3,x\n99601,0,4,CMS Policy\n", 3, "must be 1, 2 or 3, got `4`"),
    ("mue", MUE_HEADER.encode() + b"99213,two,3,x\n", 2, "the MUE value must be a whole number, got `two`"),
    ("mue", MUE_HEADER.encode() + b"99213,-1,3,x\n", 2, "must be a whole number, got `-1`"),
    ("mue", MUE_HEADER.encode() + b"9960,1,3,x\n", 2, "code `9960` is not a procedure code"),
    ("mue", MUE_HEADER.encode() + b"99213,2,3,x\n\n99213,1,3,y\n", 4, "`99213` is listed twice (first on line 2)"),
    ("mue", MUE_HEADER.encode() + b"99213,2\n", 2, "expected 4 columns, found 2"),
    ("mue", b"hcpcs_code,mai,mue_value\n99213,3,2\n99212\n", 3, "expected 3 columns, found 1"),
    ("mue", b"code,value,mai\n99213,2,3\n", 1, "no MUE table header found"),
    ("mue", b"hcpcs_code,mue_value\n99213,2\n", 1, "the header lacks the column `mai`"),
    ("mue", b"", 1, "no MUE table header found"),
    ("mue", MUE_HEADER.encode(), None, "the table holds no rows"),
    ("mue", MUE_HEADER.encode() + b'99213,"2,3,x\n', 2, "not valid CSV"),
    (
        "mue",
        cms_mue("0001U,1,2 Date of Service Edit: Policy,x\n", "0002M,1,7 Date of Service Edit: Clinical,x\n"),
        11,
        "got `7 Date of Service Edit: Clinical`",
    ),
    ("mue", cms_mue("0001U,one,2 Date of Service Edit: Policy,x\n"), 10, "must be a whole number, got `one`"),
    ("addon", AOC_HEADER.encode() + b"99602,99601,4\n", 2, "the add-on edit type must be 1, 2 or 3, got `4`"),
    ("addon", AOC_HEADER.encode() + b"99602,CCCCC,1\n", 2, "type 1 add-on `99602` needs a primary code"),
    ("addon", AOC_HEADER.encode() + b"99602,9960,1\n", 2, "primary code `9960` is not a procedure code"),
    (
        "addon",
        b"add_on_code,primary_code,aoc_edit_type,effective_date\n99602,99601,1,2024-02-30\n",
        2,
        "effective date `2024-02-30` is not a date",
    ),
    ("addon", b"add_on_code,primary\n99602,99601\n", 1, "the header lacks the column `primary_code`, `aoc_edit_type`"),
    ("pair", PTP_HEADER.encode() + b"practitioner,99601,36591,9999-12-31,2,x\n", 2, "must be 0, 1 or 9, got `2`"),
    ("pair", PTP_HEADER.encode() + b"practitioner,99601,36591,2024-13-01,0,x\n", 2, "deletion date `2024-13-01`"),
    ("pair", PTP_HEADER.encode() + b"practitioner,99601,3659,9999-12-31,0,x\n", 2, "column 2 code `3659`"),
    (
        "pair",
        "".join([*CMS_PTP_HEAD, "0001A\t0591T\t\t20220101\t20231231\n"]).encode(),
        7,
        "expected 7 tab-separated columns, found 5",
    ),
    (
        "pair",
        "".join([*CMS_PTP_HEAD, "0001A\t0591T\t\t2022-01-01x\t*\t1\tx\n"]).encode(),
        7,
        "effective date `2022-01-01x`",
    ),
    ("pair", "".join([*CMS_PTP_HEAD, "0001A\t0591T\t\t\t*\t1\tx\n"]).encode(), 7, "the effective date is missing"),
    ("pair", "".join([*CMS_PTP_HEAD, "0001A\t0591T\tyes\t20220101\t*\t1\tx\n"]).encode(), 7, "third column"),
    ("pair", b"notes\tmore\n0001A\t0591T\t\t20220101\t*\t1\tx\n", 1, "no `Column 1<tab>Column 2` header line"),
]


@pytest.mark.parametrize(("kind", "data", "line", "reason"), BROKEN, ids=[f"{b[0]}-{i}" for i, b in enumerate(BROKEN)])
def test_a_broken_table_names_the_file_line_and_reason(kind: str, data: bytes, line: int | None, reason: str) -> None:
    reader: Any = {"mue": read_mue, "addon": read_aoc, "pair": read_ptp}[kind]
    with pytest.raises(TableError) as caught:
        reader(data, "dir/table.csv")
    error = caught.value
    assert (error.file, error.line) == ("dir/table.csv", line)
    assert reason in error.reason
    assert str(error).startswith(f"dir/table.csv:{line}: " if line else "dir/table.csv: ")


def test_a_setting_the_file_does_not_hold() -> None:
    with pytest.raises(TableError, match="no row has setting `practitioner` \\(found outpatient_hospital\\)"):
        read_ptp(PTP_HEADER.encode() + b"outpatient_hospital,99601,36591,9999-12-31,0,x\n", "p", setting="practitioner")
    with pytest.raises(TableError, match="has no `setting` column"):
        read_ptp(b"column_1,column_2,deletion_date,modifier_indicator\n99601,36591,*,0\n", "p", setting="practitioner")
    with pytest.raises(TableError, match="its name says practitioner, not outpatient_hospital"):
        read_ptp(PTP_CMS.read_bytes(), "ccipra-v322r0-f1.txt", setting="outpatient_hospital")


# ------------------------------------------------------------------ what a table judges: the codes its findings land on


def test_an_mue_table_judges_every_code_it_lists() -> None:
    table = read_mue(MUE_HEADER.encode() + b"99213,2,3,x\nA0425,250,1,y\n", "m.csv")
    assert table.judged_codes == table.codes == {"99213", "A0425"}


def test_an_add_on_table_judges_its_add_ons_and_lists_their_primaries() -> None:
    rows = b"99602,99601,1\n96366,96365,1\n96368,96365,1\n96368,96366,1\n0054T,CCCCC,2\n96160,99202,3\n"
    table = read_aoc(AOC_HEADER.encode() + rows, "a.csv")
    assert table.judged_codes == {"99602", "96366", "96368", "0054T", "96160"}
    # An add-on listed as another's primary is both; CCCCC lists no primary.
    assert table.primaries == {"99601", "96365", "96366", "99202"}
    assert table.codes == table.judged_codes | table.primaries


def test_an_add_on_tables_primaries_include_rows_of_every_date() -> None:
    table = read_aoc(
        b"add_on_code,primary_code,aoc_edit_type,aoc_edit_effective_date,aoc_edit_deletion_date\n"
        b"99602,99601,1,2024-04-01,2024-06-30\n"
        b"99602,S9500,1,2024-07-01,\n",
        "a.csv",
    )
    assert (table.judged_codes, table.primaries) == ({"99602"}, {"99601", "S9500"})


def test_a_ptp_table_judges_its_column_2_codes() -> None:
    rows = (
        b"practitioner,99601,36591,9999-12-31,0,x\n"
        b"practitioner,96365,96360,9999-12-31,1,x\n"
        b"practitioner,96360,96523,9999-12-31,0,x\n"
        b"practitioner,96365,96523,9999-12-31,9,x\n"
    )
    table = read_ptp(PTP_HEADER.encode() + rows, "p.csv")
    assert table.judged_codes == {"36591", "96360", "96523"}
    assert table.codes - table.judged_codes == {"99601", "96365"}


def test_a_ptp_table_keyed_column_2_first_holds_the_same_rows_and_survives_the_cache() -> None:
    rows = (
        b"practitioner,96365,96360,9999-12-31,1,x\n"
        b"practitioner,96360,96523,9999-12-31,0,x\n"
        b"practitioner,96365,96523,2023-12-31,9,x\n"
    )
    table = read_ptp(PTP_HEADER.encode() + rows, "p.csv")
    turned = {(c1, c2): found for c2, inner in table.by_column2.items() for c1, found in inner.items()}
    assert turned == {(c1, c2): found for c1, inner in table.rows.items() for c2, found in inner.items()}
    assert set(table.by_column2) == {"96360", "96523"}
    assert pickle.loads(pickle.dumps(table)).by_column2 == table.by_column2


def test_the_real_tables_judge_what_lint_and_the_test_runner_say_they_can_deny() -> None:
    engine = policyc.load(CMS)
    index = engine.index_for("medicare")
    checked = set()
    for path in sorted(CMS.glob("*.pol")):
        policy = to_ir(read_source(path))
        for rule in policy.rules:
            assert isinstance(rule.body, (ir.TableLimitIR, ir.TableAddonIR, ir.TablePairIR))
            [compiled] = [r for r in index.table_rules if r.name == f"{policy.id}/{rule.id}"]
            assert compiled.table is not None
            assert compiled.table.data.judged_codes == rule.body.table.targets == index.table_triggers[compiled]
            checked.add(type(compiled.table.data))
    assert checked == {MueTable, AocTable, PtpTable}


def test_the_flat_add_on_tables_primaries() -> None:
    table = read_aoc(AOC_FLAT.read_bytes(), str(AOC_FLAT))
    assert len(table.judged_codes) == 668
    assert "99602" in table.judged_codes and "99602" not in table.primaries
    assert "99601" in table.primaries and "99601" not in table.judged_codes
    assert {"96366", "96367"} <= table.judged_codes & table.primaries  # add-ons that are primaries of others
    assert None not in table.primaries  # type 2 rows (CCCCC) list none


# ------------------------------------------------------------------ binding tables in policies


def write_policy(folder: Path, body: str, header: str = "", name: str = "t.pol") -> Path:
    path = folder / name
    text = "policy t\n  plans medicare\n  effective 2000-01-01\n" + header + "\n" + body
    path.write_text(text, encoding="utf-8")
    return path


def diagnostics_of(path: Path) -> list[tuple[str, str, str]]:
    with pytest.raises(PolicyError) as caught:
        policyc.load(path)
    text = path.read_text(encoding="utf-8")
    return [(d.code, text[d.span.start : d.span.end], d.message) for d in caught.value.diagnostics]


def test_a_table_that_cannot_be_read_fails_the_compile_at_its_path(tmp_path: Path) -> None:
    (tmp_path / "mue.csv").write_bytes(MUE_HEADER.encode() + b"99213,2,3,x\n99601,0,9,y\n")
    path = write_policy(tmp_path, 'rule r: mue table "mue.csv" by the same provider deny CO-151 N362\n')
    [(code, underlined, message)] = diagnostics_of(path)
    assert (code, underlined) == ("POL301", '"mue.csv"')
    assert (
        message == f"the table cannot be read: {tmp_path.as_posix()}/mue.csv:3: "
        "the MUE adjudication indicator must be 1, 2 or 3, got `9`"
    )


def test_a_missing_table_file_and_the_blamed_path_among_several(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_bytes(MUE_HEADER.encode() + b"99213,2,3,x\n")
    path = write_policy(tmp_path, 'rule r: mue table "a.csv", "nope.csv" by the same provider deny CO-151\n')
    [(code, underlined, message)] = diagnostics_of(path)
    assert (code, underlined) == ("POL301", '"nope.csv"')
    assert "nope.csv: the file cannot be read (No such file or directory)" in message
    rendered = str(pytest.raises(PolicyError, policyc.load, path).value)
    assert "t.pol:5:28: error[POL301]" in rendered and "table paths are relative to the .pol file" in rendered


def test_the_same_code_in_two_mue_files_of_one_binding(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_bytes(MUE_HEADER.encode() + b"99213,2,3,x\n")
    (tmp_path / "b.csv").write_bytes(MUE_HEADER.encode() + b"99212,2,3,x\n99213,1,3,x\n")
    path = write_policy(tmp_path, 'rule r: mue table "a.csv", "b.csv" by the same provider deny CO-151\n')
    [(code, underlined, message)] = diagnostics_of(path)
    assert (code, underlined) == ("POL301", '"b.csv"')
    assert "b.csv:3: code `99213` is also listed in" in message and "a.csv (line 2)" in message


# Each diagnostic of the table and extends checks, with a near twin that compiles (mirrors test_checks.py).
TWINS = [
    (
        'rule r: mue table "m.csv" format cmss by the same provider deny CO-151',
        'rule r: mue table "m.csv" format flat by the same provider deny CO-151',
        "POL302",
        "cmss",
        "unknown table format `cmss`",
    ),
    (
        'rule r: pair table "p.csv" setting practicioner on the same day by the same provider deny CO-236',
        'rule r: pair table "p.csv" setting practitioner on the same day by the same provider deny CO-236',
        "POL303",
        "practicioner",
        "unknown setting `practicioner`",
    ),
    (
        'rule r: mue table "m.csv" by the same provider deny CO-151 N362 appealable',
        'rule r: mue table "m.csv" by the same provider deny CO-151 N362',
        "POL304",
        "appealable",
        "the MUE table says which findings are appealable (its MAI 3 rows)",
    ),
    (
        "rule r: switch off mue 99213",
        "rule r: when line.code in 99213 deny CO-151",
        "POL305",
        "switch off mue 99213",
        "`switch off` only applies to rows of a policy this one extends",
    ),
    (
        'rule r: mue table "m.csv" deny CO-151',
        'rule r: mue table "m.csv" by the same rendering provider deny CO-151',
        "POL214",
        'mue table "m.csv"',
        "this mue table rule does not say which lines it looks at together",
    ),
    (
        'rule r: addon table "a.csv" deny CO-107',
        'rule r: addon table "a.csv" on the same claim deny CO-107',
        "POL214",
        'addon table "a.csv"',
        "this addon table rule does not say which lines it looks at together",
    ),
    (
        'rule r: pair table "p.csv" on the same day cut back CO-236',
        'rule r: pair table "p.csv" on the same day review "look"',
        "POL213",
        "cut back CO-236",
        "only a `limit` rule can cut back units",
    ),
]


@pytest.mark.parametrize(("bad", "good", "code", "underlined", "message"), TWINS, ids=[t[2] for t in TWINS])
def test_table_checks_and_their_near_twins(
    tmp_path: Path, bad: str, good: str, code: str, underlined: str, message: str
) -> None:
    (tmp_path / "m.csv").write_bytes(MUE_HEADER.encode() + b"99213,2,3,x\n")
    (tmp_path / "a.csv").write_bytes(AOC_HEADER.encode() + b"99602,99601,1\n")
    (tmp_path / "p.csv").write_bytes(PTP_HEADER.encode() + b"practitioner,99601,36591,9999-12-31,0,x\n")
    assert diagnostics_of(write_policy(tmp_path, bad + "\n")) == [(code, underlined, message)]
    policyc.load(write_policy(tmp_path, good + "\n", name="good.pol"))


def test_a_switch_off_rule_takes_no_action(tmp_path: Path) -> None:
    base = write_policy(tmp_path, "", name="base.pol").read_text(encoding="utf-8").replace("policy t", "policy base")
    (tmp_path / "base.pol").write_text(base, encoding="utf-8")
    path = write_policy(tmp_path, "rule r: switch off mue 99213 deny CO-151\n", header="  extends base\n")
    assert diagnostics_of(path) == [("POL212", "deny CO-151", "a `switch off` rule takes no action")]


# ------------------------------------------------------------------ rows' dates, quarters side by side


def claim(*lines: tuple[str, int, str] | tuple[str, int, str, list[str]], plan: str = "medicare") -> dict[str, Any]:
    return {
        "claim_id": "C",
        "plan": plan,
        "member_id": "M",
        "billing_provider": "1234567893",
        "lines": [
            {"line": i, "code": c[0], "units": c[1], "date": c[2], "modifiers": c[3] if len(c) > 3 else []}
            for i, c in enumerate(lines, start=1)
        ],
    }


def verdicts(engine: policyc.Engine, data: dict[str, Any]) -> dict[int, str]:
    result = engine.check(data)
    return {
        line.line: " ".join([line.status, *sorted(f.adjustment or "review" for f in line.findings)])
        for line in result.lines
    }


def test_cms_ptp_rows_apply_from_their_effective_to_their_deletion_date(tmp_path: Path) -> None:
    (tmp_path / "ccipra-v322r0-f1.txt").write_bytes(PTP_CMS.read_bytes())
    engine = policyc.load(
        write_policy(
            tmp_path,
            'rule r: pair table "ccipra-v322r0-f1.txt" setting practitioner\n'
            "  on the same day by the same provider deny CO-236\n",
        )
    )
    pair = [
        ("0001U", "0029U", "2018-06-30", "paid"),
        ("0001U", "0029U", "2018-07-01", "denied CO-236"),
        ("0001U", "0029U", "2026-06-30", "denied CO-236"),
        ("0001U", "0029U", "2026-07-01", "paid"),
        ("0001U", "0428U", "2024-09-30", "paid"),
        ("0001U", "0428U", "2024-10-01", "denied CO-236"),
        ("0001U", "0428U", "2024-12-31", "denied CO-236"),
        ("0001U", "0428U", "2025-01-01", "paid"),
        ("0001U", "0030U", "2099-12-31", "denied CO-236"),  # "*": never deleted
        ("0001A", "90473", "2022-01-01", "paid"),
    ]  # indicator 9, effective = deletion
    for first, second, day, want in pair:
        assert verdicts(engine, claim((first, 1, day), (second, 1, day))) == {1: "paid", 2: want}, (second, day)


def test_add_on_rows_with_dates(tmp_path: Path) -> None:
    (tmp_path / "aoc.csv").write_text(
        "add_on_code,primary_code,aoc_edit_type,aoc_edit_effective_date,aoc_edit_deletion_date\n"
        "99602,99601,1,2024-04-01,2024-06-30\n"
        "99602,S9500,1,2024-07-01,\n",
        encoding="utf-8",
    )
    engine = policyc.load(
        write_policy(tmp_path, 'rule r: addon table "aoc.csv" on the same day by the same provider deny CO-107\n')
    )
    for day, primary, want in [
        ("2024-03-31", None, "paid"),
        ("2024-04-01", None, "denied CO-107"),
        ("2024-06-30", "99601", "paid"),
        ("2024-07-01", "99601", "denied CO-107"),
        ("2024-06-30", "S9500", "denied CO-107"),
        ("2024-07-01", "S9500", "paid"),
    ]:
        lines = [("99602", 1, day)] + ([(primary, 1, day)] if primary else [])
        assert verdicts(engine, claim(*lines))[1] == want, (day, primary)


def test_two_quarters_side_by_side_each_line_uses_its_own(tmp_path: Path) -> None:
    (tmp_path / "q3.csv").write_bytes(MUE_HEADER.encode() + b"99213,2,3,x\n99601,0,3,CMS Policy\n")
    (tmp_path / "q4.csv").write_bytes(MUE_HEADER.encode() + b"99213,4,3,x\n")
    for quarter, dates in (("q3", "2024-07-01 until 2024-09-30"), ("q4", "2024-10-01 until 2024-12-31")):
        (tmp_path / f"{quarter}.pol").write_text(
            f"policy mue-{quarter}\n  plans medicare\n  effective {dates}\n"
            f'rule mue: mue table "{quarter}.csv" by the same provider deny CO-151 N362\n',
            encoding="utf-8",
        )
    engine = policyc.load(tmp_path)
    got = verdicts(
        engine,
        claim(
            ("99213", 3, "2024-09-30"),
            ("99213", 3, "2024-10-01"),
            ("99213", 5, "2024-10-02"),
            ("99601", 1, "2024-09-30"),
            ("99601", 1, "2024-10-01"),
            ("99213", 9, "2025-01-01"),
        ),
    )
    assert got == {1: "denied CO-151", 2: "paid", 3: "denied CO-151", 4: "denied CO-151", 5: "paid", 6: "paid"}
    rules = {
        f.rule
        for line in engine.check(claim(("99213", 3, "2024-09-30"), ("99213", 5, "2024-10-02"))).lines
        for f in line.findings
    }
    assert rules == {"mue-q3/mue", "mue-q4/mue"}


def test_an_mue_table_can_cut_back_and_group_by_rendering_provider(tmp_path: Path) -> None:
    (tmp_path / "m.csv").write_bytes(MUE_HEADER.encode() + b"99213,2,3,x\nA0425,250,1,y\n")
    engine = policyc.load(
        write_policy(tmp_path, 'rule r: mue table "m.csv" by the same rendering provider cut back CO-151 N362\n')
    )
    data = claim(("99213", 2, "2024-07-01"), ("99213", 1, "2024-07-01"), ("A0425", 300, "2024-07-01"))
    data["lines"][1]["rendering_provider"] = "1111111111"
    result = engine.check(data)
    assert [(line.status, line.allowed_units) for line in result.lines] == [("paid", 2), ("paid", 1), ("reduced", 250)]
    data["lines"][1]["rendering_provider"] = None
    result = engine.check(data)
    assert [(line.status, line.allowed_units) for line in result.lines] == [
        ("paid", 2),
        ("reduced", 0),
        ("reduced", 250),
    ]


def test_findings_say_which_row_and_mai_3_is_appealable(tmp_path: Path) -> None:
    engine = policyc.load(CMS)
    result = engine.check(claim(("99213", 3, "2024-07-15"), ("90471", 2, "2024-07-15"), ("A0425", 251, "2024-07-15")))
    em, immunisation, mileage = (line.findings[0] for line in result.lines)
    assert em.rule == "cms-mue-practitioner-2024q3/mue" and em.appealable
    assert em.message == (
        "Medicare practitioner MUE: 3 units of 99213 on 2024-07-15 exceed the MUE of 2 per day by the same provider "
        "(MAI 3, date of service edit: clinical; rationale: Clinical: Data; "
        "table mue_practitioner_2024-07-01.csv line 10054)"
    )
    assert (immunisation.appealable, mileage.appealable) == (False, False)
    assert (em.carc, em.rarc, em.source) == ("151", ("N362",), "policies/cms/mue-practitioner-2024q3.pol:17")


# ------------------------------------------------------------------ compiled form and cache


def test_tables_compile_to_lookups_not_to_code_per_row() -> None:
    [policy] = policyc.load(CMS / "mue-practitioner-2024q3.pol").policies
    assert len(policy.python_source) < 2_500  # 14,677 rows, and no line of Python for any of them
    assert "TABLES['" in policy.python_source and "99213" not in policy.python_source
    [rule] = policy.rules
    assert rule.table is not None and isinstance(rule.table.data, MueTable)
    assert rule.dispatch_codes is not None and len(rule.dispatch_codes) == 14_677
    assert rule.cross_claim == "provider"


def test_the_generated_python_is_the_same_every_time() -> None:
    first = [p.python_source for p in policyc.load(CMS).policies]
    tablecache.clear_memo()
    assert [p.python_source for p in policyc.load(CMS).policies] == first


def test_a_warm_load_reads_the_cache_not_the_csv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POLICYC_CACHE_DIR", str(tmp_path / "cache"))
    files = [(AOC_FLAT, str(AOC_FLAT))]
    tablecache.clear_memo()
    cold = tablecache.load_table("addon", files)
    assert (tmp_path / "cache" / f"{cold.digest}.pickle").exists()
    tablecache.clear_memo()
    monkeypatch.setattr(tablecache, "read_table", lambda *a, **k: pytest.fail("the CSV was parsed again"))
    warm = tablecache.load_table("addon", files)
    assert isinstance(warm.table, AocTable) and warm.table.rows == cold.table.rows and warm.rows == 7_465


@pytest.mark.parametrize("kind", ["mue", "addon", "pair"])
def test_codes_are_interned_whether_parsed_or_read_from_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    # Lines' codes are interned (Line.code), so a table lookup compares pointers: the table's must be too.
    monkeypatch.setenv("POLICYC_CACHE_DIR", str(tmp_path / "cache"))
    files = [({"mue": MUE_FLAT, "addon": AOC_FLAT, "pair": PTP_FLAT}[kind], "t.csv")]
    for _ in ("parsed", "from the cache"):
        tablecache.clear_memo()
        table = tablecache.load_table(kind, files, setting="practitioner" if kind == "pair" else None).table
        codes = list(table.rows)
        if isinstance(table, AocTable):
            codes += [row.primary for rows in table.rows.values() for row in rows if row.primary]
            codes += list(table.entries)
        if isinstance(table, PtpTable):
            codes += [code for inner in table.rows.values() for code in inner]
            codes += list(table.by_column2) + [code for inner in table.by_column2.values() for code in inner]
        assert codes and all(sys.intern(code) is code for code in codes)


def test_a_corrupt_or_foreign_cache_file_is_parsed_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POLICYC_CACHE_DIR", str(tmp_path))
    (tmp_path / "t.csv").write_bytes(MUE_HEADER.encode() + b"99213,2,3,x\n")
    files = [(tmp_path / "t.csv", "t.csv")]
    tablecache.clear_memo()
    digest = tablecache.load_table("mue", files).digest
    for junk in (b"not a pickle", pickle.dumps({"a": 1})):
        (tmp_path / f"{digest}.pickle").write_bytes(junk)
        tablecache.clear_memo()
        assert isinstance(tablecache.load_table("mue", files).table, MueTable)


def test_the_cache_key_is_the_content_and_how_it_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POLICYC_CACHE_DIR", "")  # "" turns the disk cache off
    path = tmp_path / "p.csv"
    path.write_bytes(PTP_HEADER.encode() + b"practitioner,99601,36591,9999-12-31,0,x\n")
    first = tablecache.load_table("pair", [(path, "p.csv")], None, "practitioner")
    assert tablecache.load_table("pair", [(path, "p.csv")], None, None).digest != first.digest
    path.write_bytes(PTP_HEADER.encode() + b"practitioner,99601,36591,9999-12-31,1,x\n")
    changed = tablecache.load_table("pair", [(path, "p.csv")], None, "practitioner")
    assert changed.digest != first.digest
    assert isinstance(changed.table, PtpTable) and changed.table.rows["99601"]["36591"][0].indicator == 1
    assert not list(tmp_path.glob("*.pickle"))


# ------------------------------------------------------------------ properties: the engine agrees with the rows

import csv  # noqa: E402  (the oracle reads the CSV files itself, without policyc.tables)
import random  # noqa: E402

from hypothesis import example, given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

POOL = [
    "96360",
    "96361",
    "96365",
    "96366",
    "96367",
    "96368",
    "96374",
    "96375",
    "96376",
    "96523",
    "36591",
    "36592",
    "36600",
    "99211",
    "99212",
    "99213",
    "99341",
    "0001A",
    "96160",
    "96161",
    "99202",
    "99354",
    "99601",
    "99602",
    "0054T",
    "A0425",
    "J7175",
    "90471",
    "G0442",
    "S9500",
]
DAYS = [
    "2024-06-30",
    "2024-07-01",
    "2024-07-15",
    "2024-09-30",
    "2024-10-01",
    "2019-03-01",
    "2019-12-31",
    "2023-12-31",
    "2024-01-01",
    "2011-09-30",
    "2013-03-31",
]
MODIFIERS = ["59", "XU", "25", "76", "RT"]
BYPASS = {
    "59",
    "XE",
    "XS",
    "XP",
    "XU",
    "E1",
    "E2",
    "E3",
    "E4",
    "FA",
    "TA",
    "LT",
    "RT",
    "LC",
    "LD",
    "LM",
    "RC",
    "RI",
    "24",
    "25",
    "27",
    "57",
    "58",
    "78",
    "79",
    "91",
    *(f"F{n}" for n in range(1, 10)),
    *(f"T{n}" for n in range(1, 10)),
}


def pool_rows(path: Path, *columns: str) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as handle:
        return [row for row in csv.DictReader(handle) if any(row[c] in POOL for c in columns)]


MUE_ROWS = pool_rows(MUE_FLAT, "hcpcs_code")
AOC_ROWS = pool_rows(AOC_FLAT, "add_on_code")
PTP_ROWS = [r for r in pool_rows(PTP_FLAT, "column_1") if r["setting"] == "practitioner" and r["column_2"] in POOL]
NATIONAL = policyc.load(CMS)


def oracle(lines: list[dict[str, Any]]) -> dict[int, str]:
    """The verdicts the CMS rules give, reading every row of the tables one by one."""
    found: dict[int, set[str]] = {line["line"]: set() for line in lines}
    for line in lines:
        for row in MUE_ROWS:
            if row["hcpcs_code"] == line["code"] and "2024-07-01" <= line["date"] <= "2024-09-30":
                same_day = [o["units"] for o in lines if o["code"] == line["code"] and o["date"] == line["date"]]
                units = line["units"] if row["mai"] == "1" else sum(same_day)
                if units > int(row["mue_value"]):
                    found[line["line"]].add("CO-151")
    for first in lines:
        for second in lines:
            if first is second or first["date"] != second["date"] or second["date"] < "1996-01-01":
                continue
            for row in PTP_ROWS:
                if (row["column_1"], row["column_2"]) != (first["code"], second["code"]):
                    continue
                modifiers = set(first["modifiers"]) | set(second["modifiers"])
                in_force = row["deletion_date"] == "9999-12-31" or second["date"] <= row["deletion_date"]
                if (
                    in_force
                    and row["modifier_indicator"] != "9"
                    and not (row["modifier_indicator"] == "1" and modifiers & BYPASS)
                ):
                    found[second["line"]].add("CO-236")
    standing = {line["line"] for line in lines if not found[line["line"]]}

    def unsupported(line: dict[str, Any]) -> bool:
        primaries = {
            r["primary_code"] for r in AOC_ROWS if r["add_on_code"] == line["code"] and r["primary_code"] != "CCCCC"
        }
        if not primaries or line["date"] < "2013-04-01":
            return False
        return not any(
            o["line"] != line["line"] and o["line"] in standing and o["code"] in primaries and o["date"] == line["date"]
            for o in lines
        )

    changed = True
    while changed:
        falling = [line["line"] for line in lines if line["line"] in standing and unsupported(line)]
        standing.difference_update(falling)
        changed = bool(falling)
    for line in lines:
        if unsupported(line):
            found[line["line"]].add("CO-107")
    return {n: " ".join(["denied" if codes else "paid", *sorted(codes)]) for n, codes in found.items()}


@st.composite
def pool_claims(draw: st.DrawFn) -> list[dict[str, Any]]:
    day = draw(st.sampled_from(DAYS))
    count = draw(st.integers(1, 6))
    lines = []
    for number in range(1, count + 1):
        code = draw(st.sampled_from(POOL))
        units = draw(st.sampled_from([250, 251]) if code == "A0425" else st.integers(1, 3))
        other_day = draw(st.booleans()) and draw(st.booleans())
        lines.append(
            {
                "line": number,
                "code": code,
                "units": units,
                "date": draw(st.sampled_from(DAYS)) if other_day else day,
                "modifiers": draw(st.lists(st.sampled_from(MODIFIERS), max_size=2, unique=True)),
            }
        )
    return lines


def national(lines: list[dict[str, Any]]) -> dict[int, str]:
    return verdicts(
        NATIONAL, {"claim_id": "P", "plan": "medicare", "member_id": "M", "billing_provider": "1", "lines": lines}
    )


@given(pool_claims())
@example(
    [
        {"line": 1, "code": "96366", "units": 1, "date": "2024-07-15", "modifiers": []},
        {"line": 2, "code": "96368", "units": 1, "date": "2024-07-15", "modifiers": []},
    ]
)
@example(
    [
        {"line": 1, "code": "96365", "units": 1, "date": "2024-07-15", "modifiers": []},
        {"line": 2, "code": "96360", "units": 1, "date": "2024-07-15", "modifiers": ["XU"]},
    ]
)
def test_the_national_tables_agree_with_a_row_by_row_reading(lines: list[dict[str, Any]]) -> None:
    assert national(lines) == oracle(lines)


@given(pool_claims(), st.randoms(use_true_random=False))
def test_the_order_of_lines_never_changes_a_verdict(lines: list[dict[str, Any]], shuffle: random.Random) -> None:
    shuffled = list(lines)
    shuffle.shuffle(shuffled)
    assert national(shuffled) == national(lines)


@given(pool_claims(), st.data())
def test_splitting_a_date_of_service_mue_line_changes_no_verdict(
    lines: list[dict[str, Any]], data: st.DataObject
) -> None:
    splittable = [line for line in lines if line["units"] > 1 and line["code"] not in ("A0425", "J7175")]
    if not splittable:
        return
    line = data.draw(st.sampled_from(splittable))
    part = data.draw(st.integers(1, line["units"] - 1))
    extra = {**line, "line": 99, "units": line["units"] - part}
    split = [{**o, "units": part} if o is line else o for o in lines] + [extra]
    before, after = national(lines), national(split)
    assert after.pop(99) == before[line["line"]]
    assert after == before
