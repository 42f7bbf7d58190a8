"""The `policyc` command: `check` and `compile`, their output formats, exit statuses and error messages."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner, Result

from policyc.cli import main

REPO = Path(__file__).resolve().parent.parent
CLAIMS = "examples/claims.json"
MALFORMED = "examples/malformed.ndjson"
HOME_INFUSION = "policies/payer/home-infusion.pol"
MEDICAID_MUE = "policies/medicaid/mue-home-infusion-2026q1.pol"
RESULT_SCHEMA = json.loads((REPO / "docs" / "result.schema.json").read_text(encoding="utf-8"))
EXAMPLE_CLAIMS = json.loads((REPO / CLAIMS).read_text(encoding="utf-8"))
EXAMPLE_IDS = [c["claim_id"] for c in EXAMPLE_CLAIMS]

BROKEN_POLICY = """\
policy broken "uses an unknown set"
  plans all
  effective 2024-01-01

rule r1 "99602 needs a visit":
  addon 99602 requires nursing on the same day by the same provider
  deny CO-107 N122
"""


def run(*args: str, stdin: str | None = None) -> Result:
    # A wide terminal so that rich does not wrap table titles; stdout and stderr are kept apart.
    return CliRunner().invoke(main, list(args), input=stdin, env={"COLUMNS": "160"})


def validate(document: Any) -> None:
    jsonschema.validate(document, RESULT_SCHEMA, cls=jsonschema.Draft202012Validator)


def no_traceback(result: Result | subprocess.CompletedProcess[str]) -> None:
    text = (result.stdout or "") + (result.stderr or "")
    assert "Traceback" not in text
    if isinstance(result, Result):
        # An exception that escaped the command would be kept here by CliRunner.
        assert result.exception is None or isinstance(result.exception, SystemExit), result.exception


def line_verdicts(result: dict[str, Any]) -> dict[int, str]:
    return {
        line["line"]: " ".join([line["status"], *sorted(f"{f['group']}-{f['carc']}" for f in line["findings"])])
        for line in result["lines"]
    }


# ------------------------------------------------------------------------------------------ check json


def test_check_the_examples_as_json() -> None:
    result = run("check", "--policy", "policies", CLAIMS)
    assert result.exit_code == 0, result.stderr
    no_traceback(result)
    results = json.loads(result.stdout)
    assert isinstance(results, list)
    assert len(results) == 15
    assert [r["claim_id"] for r in results] == EXAMPLE_IDS
    for item in results:
        validate(item)
        assert item["status"] == "processed"
    # Denials are not errors: the run still exits 0 with denied lines in it.
    by_id = {r["claim_id"]: r for r in results}
    assert line_verdicts(by_id["HI-02-addon-alone"]) == {1: "denied CO-107"}
    assert line_verdicts(by_id["MCD-02-five-visits-denied-with-cascade"]) == {
        1: "denied CO-151",
        2: "denied CO-151",
        3: "denied CO-107",
    }
    assert line_verdicts(by_id["HI-01-addon-with-visit"]) == {1: "paid", 2: "paid"}
    # The summary is for a person and goes to stderr, never into the JSON.
    assert "checked 15 claims: 30 lines, 18 paid, 12 denied" in result.stderr
    assert "checked" not in result.stdout


def test_check_json_is_the_default_format_and_matches_explicit_json() -> None:
    default = run("check", "-p", "policies", CLAIMS)
    explicit = run("check", "-p", "policies", "--format", "json", CLAIMS)
    assert default.exit_code == explicit.exit_code == 0
    assert json.loads(default.stdout) == json.loads(explicit.stdout)


def test_check_ndjson() -> None:
    result = run("check", "-p", "policies", "--format", "ndjson", CLAIMS)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 15
    records = [json.loads(line) for line in lines]
    assert [r["claim_id"] for r in records] == EXAMPLE_IDS
    for record in records:
        validate(record)
    assert records == json.loads(run("check", "-p", "policies", CLAIMS).stdout)
    assert "checked 15 claims" in result.stderr


def test_check_table() -> None:
    result = run("check", "-p", "policies", "-f", "table", CLAIMS)
    assert result.exit_code == 0, result.stderr
    no_traceback(result)
    for claim_id in EXAMPLE_IDS:
        assert f"claim {claim_id}" in result.stdout
    for word in ("processed", "paid", "denied", "CO-107", "N122", "CO-151", "home-infusion/rn-add-on"):
        assert word in result.stdout
    assert "checked 15 claims: 30 lines, 18 paid, 12 denied" in result.stdout
    with pytest.raises(json.JSONDecodeError):
        json.loads(result.stdout)


def test_check_an_unknown_format_is_a_usage_error() -> None:
    result = run("check", "-p", "policies", "--format", "xml", CLAIMS)
    assert result.exit_code == 2
    assert "xml" in result.stderr
    assert result.stdout == ""


# ------------------------------------------------------------------------------- policies to check with


def test_several_policy_options_are_the_same_as_their_directory() -> None:
    by_files = run("check", "--policy", HOME_INFUSION, "--policy", MEDICAID_MUE, CLAIMS)
    by_dir = run("check", "--policy", "policies", CLAIMS)
    by_mix = run("check", "-p", "policies/payer", "-p", MEDICAID_MUE, CLAIMS)
    assert by_files.exit_code == by_dir.exit_code == by_mix.exit_code == 0
    assert json.loads(by_files.stdout) == json.loads(by_dir.stdout) == json.loads(by_mix.stdout)


def test_only_the_policies_given_apply() -> None:
    only_payer = {r["claim_id"]: r for r in json.loads(run("check", "-p", HOME_INFUSION, CLAIMS).stdout)}
    only_mue = {r["claim_id"]: r for r in json.loads(run("check", "-p", "policies/medicaid", CLAIMS).stdout)}
    # Without the MUE policy five visits are paid; without the payer policy a lone add-on is paid.
    assert line_verdicts(only_payer["MCD-02-five-visits-denied-with-cascade"]) == {1: "paid", 2: "paid", 3: "paid"}
    assert line_verdicts(only_mue["MCD-02-five-visits-denied-with-cascade"]) == {
        1: "denied CO-151",
        2: "denied CO-151",
        3: "paid",
    }
    assert line_verdicts(only_mue["HI-02-addon-alone"]) == {1: "paid"}
    assert line_verdicts(only_payer["HI-02-addon-alone"]) == {1: "denied CO-107"}


def test_a_policy_file_named_twice_is_used_once() -> None:
    result = run("check", "-p", "policies", "-p", HOME_INFUSION, CLAIMS)
    assert result.exit_code == 0, result.stderr
    assert len(json.loads(result.stdout)) == 15


def test_a_directory_without_policies_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "readme.txt").write_text("no policies here", encoding="utf-8")
    result = run("check", "--policy", str(tmp_path), CLAIMS)
    assert result.exit_code == 2
    assert "no .pol files" in result.stderr
    assert str(tmp_path) in result.stderr
    assert result.stdout == ""
    no_traceback(result)


def test_missing_policy_option_is_a_usage_error() -> None:
    result = run("check", CLAIMS)
    assert result.exit_code == 2
    assert "--policy" in result.stderr
    assert result.stdout == ""
    no_traceback(result)


def test_missing_claims_argument_is_a_usage_error() -> None:
    result = run("check", "-p", "policies")
    assert result.exit_code == 2
    assert "CLAIMS" in result.stderr
    no_traceback(result)


def test_a_policy_with_an_error_exits_1_with_the_rendered_diagnostic(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pol"
    bad.write_text(BROKEN_POLICY, encoding="utf-8")
    result = run("check", "-p", str(bad), "-p", "policies", CLAIMS)
    assert result.exit_code == 1
    no_traceback(result)
    assert result.stdout == ""  # no half-written JSON
    err = result.stderr
    assert f"{bad.as_posix()}:6:24: error[POL201]: unknown code set `nursing`" in err
    lines = err.splitlines()
    source_line = next(i for i, line in enumerate(lines) if line.startswith("6 | "))
    assert lines[source_line] == "6 |   addon 99602 requires nursing on the same day by the same provider"
    # The caret line underlines `nursing` exactly.
    caret = lines[source_line + 1]
    assert caret.startswith("  | ")
    assert caret[len("  | ") :].rstrip() == " " * 23 + "^" * len("nursing")
    assert any(line.strip().startswith("= help:") for line in lines)
    assert any(line.startswith("1 error") for line in lines)  # the closing count of errors


def test_a_policy_error_wins_over_an_unreadable_claims_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pol"
    bad.write_text(BROKEN_POLICY, encoding="utf-8")
    result = run("check", "-p", str(bad), str(tmp_path / "missing.json"))
    assert result.exit_code == 1
    assert "error[POL201]" in result.stderr


def test_policy_diagnostics_name_paths_below_the_working_directory_relatively() -> None:
    # A `.pol` path given relative to the repository root is shown as written.
    result = run("compile", "--emit", "python", HOME_INFUSION)
    assert result.exit_code == 0
    assert f"# {HOME_INFUSION}:" in result.stdout


# ----------------------------------------------------------------------------------- bad claims files


def test_malformed_batch_rejects_bad_claims_and_processes_the_rest() -> None:
    result = run("check", "-p", "policies", MALFORMED)
    assert result.exit_code == 0, result.stderr
    no_traceback(result)
    results = json.loads(result.stdout)
    records = [line for line in (REPO / MALFORMED).read_text(encoding="utf-8").splitlines() if line.strip()]
    assert len(results) == len(records) == 6
    for item in results:
        validate(item)
    assert [r["status"] for r in results] == ["rejected"] * 4 + ["processed", "rejected"]
    assert [r["claim_id"] for r in results[:5]] == [
        "BAD-01-units-zero",
        "BAD-02-bad-date-and-code",
        "BAD-03-five-modifiers",
        "BAD-04-no-lines",
        "OK-05-valid-claim-in-a-bad-batch",
    ]
    fields = [[e["field"] for e in r["errors"]] for r in results]
    assert fields[0] == ["lines[0].units"]
    assert fields[1] == ["lines[0].code", "lines[0].date"]
    assert fields[2] == ["lines[0].modifiers"]
    assert fields[3] == ["lines"]
    assert fields[4] == []
    for rejected in (results[i] for i in (0, 1, 2, 3, 5)):
        assert rejected["lines"] == []
        assert all(e["reason"] for e in rejected["errors"])
    # The truncated last record has no readable claim_id and one error about the record as a whole.
    assert results[5]["claim_id"] is None
    [truncated] = results[5]["errors"]
    assert truncated["field"] == ""
    assert "line 6" in truncated["reason"]
    assert line_verdicts(results[4]) == {1: "paid", 2: "paid"}
    assert "checked 6 claims (5 rejected): 2 lines, 2 paid" in result.stderr


def test_malformed_line_error_names_the_column_where_it_breaks() -> None:
    results = json.loads(run("check", "-p", "policies", MALFORMED).stdout)
    reason = results[5]["errors"][0]["reason"]
    broken_line = (REPO / MALFORMED).read_text(encoding="utf-8").splitlines()[5]
    assert reason == f"invalid JSON on line 6: Expecting value (col {len(broken_line) + 1})"


def test_malformed_batch_as_a_table_shows_the_reasons() -> None:
    result = run("check", "-p", "policies", "--format", "table", MALFORMED)
    assert result.exit_code == 0
    assert "claim BAD-01-units-zero" in result.stdout
    assert "lines[0].units: must be a positive whole number, got 0" in result.stdout
    assert "claim OK-05-valid-claim-in-a-bad-batch" in result.stdout
    assert "(no claim_id)" in result.stdout


def test_missing_claims_file_exits_2_with_a_clear_message(tmp_path: Path) -> None:
    missing = tmp_path / "nope.json"
    result = run("check", "-p", "policies", str(missing))
    assert result.exit_code == 2
    no_traceback(result)
    assert result.stdout == ""
    assert "policyc:" in result.stderr
    assert str(missing) in result.stderr
    assert "no such file" in result.stderr


def test_a_directory_as_claims_file_exits_2(tmp_path: Path) -> None:
    result = run("check", "-p", "policies", str(tmp_path))
    assert result.exit_code == 2
    no_traceback(result)
    assert "directory" in result.stderr


@pytest.mark.parametrize(
    "text",
    ["this is not JSON at all\n", "claim_id,plan\nC-1,medicaid\n", "{\n  \"claim_id\": \"C-1\",\n  oops\n}\n"],
    ids=["prose", "csv", "broken-document"],
)
def test_a_claims_file_that_is_not_json_exits_2(tmp_path: Path, text: str) -> None:
    path = tmp_path / "claims.json"
    path.write_text(text, encoding="utf-8")
    result = run("check", "-p", "policies", str(path))
    assert result.exit_code == 2, result.stdout
    no_traceback(result)
    assert result.stdout == ""
    assert str(path) in result.stderr
    assert "invalid JSON" in result.stderr


def test_an_empty_claims_file_checks_nothing(tmp_path: Path) -> None:
    path = tmp_path / "empty.json"
    path.write_text("", encoding="utf-8")
    result = run("check", "-p", "policies", str(path))
    assert result.exit_code == 0
    assert json.loads(result.stdout) == []
    assert "checked 0 claims" in result.stderr


def test_a_single_claim_object_gives_a_one_element_array(tmp_path: Path) -> None:
    path = tmp_path / "one.json"
    path.write_text(json.dumps(EXAMPLE_CLAIMS[1], indent=2), encoding="utf-8")
    result = run("check", "-p", "policies", str(path))
    assert result.exit_code == 0
    [only] = json.loads(result.stdout)
    assert only["claim_id"] == EXAMPLE_CLAIMS[1]["claim_id"]
    assert line_verdicts(only) == {1: "denied CO-107"}


# ---------------------------------------------------------------------------------------------- stdin


def test_claims_from_stdin() -> None:
    text = (REPO / CLAIMS).read_text(encoding="utf-8")
    result = run("check", "-p", "policies", "-", stdin=text)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == json.loads(run("check", "-p", "policies", CLAIMS).stdout)


def test_ndjson_claims_from_stdin() -> None:
    text = (REPO / MALFORMED).read_text(encoding="utf-8")
    result = run("check", "-p", "policies", "--format", "ndjson", "-", stdin=text)
    assert result.exit_code == 0
    statuses = [json.loads(line)["status"] for line in result.stdout.splitlines()]
    assert statuses == ["rejected"] * 4 + ["processed", "rejected"]


def test_garbage_on_stdin_exits_2() -> None:
    result = run("check", "-p", "policies", "-", stdin="not json\n")
    assert result.exit_code == 2
    assert "<stdin>" in result.stderr
    no_traceback(result)


# -------------------------------------------------------------------------------------------- compile


def test_compile_prints_a_summary() -> None:
    result = run("compile", "policies")
    assert result.exit_code == 0, result.stderr
    assert "policies/payer/home-infusion.pol: policy `home-infusion`, 4 rules" in result.stderr
    assert "policies/medicaid/mue-home-infusion-2026q1.pol: policy `medicaid-mue-2026q1`, 2 rules" in result.stderr
    assert "policies/cms/aoc-2024q2.pol: policy `cms-aoc-2024q2`, 1 rule\n" in result.stderr
    assert "compiled 5 policies, 9 rules" in result.stderr


def test_compile_emit_python_prints_the_generated_code() -> None:
    result = run("compile", HOME_INFUSION, "--emit", "python")
    assert result.exit_code == 0, result.stderr
    code = result.stdout
    assert "# policies/payer/home-infusion.pol:" in code
    assert "# policies/payer/home-infusion.pol:20  rule rn-add-on" in code
    assert "POLICY = " in code
    compile(code, "<emitted>", "exec")  # valid Python


def test_compile_emit_python_for_a_directory_prints_every_policy() -> None:
    result = run("compile", "--emit", "python", "policies")
    assert result.exit_code == 0
    assert "# policies/payer/home-infusion.pol:" in result.stdout
    assert "# policies/medicaid/mue-home-infusion-2026q1.pol:" in result.stdout


def test_compile_a_broken_policy_exits_1(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pol"
    bad.write_text(BROKEN_POLICY, encoding="utf-8")
    for args in (["compile", str(bad)], ["compile", "--emit", "python", str(bad)]):
        result = run(*args)
        assert result.exit_code == 1, args
        assert "error[POL201]" in result.stderr
        assert "help:" in result.stderr
        assert "^^^^^^^" in result.stderr
        assert "POLICY" not in result.stdout
        no_traceback(result)


def test_compile_an_empty_directory_is_a_usage_error(tmp_path: Path) -> None:
    result = run("compile", str(tmp_path))
    assert result.exit_code == 2
    assert "no .pol files" in result.stderr


def test_compile_without_paths_is_a_usage_error() -> None:
    result = run("compile")
    assert result.exit_code == 2


# ----------------------------------------------------------------------------------------------- help


@pytest.mark.parametrize(
    ("args", "words"),
    [
        ([], ["check", "compile"]),
        (["check"], ["--policy", "--format", "CLAIMS", "json", "ndjson", "table"]),
        (["compile"], ["--emit", "PATH"]),
    ],
    ids=["main", "check", "compile"],
)
@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help(args: list[str], words: list[str], flag: str) -> None:
    result = run(*args, flag)
    assert result.exit_code == 0
    assert "Usage:" in result.stdout
    for word in words:
        assert word in result.stdout


def test_version() -> None:
    result = run("--version")
    assert result.exit_code == 0
    assert "0.1.0" in result.stdout


# ------------------------------------------------------------------------- the installed command itself


def policyc_process(*args: str, stdin: str | None = None, module: bool = True) -> subprocess.CompletedProcess[str]:
    """Run policyc in a child process: as `python -m policyc.cli`, or the console script beside the interpreter."""
    script = Path(sys.executable).parent / "policyc"
    command = [sys.executable, "-m", "policyc.cli", *args] if module else [str(script), *args]
    return subprocess.run(command, input=stdin, capture_output=True, text=True, cwd=REPO, timeout=60, check=False)


def test_process_check_writes_json_to_stdout_and_the_summary_to_stderr() -> None:
    done = policyc_process("check", "--policy", "policies", CLAIMS)
    assert done.returncode == 0, done.stderr
    no_traceback(done)
    results = json.loads(done.stdout)
    assert [r["claim_id"] for r in results] == EXAMPLE_IDS
    for item in results:
        validate(item)
    assert done.stderr.strip() == "checked 15 claims: 30 lines, 18 paid, 12 denied"


def test_console_script_exit_statuses(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "policyc"
    assert script.exists(), "the policyc console script is not installed beside the interpreter"
    ok = policyc_process("check", "-p", "policies", "-f", "ndjson", MALFORMED, module=False)
    assert ok.returncode == 0
    assert len(ok.stdout.splitlines()) == 6
    assert "checked 6 claims (5 rejected)" in ok.stderr

    missing = policyc_process("check", "-p", "policies", str(tmp_path / "nope.json"), module=False)
    assert missing.returncode == 2
    assert missing.stdout == ""
    assert "no such file" in missing.stderr
    no_traceback(missing)

    usage = policyc_process("check", CLAIMS, module=False)
    assert usage.returncode == 2
    no_traceback(usage)

    bad = tmp_path / "bad.pol"
    bad.write_text(BROKEN_POLICY, encoding="utf-8")
    broken = policyc_process("check", "-p", str(bad), CLAIMS, module=False)
    assert broken.returncode == 1
    assert broken.stdout == ""
    assert "error[POL201]" in broken.stderr
    no_traceback(broken)


def test_process_reads_claims_from_stdin() -> None:
    text = (REPO / MALFORMED).read_text(encoding="utf-8")
    done = policyc_process("check", "-p", "policies", "-", stdin=text)
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)
    assert [r["status"] for r in results] == ["rejected"] * 4 + ["processed", "rejected"]
    no_traceback(done)


def test_process_not_utf8_claims_file_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "claims.json"
    path.write_bytes("[{\"claim_id\": \"C-1\"}]".encode("utf-16"))
    done = policyc_process("check", "-p", "policies", str(path))
    assert done.returncode == 2
    assert done.stdout == ""
    assert "UTF-16" in done.stderr
    no_traceback(done)


def closed_pipe_status(tmp_path: Path, output_format: str) -> subprocess.CompletedProcess[str]:
    """Run `policyc check` into a reader that stops after the first line, as `| head -1` does."""
    path = tmp_path / "many.json"
    path.write_text(json.dumps(EXAMPLE_CLAIMS * 20), encoding="utf-8")  # far more output than a pipe buffers
    script = Path(sys.executable).parent / "policyc"
    command = (
        f'"{script}" check -p policies -f {output_format} "{path}" | head -1 >/dev/null; exit "${{PIPESTATUS[0]}}"'
    )
    return subprocess.run(["bash", "-c", command], capture_output=True, text=True, cwd=REPO, timeout=60, check=False)


@pytest.mark.parametrize(
    "output_format",
    [
        "json",
        "ndjson",
        "table",
    ],
)
def test_a_reader_that_stops_early_is_not_an_error(tmp_path: Path, output_format: str) -> None:
    done = closed_pipe_status(tmp_path, output_format)
    no_traceback(done)
    assert "Exception ignored" not in done.stderr
    assert done.returncode == 0, done.stderr
