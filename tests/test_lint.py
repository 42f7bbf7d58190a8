"""`policyc lint`: each warning firing (with its code and the exact text under its span) and not firing."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from policyc.diagnostics import Diagnostic, PolicyError, Severity
from policyc.lint import Window, hcpcs_codes, lint_command, lint_source, modifiers
from policyc.source import SourceFile

SEED_POLICIES = sorted(Path("policies").rglob("*.pol"))


def header(effective: str = "2024-10-07") -> str:
    return f'policy t "T"\n  plans all\n  effective {effective}\n\n'


USES_SETS = "\nrule use-{name}:\n  when line.code in {name}\n  review \"look\"\n"


def lint(text: str) -> list[Diagnostic]:
    return lint_source(SourceFile("t.pol", text))


def found(text: str, code: str) -> list[tuple[str, str]]:
    """(text under the span, message) of each warning with `code`."""
    return [(text[d.span.start : d.span.end], d.message) for d in lint(text) if d.code == code]


def under(text: str, code: str) -> list[str]:
    return [spanned for spanned, _ in found(text, code)]


# ------------------------------------------------------------------ the seed policies and the bundled lists


# The national PTP policy starts on 1996-01-01 (NCCI's start) but denies CO-236, a CARC X12 added on
# 2011-01-30: on a claim line dated before then, the rule would send a code that did not exist. The warning is
# right; the policy's owner can start the policy on 2011-01-30 (no claim that old is adjudicated today).
SEED_WARNINGS = {"ptp-practitioner-2024q3.pol": ["POL504"]}
CLEAN_POLICIES = [path for path in SEED_POLICIES if path.name not in SEED_WARNINGS]


@pytest.mark.parametrize("path", SEED_POLICIES, ids=lambda p: p.name)
def test_seed_policies_have_no_warnings(path: Path) -> None:
    # The real path, so the table files next to the policy are found.
    found = lint_source(SourceFile(path.as_posix(), path.read_text(encoding="utf-8")))
    assert [d.code for d in found] == SEED_WARNINGS.get(path.name, [])


def test_the_national_ptp_policy_is_warned_of_a_carc_younger_than_its_dates() -> None:
    path = Path("policies/cms/ptp-practitioner-2024q3.pol")
    [warning] = lint_source(SourceFile(path.as_posix(), path.read_text(encoding="utf-8")))
    assert warning.message == "CARC `236` only starts on 2011-01-30, after the rule's dates start (from 1996-01-01)"


@pytest.mark.parametrize("path", sorted(Path("examples").rglob("*.pol")), ids=lambda p: p.name)
def test_example_policies_have_no_warnings(path: Path) -> None:
    assert lint_source(SourceFile(path.as_posix(), path.read_text(encoding="utf-8"))) == []


def test_table_rules_and_switch_offs_lint_their_written_codes_only(tmp_path: Path) -> None:
    write(tmp_path, "mue.csv", "hcpcs_code,mue_value,mai\n99601,0,3\nJ7175,100,1\n")
    base = write(tmp_path, "base.pol", header() + 'rule mue:\n  mue table "mue.csv" by the same provider\n'
                 "  deny CO-151 N362\n")
    text = (
        header().replace('policy t "T"', 'policy payer "P"').replace("plans all", "plans all\n  extends t")
        + "codes spare = A4221\n"
        + "rule off:\n  switch off mue J7175, J9998\n"
    )
    payer = write(tmp_path, "payer.pol", text)
    assert lint_source(SourceFile(base.as_posix(), base.read_text(encoding="utf-8"))) == []
    found = lint_source(SourceFile(payer.as_posix(), payer.read_text(encoding="utf-8")))
    assert sorted(d.code for d in found) == ["POL501", "POL510"]


def test_bundled_lists_hold_codes_and_dates_only() -> None:
    codes = hcpcs_codes()
    assert len(codes) == 8033
    assert codes["A4397"] == Window(datetime.date(1990, 1, 1), datetime.date(2021, 12, 31))
    assert codes["S9500"].end is None
    assert {"SH", "SJ", "59", "XU", "P1"} <= modifiers() and len(modifiers()) == 426
    for name, columns in (
        ("hcpcs_level2_2024-07.codes.csv", "hcpcs_code,date_added,date_terminated"),
        ("modifiers.csv", "modifier,modifier_type"),
    ):
        assert (Path("policyc/data") / name).read_text(encoding="utf-8").splitlines()[0] == columns


# ------------------------------------------------------------------ POL501, POL502: codes and their dates


def test_pol501_code_not_in_the_hcpcs_list() -> None:
    text = header() + "codes supplies = A4221, S9998, 99601, S9983..S9985, S9980..S9989" + USES_SETS.format(
        name="supplies"
    )
    assert found(text, "POL501") == [
        ("S9998", "`S9998` is not in the HCPCS Level II list of July 2024"),
        ("S9983..S9985", "no code of `S9983..S9985` is in the HCPCS Level II list of July 2024"),
    ]


def test_pol501_cpt_codes_are_never_looked_up() -> None:
    text = header() + "rule r: limit 99999, 0999T to 1 unit per line\n  deny CO-151\n"
    assert under(text, "POL501") == []


def test_pol502_terminated_code_in_a_rule() -> None:
    text = header() + "rule old-kit: bundle A4397 into S9500 on the same day\n  deny CO-97 M15\n"
    assert found(text, "POL502") == [
        ("A4397", "`A4397` was terminated on 2021-12-31, before the rule's dates (from 2024-10-07)")
    ]
    assert under(text.replace("2024-10-07", "2020-01-01"), "POL502") == []


def test_pol502_code_added_after_the_rules_dates() -> None:
    rule = "rule new-drug: limit A9506 to 1 unit per day\n  deny CO-151\n  effective 2023-01-01 until 2023-12-31\n"
    text = header("2023-01-01") + rule
    assert found(text, "POL502") == [
        ("A9506", "`A9506` was added on 2024-07-01, after the rule's dates (2023-01-01 until 2023-12-31)")
    ]
    assert under(text.replace("until 2023-12-31", "until 2024-12-31"), "POL502") == []


def test_pol502_code_set_checked_on_the_dates_of_the_rules_using_it() -> None:
    text = header("2020-01-01") + "codes kits = A4397, A4221\n" + (
        "rule kits-late: when line.code in kits\n  review \"late kit\"\n  effective 2022-01-01\n"
    )
    assert found(text, "POL502") == [
        ("A4397", "`A4397` was terminated on 2021-12-31, before the dates of the rules using `kits` (from 2022-01-01)")
    ]
    assert under(text.replace("effective 2022-01-01", "effective 2021-01-01"), "POL502") == []


def test_pol502_test_line_on_a_date_the_code_is_not_in_force() -> None:
    text = header("2020-01-01") + USES_SETS.format(name="x").replace("in x", "in A4221") + (
        'test "old kit":\n  claim plan commercial on 2022-03-01:\n    line 1: A4397 x1\n  expect line 1 paid\n'
    )
    assert found(text, "POL502") == [
        ("A4397", "`A4397` was terminated on 2021-12-31, before the test line's date (2022-03-01)")
    ]
    assert under(text.replace("on 2022-03-01", "on 2021-03-01"), "POL502") == []


# ------------------------------------------------------------------ POL503: modifiers


def test_pol503_modifier_not_in_the_list() -> None:
    rules = (
        "rule seq: sequence S9325..S9379 on the same day:\n    1st without SH\n    2nd with ZQ\n  deny CO-4 N519\n"
        "rule p: pair 99601 with 96365 on the same day unless modifier 59 or XY\n  deny CO-97 M80\n"
        "rule w: when line has modifier ZY or SJ\n  review \"modifier\"\n"
        'test "t":\n  claim plan commercial on 2025-01-02:\n    line 1: S9500 ZZ SH x1\n  expect line 1 paid\n'
    )
    text = header() + rules
    assert under(text, "POL503") == ["ZQ", "XY", "ZY", "ZZ"]
    assert found(text, "POL503")[0][1] == "modifier `ZQ` is not in the modifier list"
    for bad, good in (("ZQ", "SH"), ("XY", "XU"), ("ZY", "SJ"), ("ZZ", "SJ")):
        text = text.replace(bad, good)
    assert under(text, "POL503") == []


# ------------------------------------------------------------------ POL504: CARC and RARC dates


def test_pol504_carc_retired_before_the_policy() -> None:
    text = header() + "rule r: limit 99601 to 4 units per day\n  deny CO-15 N362\n"
    assert found(text, "POL504") == [
        ("CO-15", "CARC `15` was retired on 2018-05-01, before the rule's dates (from 2024-10-07)")
    ]
    assert under(text.replace("CO-15 ", "CO-151 "), "POL504") == []


def test_pol504_carc_retired_while_the_rule_is_in_force() -> None:
    text = header("2017-01-01") + "rule r: limit 99601 to 4 units per day\n  cut back CO-15\n"
    assert found(text, "POL504") == [
        ("CO-15", "CARC `15` is retired on 2018-05-01, while the rule stays in force (from 2017-01-01)")
    ]
    ended = text.replace("per day\n", "per day\n  effective 2017-06-01 until 2018-04-01\n")
    assert under(ended, "POL504") == []


def test_pol504_rarc_that_starts_after_the_rule() -> None:
    rule = "rule r: when line.code in 99601\n  deny CO-4 N889\n  effective 2020-01-01 until 2021-12-31\n"
    text = header("2020-01-01") + rule
    assert found(text, "POL504") == [
        ("N889", "RARC `N889` starts on 2023-11-01, after the rule's dates (2020-01-01 until 2021-12-31)")
    ]
    assert under(text.replace("N889", "N519"), "POL504") == []


# ------------------------------------------------------------------ POL505: rules that cannot both be met


ADDON = "rule rn-add-on: addon 99602 requires 99601 on the same day by the same provider\n  deny CO-107 N122\n"


def test_pol505_limit_of_zero_on_an_addons_primary() -> None:
    text = header() + ADDON + "rule no-visits: limit 99601 to 0 units per day\n  deny CO-151 N362\n"
    assert found(text, "POL505") == [
        (
            "99601",
            "`rn-add-on` needs a standing 99601 line, but `no-visits` (line 7) denies every line of it "
            "(a limit of 0 units)",
        )
    ]
    assert under(text.replace("to 0 units", "to 1 unit"), "POL505") == []
    assert under(text.replace('deny CO-151 N362', 'review "no visits"'), "POL505") == []


def test_pol505_bundle_that_denies_an_addons_primary() -> None:
    bundle = "rule visits-in-diem: bundle 99601 into S9325..S9379 on the same day\n  deny CO-97 M15\n"
    text = header() + bundle + ADDON
    assert found(text, "POL505") == [
        (
            "99601",
            "`rn-add-on` needs a standing 99601 line, but `visits-in-diem` (line 5) denies it beside "
            "S9325..S9379 (a bundle)",
        )
    ]
    assert under(text.replace("bundle 99601", "bundle A4221"), "POL505") == []


def test_pol505_when_rule_that_denies_an_addons_primary() -> None:
    text = header() + ADDON + "rule no-visits: when line.code in 99601 or 99603\n  deny CO-96\n"
    assert found(text, "POL505") == [
        (
            "99601",
            "`rn-add-on` needs a standing 99601 line, but `no-visits` (line 7) denies every line of it "
            "(a `when` rule on the code)",
        )
    ]
    assert under(text.replace("when line.code in 99601 or", "when line.code in"), "POL505") == []


# ------------------------------------------------------------------ POL506: shadowed rules


def test_pol506_two_identical_bodies() -> None:
    text = header() + "codes nursing = 99601, 99602\n" + (
        "rule first: limit 99601, 99602 to 4 units per day\n  deny CO-151\n"
        "rule again: limit nursing to 4 units per day\n  deny CO-151 N362\n"
    )
    assert found(text, "POL506") == [
        ("again", "rule `again` never changes a verdict: every line it denies is already denied by `first` (line 6)")
    ]
    # The lower cap decides: now `first` is the rule that adds nothing.
    assert under(text.replace("nursing to 4", "nursing to 3"), "POL506") == ["first"]
    apart = text.replace("deny CO-151\nrule again", "deny CO-151\n  effective 2024-10-07 until 2024-12-31\nrule again")
    apart = apart.replace("deny CO-151 N362\n", "deny CO-151 N362\n  effective 2025-01-01\n")
    assert under(apart, "POL506") == []


def test_pol506_looser_cap_on_fewer_codes() -> None:
    text = header() + (
        "rule both: limit 99601, 99602 to 4 units per day by the same provider\n  deny CO-151\n"
        "rule one: limit 99602 to 6 units per day by the same provider\n  deny CO-151\n"
    )
    assert under(text, "POL506") == ["one"]
    # A stronger action, or dates the other rule does not cover, can change a verdict.
    assert under(text.replace("deny CO-151\nrule one", 'review "many"\nrule one'), "POL506") == []
    later = text.replace("deny CO-151\nrule one", "deny CO-151\n  effective 2025-01-01\nrule one")
    assert under(later, "POL506") == []
    assert under(later + "  effective 2025-02-01\n", "POL506") == ["one"]


def test_pol506_bundle_inside_a_wider_bundle() -> None:
    text = header() + (
        "rule wide: bundle A4221, A4222 into S9490..S9504 on the same claim\n  deny CO-97 M15\n"
        "rule narrow: bundle A4221 into S9500 on the same day by the same provider\n  deny CO-97 M15\n"
    )
    assert under(text, "POL506") == ["narrow"]
    assert under(text.replace("on the same claim", "on the same day by the same rendering provider"), "POL506") == []


def test_pol506_rule_on_codes_a_when_rule_always_denies() -> None:
    text = header() + (
        "rule no-supplies: when line.code in A4221, A4222\n  deny CO-97\n"
        "rule supply-cap: limit A4221 to 2 units per day\n  deny CO-151\n"
    )
    assert found(text, "POL506") == [
        (
            "supply-cap",
            "rule `supply-cap` never changes a verdict: every line it denies is already denied by "
            "`no-supplies` (line 5)",
        )
    ]
    assert under(text.replace("line.code in A4221, A4222", "line.code in A4222"), "POL506") == []
    assert under(text.replace("line.code in A4221", "line.code not in A4221"), "POL506") == []


# ------------------------------------------------------------------ POL507: two caps on one code


def test_pol507_two_caps_on_one_code_in_one_scope() -> None:
    text = header() + (
        "rule mue: limit 99601 to 4 units per day by the same provider\n  deny CO-151\n"
        "rule local: limit 99601, 99602 to 6 units per day by the same provider\n  deny CO-151\n"
    )
    assert found(text, "POL507") == [
        ("6", "99601 is capped at 6 units per day by the same provider here and at 4 by `mue` (line 5)")
    ]
    assert under(text.replace("to 6", "to 4"), "POL507") == []
    assert under(text.replace("99602 to 6 units per day", "99602 to 6 units per claim"), "POL507") == []
    assert under(text.replace("deny CO-151\nrule local", 'review "look"\nrule local'), "POL507") == []


# ------------------------------------------------------------------ POL508: overlapping items in one set


def test_pol508_overlapping_ranges_and_codes() -> None:
    text = header() + "codes diem = S9325..S9379, S9370..S9400, S9330, 99601, 99601, S9340..S9350" + USES_SETS.format(
        name="diem"
    )
    assert found(text, "POL508") == [
        ("S9370..S9400", "`S9370..S9400` overlaps `S9325..S9379` in the same set"),
        ("S9330", "`S9330` overlaps `S9325..S9379` in the same set"),
        ("99601", "`99601` is written twice in the same set"),
        ("S9340..S9350", "`S9340..S9350` overlaps `S9325..S9379` in the same set"),
    ]
    [help_text] = [d.help for d in lint(text) if d.code == "POL508" and "S9400" in d.message]
    assert help_text == "join them into one range: `S9325..S9400`"


def test_pol508_adjacent_ranges_and_other_letters_do_not_overlap() -> None:
    text = header() + "codes diem = S9325..S9379, S9380..S9400, A9325..A9379, 0001F..0005F, 00010..00050" + (
        USES_SETS.format(name="diem")
    )
    assert under(text, "POL508") == []


# ------------------------------------------------------------------ POL509: rule dates outside the policy's


def test_pol509_rule_dates_reaching_outside_the_policy() -> None:
    rule = "rule r: limit 99601 to 4 units per day\n  deny CO-151\n  effective {dates}\n"
    policy = header("2026-01-01 until 2026-03-31")
    early = policy + rule.format(dates="2025-12-01 until 2026-02-28")
    assert found(early, "POL509") == [
        (
            "effective 2025-12-01 until 2026-02-28",
            "the rule's dates start on 2025-12-01, before the policy's (2026-01-01)",
        )
    ]
    late = policy + rule.format(dates="2026-02-01 until 2026-06-30")
    assert found(late, "POL509") == [
        ("effective 2026-02-01 until 2026-06-30", "the rule's dates end on 2026-06-30, after the policy's (2026-03-31)")
    ]
    for inside in ("2026-02-01", "2026-01-01 until 2026-03-31"):
        assert under(policy + rule.format(dates=inside), "POL509") == []


# ------------------------------------------------------------------ POL510: unused code sets


def test_pol510_unused_code_sets() -> None:
    text = header() + "codes pumps = E0779..E0781\ncodes supplies = A4221, pumps\ncodes nursing = 99601\n" + (
        USES_SETS.format(name="nursing")
    )
    assert found(text, "POL510") == [
        ("pumps", "code set `pumps` is not used by any rule"),
        ("supplies", "code set `supplies` is not used by any rule"),
    ]
    used = text.replace("when line.code in nursing", "when line.code in nursing, supplies")
    assert under(used, "POL510") == []


# ------------------------------------------------------------------ the library function and the command


def test_lint_source_raises_for_a_policy_that_does_not_compile() -> None:
    with pytest.raises(PolicyError) as error:
        lint(header() + "rule r: limit nursng to 1 unit per line\n  deny CO-151\n")
    assert [d.code for d in error.value.diagnostics] == ["POL201"]


def test_warnings_are_sorted_warnings_with_help() -> None:
    text = header() + "codes b = A4221\ncodes a = A4222\n"
    result = lint(text)
    assert [(d.code, d.severity) for d in result] == [("POL510", Severity.WARNING)] * 2
    assert [text[d.span.start : d.span.end] for d in result] == ["b", "a"]
    assert all(d.help for d in result)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_command_prints_warnings_like_the_compiler_and_exits_1(tmp_path: Path) -> None:
    path = write(tmp_path, "spare.pol", header() + "codes spare = A4221\n")
    result = CliRunner().invoke(lint_command, [str(path)])
    assert result.exit_code == 1
    assert f"{path.as_posix()}:5:7: warning[POL510]: code set `spare` is not used by any rule" in result.stdout
    assert "5 | codes spare = A4221\n  |       ^^^^^\n  = help: use it in a rule, or remove it" in result.stdout
    assert result.stderr.strip() == "1 warning in 1 file"


def test_command_exits_0_on_clean_files() -> None:
    result = CliRunner().invoke(lint_command, [str(path) for path in CLEAN_POLICIES])
    assert (result.exit_code, result.stdout) == (0, "")
    assert result.stderr.strip() == f"0 warnings in {len(CLEAN_POLICIES)} files"


def test_command_lints_the_national_policies_without_crashing() -> None:
    result = CliRunner().invoke(lint_command, ["policies/cms", "examples/cms"])
    assert result.exit_code == 1, result.output
    assert result.stderr.strip() == "1 warning in 4 files"
    assert "policies/cms/ptp-practitioner-2024q3.pol:19:8: warning[POL504]" in result.stdout


def test_command_exits_1_and_prints_errors_when_a_file_does_not_compile(tmp_path: Path) -> None:
    write(tmp_path, "ok.pol", header() + "codes spare = A4221\n")
    write(tmp_path, "broken.pol", header().replace("plans all", "plans") + "rule r: limit 99601 to 1 unit per line\n")
    result = CliRunner().invoke(lint_command, [str(tmp_path)])
    assert result.exit_code == 1
    assert "error[POL101]" in result.stdout and "warning[POL510]" in result.stdout
    assert result.stderr.strip() == "1 warning in 2 files; 1 file does not compile"


def test_command_json_and_usage_errors(tmp_path: Path) -> None:
    path = write(tmp_path, "spare.pol", header() + "codes spare = A4221\n")
    result = CliRunner().invoke(lint_command, ["--format", "json", str(path)])
    [entry] = json.loads(result.stdout)
    assert entry == {
        "file": path.as_posix(), "line": 5, "column": 7, "end_line": 5, "end_column": 12, "severity": "warning",
        "code": "POL510", "message": "code set `spare` is not used by any rule",
        "help": "use it in a rule, or remove it",
    }
    assert CliRunner().invoke(lint_command, [str(tmp_path / "missing.pol")]).exit_code == 2
