"""The `.pol` test runner: tests of every policy, run together, failures shown, and rule coverage."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from policyc import testrunner
from policyc.testrunner import TestReport, run_tests

HEADER = "policy {id}\n  plans     {plans}\n  effective 2025-01-01\n\n"
MUE = "rule cap: limit 99601 to 4 units per day deny CO-151 N362\n"


def write(tmp_path: Path, name: str, body: str, plans: str = "all", policy_id: str | None = None) -> Path:
    path = tmp_path / name
    path.write_text(HEADER.format(id=policy_id or path.stem, plans=plans) + body, encoding="utf-8")
    return path


def coverage_of(report: TestReport, rule: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    found = next(c for c in report.coverage if c.rule == rule)
    return found.fired_in, found.silent_in


# ---------------------------------------------------------------- the seed policies


def test_every_test_of_the_seed_policies_passes() -> None:
    report = run_tests(["policies"])
    assert len(report.outcomes) >= 15 and report.passed


def test_every_rule_of_every_seed_policy_fires_in_a_test_and_stays_silent_in_one() -> None:
    report = run_tests(["policies"])
    assert {c.rule for c in report.coverage} >= {"home-infusion/rn-add-on", "medicaid-mue-2026q1/mue-99602"}
    assert [c.rule for c in report.coverage if not c.covered] == []


@pytest.mark.parametrize("path", sorted(Path("policies").rglob("*.pol")), ids=str)
def test_each_seed_policy_passes_its_tests_alone_too(path: Path) -> None:
    report = run_tests([path])
    assert report.passed and all(c.covered for c in report.coverage)


# ---------------------------------------------------------------- failures


def test_a_wrong_expectation_fails_with_expected_and_actual_and_the_findings(tmp_path: Path) -> None:
    path = write(tmp_path, "p.pol", MUE + 'test "five units":\n  claim on 2025-03-02:\n    line 1: 99601 x5\n'
                 "  expect line 1 paid\n")
    result = CliRunner().invoke(testrunner.test_command, [str(path)])
    assert result.exit_code == 1
    assert f"FAIL {path.as_posix()}:6: five units" in result.output
    assert "line 1: 99601 x5 on 2025-03-02" in result.output
    assert "expected paid" in result.output and "got      denied CO-151" in result.output
    assert "p/cap" in result.output and "deny CO-151 N362" in result.output
    assert "1 test: 0 passed, 1 failed" in result.output


def test_a_wrong_adjustment_fails_even_when_the_status_is_right(tmp_path: Path) -> None:
    body = MUE + 'test "t":\n  claim on 2025-03-02:\n    line 1: 99601 x5\n  expect line 1 denied CO-97\n'
    report = run_tests([write(tmp_path, "p.pol", body)])
    assert not report.passed
    check = report.failures[0].checks[0]
    assert check.actual is not None and check.actual.status == "denied" and not check.passed


def test_a_passing_run_exits_0_and_verbose_names_every_test(tmp_path: Path) -> None:
    body = MUE + 'test "four units":\n  claim:\n    line 1: 99601 x4\n  expect line 1 paid\n'
    result = CliRunner().invoke(testrunner.test_command, [str(write(tmp_path, "p.pol", body)), "-v"])
    assert result.exit_code == 0
    assert "ok" in result.output and "four units" in result.output and "1 test: 1 passed" in result.output


def test_a_test_claim_that_is_no_valid_claim_fails_and_says_why(tmp_path: Path) -> None:
    body = MUE + 'test "t":\n  claim:\n    line 1: 99601 SH SJ 59 XU 25 x1\n  expect line 1 paid\n'
    result = CliRunner().invoke(testrunner.test_command, [str(write(tmp_path, "p.pol", body))])
    assert result.exit_code == 1 and "at most 4 modifiers per line" in result.output


def test_a_policy_that_does_not_compile_is_reported_and_exits_1(tmp_path: Path) -> None:
    path = write(tmp_path, "p.pol", "rule r: limit per_deim to 4 units per day deny CO-151\n")
    result = CliRunner().invoke(testrunner.test_command, [str(path)])
    assert result.exit_code == 1 and "unknown code set `per_deim`" in result.output


def test_a_missing_path_is_a_usage_error() -> None:
    assert CliRunner().invoke(testrunner.test_command, ["no/such/dir"]).exit_code == 2


# ---------------------------------------------------------------- defaults of a test claim


def test_a_claim_without_plan_takes_the_policys_first_plan(tmp_path: Path) -> None:
    body = MUE + 'test "t":\n  claim:\n    line 1: 99601 x5\n  expect line 1 denied CO-151\n'
    assert run_tests([write(tmp_path, "p.pol", body, plans="medicaid, chip")]).passed
    # Under `plans all` it is a commercial claim: a policy for medicaid alone does not see it.
    other = write(tmp_path, "q.pol", MUE.replace("cap", "cap2") + 'test "t":\n  claim:\n    line 1: 99601 x5\n'
                  "  expect line 1 denied CO-151\n", plans="medicaid")
    assert run_tests([other]).passed
    commercial_only = write(tmp_path, "c.pol", "rule r: when claim.plan = \"commercial\" review \"c\"\n"
                            'test "t":\n  claim:\n    line 1: 99601\n  expect line 1 review\n')
    assert run_tests([commercial_only]).passed


def test_a_claim_without_date_is_on_the_policys_effective_date_and_a_line_may_have_its_own(tmp_path: Path) -> None:
    body = (
        'rule r: when line.date = 2025-01-01 review "first day"\n'
        'test "t":\n  claim:\n    line 1: 99601\n    line 2: 99601 on 2025-01-02\n'
        "  expect line 1 review\n  expect line 2 paid\n"
    )
    assert run_tests([write(tmp_path, "p.pol", body)]).passed


def test_several_claims_in_one_test_are_checked_apart(tmp_path: Path) -> None:
    body = MUE + ('test "t":\n  claim:\n    line 1: 99601 x3\n  claim:\n    line 2: 99601 x3\n'
                  "  expect line 1 paid\n  expect line 2 paid\n")
    assert run_tests([write(tmp_path, "p.pol", body)]).passed


# ---------------------------------------------------------------- across policies


def test_each_test_runs_against_every_policy_given_so_a_cascade_can_be_tested(tmp_path: Path) -> None:
    addon = write(tmp_path, "addon.pol", "rule a: addon 99602 requires 99601 on the same day deny CO-107 N122\n")
    cascade = write(tmp_path, "mue.pol", MUE + (
        'test "the cap takes the add-on with it":\n  claim on 2025-03-02:\n'
        "    line 1: 99601 x5\n    line 2: 99602\n  expect line 1 denied CO-151\n  expect line 2 denied CO-107\n"
    ))
    assert run_tests([addon, cascade]).passed
    assert not run_tests([cascade]).passed  # alone, nothing denies the 99602


# ---------------------------------------------------------------- coverage


def test_coverage_names_rules_that_never_fire_and_never_stay_silent(tmp_path: Path) -> None:
    body = (
        MUE + "rule per-line: limit 99602 to 1 unit per line deny CO-151\n"
        'test "only silent":\n  claim:\n    line 1: 99601 x1\n  expect line 1 paid\n'
        'test "only firing":\n  claim:\n    line 2: 99602 x3\n  expect line 2 denied\n'
    )
    path = write(tmp_path, "p.pol", body)
    report = run_tests([path])
    assert coverage_of(report, "p/cap") == ((), ("only silent",))
    assert coverage_of(report, "p/per-line") == (("only firing",), ())
    result = CliRunner().invoke(testrunner.test_command, [str(path), "--coverage"])
    assert result.exit_code == 0
    assert "never fires" in result.output and "never silent" in result.output
    assert "0 of 2 rules covered" in result.output


def test_a_line_outside_the_rules_dates_or_plans_does_not_count_as_silent(tmp_path: Path) -> None:
    body = MUE + ('test "before":\n  claim on 2024-12-31:\n    line 1: 99601 x1\n  expect line 1 paid\n'
                  'test "other plan":\n  claim plan commercial:\n    line 1: 99601 x1\n  expect line 1 paid\n')
    report = run_tests([write(tmp_path, "p.pol", body, plans="medicaid")])
    assert coverage_of(report, "p/cap") == ((), ())


def test_an_addon_is_silent_only_on_an_addon_line_not_on_its_primary(tmp_path: Path) -> None:
    body = ("rule a: addon 99602 requires 99601 on the same day deny CO-107\n"
            'test "primary only":\n  claim:\n    line 1: 99601\n  expect line 1 paid\n')
    report = run_tests([write(tmp_path, "p.pol", body)])
    assert coverage_of(report, "p/a") == ((), ())


def test_tests_of_another_file_do_not_cover_a_rule(tmp_path: Path) -> None:
    mine = write(tmp_path, "mine.pol", MUE)
    theirs = write(tmp_path, "theirs.pol", 'test "t":\n  claim:\n    line 1: 99601 x5\n  expect line 1 denied\n')
    report = run_tests([mine, theirs])
    assert report.passed and coverage_of(report, "mine/cap") == ((), ())


# ---------------------------------------------------------------- table rules and overrides


def write_table(tmp_path: Path, name: str, text: str) -> None:
    (tmp_path / name).write_text(text, encoding="utf-8")


def test_an_mue_table_rule_is_covered_on_the_table_codes_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POLICYC_CACHE_DIR", "")
    write_table(tmp_path, "mue.csv", "hcpcs_code,mue_value,mai\n99601,2,3\n")
    rule = 'rule mue: mue table "mue.csv" by the same provider deny CO-151 N362\n'
    tests = ('test "over":\n  claim:\n    line 1: 99601 x3\n  expect line 1 denied CO-151\n'
             'test "not in the table":\n  claim:\n    line 1: 99602 x9\n  expect line 1 paid\n')
    report = run_tests([write(tmp_path, "p.pol", rule + tests)])
    assert report.passed and coverage_of(report, "p/mue") == (("over",), ())
    more = 'test "under":\n  claim:\n    line 1: 99601 x2\n  expect line 1 paid\n'
    report = run_tests([write(tmp_path, "p.pol", rule + tests + more)])
    assert report.passed and coverage_of(report, "p/mue") == (("over",), ("under",))


def test_an_addon_table_rule_is_silent_only_on_its_add_on_codes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POLICYC_CACHE_DIR", "")
    write_table(tmp_path, "aoc.csv", "add_on_code,primary_code,aoc_edit_type\n99602,99601,1\n")
    body = ('rule aoc: addon table "aoc.csv" on the same day by the same provider deny CO-107 N122\n'
            'test "alone":\n  claim:\n    line 1: 99602\n  expect line 1 denied CO-107\n'
            'test "primary only":\n  claim:\n    line 1: 99601\n  expect line 1 paid\n')
    report = run_tests([write(tmp_path, "p.pol", body)])
    assert report.passed and coverage_of(report, "p/aoc") == (("alone",), ())
    body += 'test "with its primary":\n  claim:\n    line 1: 99601\n    line 2: 99602\n  expect line 2 paid\n'
    report = run_tests([write(tmp_path, "p.pol", body)])
    assert report.passed and coverage_of(report, "p/aoc") == (("alone",), ("with its primary",))


def test_a_pair_table_rule_is_silent_only_on_its_column_2_codes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POLICYC_CACHE_DIR", "")
    write_table(tmp_path, "ptp.csv", "column_1,column_2,deletion_date,modifier_indicator\n96360,96523,,1\n")
    body = ('rule ptp: pair table "ptp.csv" on the same day by the same provider deny CO-236\n'
            'test "pair":\n  claim:\n    line 1: 96360\n    line 2: 96523\n  expect line 1 paid\n'
            "  expect line 2 denied CO-236\n"
            'test "column 1 alone":\n  claim:\n    line 1: 96360\n  expect line 1 paid\n')
    report = run_tests([write(tmp_path, "p.pol", body)])
    assert report.passed and coverage_of(report, "p/ptp") == (("pair",), ())
    body += 'test "bypassed":\n  claim:\n    line 1: 96360\n    line 2: 96523 XU\n  expect line 2 paid\n'
    report = run_tests([write(tmp_path, "p.pol", body)])
    assert report.passed and coverage_of(report, "p/ptp") == (("pair",), ("bypassed",))


def test_switch_off_rules_run_with_extends_and_take_no_part_in_coverage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POLICYC_CACHE_DIR", "")
    write_table(tmp_path, "mue.csv", "hcpcs_code,mue_value,mai\n99601,0,3\n")
    base = write(tmp_path, "base.pol", 'rule mue: mue table "mue.csv" by the same provider deny CO-151 N362\n')
    payer = tmp_path / "payer.pol"
    payer.write_text(
        "policy payer\n  plans     medicaid\n  effective 2025-01-01\n  extends   base\n\n"
        "rule free: switch off mue 99601\n"
        'test "switched off":\n  claim:\n    line 1: 99601 x3\n  expect line 1 paid\n', encoding="utf-8")
    report = run_tests([base, payer])
    assert report.passed
    assert [c.rule for c in report.coverage] == ["base/mue"]


def test_the_cms_policies_and_their_example_extension_run_together() -> None:
    report = run_tests(["policies/cms", "examples/cms"])
    assert report.passed and len(report.outcomes) >= 10
    covered = {c.rule for c in report.coverage if c.covered}
    assert {"cms-mue-practitioner-2024q3/mue", "cms-aoc-2024q2/add-ons", "cms-ptp-practitioner-2024q3/ptp"} <= covered
    assert "medicaid-ncci-2024q3/factor-uncapped" not in {c.rule for c in report.coverage}
