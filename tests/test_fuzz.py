"""`policyc fuzz`: clean policies pass, planted bugs in edited generated modules are found and shrunk."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from policyc import fuzz, reference
from policyc.compiler import read_source, to_python
from policyc.fuzz import fuzz_command

HOME = "policies/payer/home-infusion.pol"
MUE = "policies/medicaid/mue-home-infusion-2026q1.pol"
AGREE, ORDER, SPLIT, ADDON = fuzz.INVARIANTS
# The seed policies of the six rule kinds, which the reference interpreter models.
SEED = ("--policy", "policies/payer", "--policy", "policies/medicaid")


def run(*args: str) -> Result:
    return CliRunner().invoke(fuzz_command, list(args))


def edited(tmp_path: Path, policy: str, *edits: tuple[str, str]) -> str:
    """The policy's generated module with each `old` replaced by `new` (once), written to a file."""
    source = to_python(read_source(policy))
    for old, new in edits:
        assert old in source, old
        source = source.replace(old, new, 1)
    path = tmp_path / (Path(policy).stem + ".py")
    path.write_text(source, encoding="utf-8")
    return str(path)


def violations(output: str) -> dict[str, dict[str, Any]]:
    """Each `violation: INVARIANT` block of the output and the claim printed under it."""
    found = {}
    for block in output.split("violation: ")[1:]:
        name, rest = block.split("\n", 1)
        start = rest.index("\n{") + 1
        claim, _ = json.JSONDecoder().raw_decode(rest[start:])
        found[name] = claim
    return found


def test_the_seed_policies_keep_every_invariant() -> None:
    result = run(*SEED, "--max-claims", "100", "--budget", "30")
    assert result.exit_code == 0, result.output
    assert "no violation" in result.output
    assert "checked 1" in result.output and "against 6 rules" in result.output


def test_a_planted_off_by_one_cap_is_found_and_shrunk(tmp_path: Path) -> None:
    planted = edited(tmp_path, MUE, ("if total > 4:", "if total > 5:"))
    result = run(*SEED, "--python", planted, "--max-claims", "50", "--budget", "30")
    assert result.exit_code == 1, result.output
    found = violations(result.output)
    assert list(found) == [AGREE]
    claim = found[AGREE]
    assert [(line["code"], line["units"]) for line in claim["lines"]] == [("99601", 5)]
    assert "compiled paid (5 of 5 units), reference denied CO-151 (0 of 5 units)" in result.output
    # The printed claim is in the interchange format and shows the disagreement when checked.
    assert reference.load(*SEED[1::2]).check(claim).lines[0].status == "denied"


def test_one_run_reports_every_invariant_it_breaks(tmp_path: Path) -> None:
    """Counting lines' largest units instead of their sum breaks agreement and the split invariant."""
    mue = edited(tmp_path, MUE, ("total = sum(line.units for line in lines)", "total = max(l.units for l in lines)"))
    result = run("--policy", "policies/medicaid", "--python", mue, "--max-claims", "100", "--budget", "60")
    assert result.exit_code == 1, result.output
    found = violations(result.output)
    assert set(found) == {AGREE, SPLIT}, result.output
    assert all(len(claim["lines"]) <= 2 for claim in found.values()), result.output
    assert "2 invariants violated" in result.output


def engines_with(tmp_path: Path, policy: str, *edits: tuple[str, str]) -> fuzz.Engines:
    return fuzz.load_engines([policy], [edited(tmp_path, policy, *edits)] if edits else [])


def seed_claim(*lines: tuple[int, str, int]) -> dict[str, Any]:
    return {"claim_id": "C-1", "plan": "medicaid", "member_id": "M-1", "billing_provider": "1234567893",
            "lines": [{"line": n, "code": c, "units": u, "date": "2026-01-05"} for n, c, u in lines]}


@pytest.mark.parametrize(
    ("invariant", "policy", "edit", "claim"),
    [
        (ORDER, HOME, ("anchor = min(found, key=rt.naming_order)", "anchor = found[-1]"),
         seed_claim((1, "A4221", 1), (2, "S9325", 1), (3, "S9500", 1))),
        (ADDON, HOME, ("if not any(n != line.line for n in present", "if any(n != line.line for n in present"),
         seed_claim((1, "99602", 1))),
        (SPLIT, MUE, ("total = sum(line.units for line in lines)", "total = max(l.units for l in lines)"),
         seed_claim((1, "99601", 5))),
        (AGREE, MUE, ("if total > 4:", "if total >= 4:"), seed_claim((1, "99601", 4))),
    ],
)
def test_each_invariant_catches_its_planted_bug(
    tmp_path: Path, invariant: str, policy: str, edit: tuple[str, str], claim: dict[str, Any]
) -> None:
    """The invariant holds for the claim under the policy as compiled, and breaks under the edited module."""
    assert fuzz.INVARIANTS[invariant](engines_with(tmp_path, policy), claim) is None
    assert fuzz.INVARIANTS[invariant](engines_with(tmp_path, policy, edit), claim)


def test_the_corpus_keeps_violations_for_the_next_run(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    planted = edited(tmp_path, MUE, ("if total > 4:", "if total > 5:"))
    first = run(*SEED, "--python", planted, "--max-claims", "40", "--corpus", str(corpus))
    assert first.exit_code == 1, first.output
    kept = sorted(corpus.glob("*.json"))
    assert kept and all(json.loads(path.read_text(encoding="utf-8"))["lines"] for path in kept)
    # With no time to search, the replayed corpus alone finds the bug again; a fixed module passes it.
    again = run(*SEED, "--python", planted, "--budget", "0", "--corpus", str(corpus))
    assert again.exit_code == 1 and AGREE in violations(again.output), again.output
    clean = run(*SEED, "--budget", "0", "--corpus", str(corpus))
    assert clean.exit_code == 0, clean.output
    assert f"checked {len(kept)} claims" in clean.output
    (corpus / "junk.json").write_text('{"claim_id": "J", "lines": [7]}', encoding="utf-8")
    skipped = run(*SEED, "--budget", "0", "--corpus", str(corpus))
    assert skipped.exit_code == 0 and "skipping" in skipped.output and "junk.json" in skipped.output


def test_table_policies_are_fuzzed_against_the_reference_too(tmp_path: Path) -> None:
    """A table-bound policy is checked on all four invariants, the engines compared like any other policy."""
    (tmp_path / "aoc.csv").write_text("add_on_code,primary_code,aoc_edit_type\n99602,99601,1\n", encoding="utf-8")
    (tmp_path / "aoc.pol").write_text(
        "policy aoc\n  plans all\n  effective 2025-01-01\n"
        'rule add-ons: addon table "aoc.csv" on the same day by the same provider deny CO-107 N122\n'
        "rule cap: limit 99601 to 2 units per day deny CO-151\n",
        encoding="utf-8",
    )
    result = run("--policy", str(tmp_path), "--max-claims", "60", "--budget", "30")
    assert result.exit_code == 0, result.output
    assert "the engines are not compared" not in result.output and "Traceback" not in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--policy", "no/such/dir"], "no .pol files found under no/such/dir"),
        (["--policy", "policies", "--budget", "-1"], "-1"),
    ],
)
def test_usage_errors(args: list[str], message: str) -> None:
    result = run(*args)
    assert result.exit_code == 2 and message in result.output, result.output
    assert "Traceback" not in result.output


def test_a_python_file_that_is_no_generated_module(tmp_path: Path) -> None:
    broken = Path(edited(tmp_path, MUE, ("def rule_1_mue_99601(", "def rule_1_mue_99601(:")))
    result = run(*SEED, "--python", str(broken))
    assert result.exit_code == 2 and "does not run: SyntaxError" in result.output, result.output
    other = tmp_path / "other.py"
    other.write_text("x = 1\n", encoding="utf-8")
    result = run(*SEED, "--python", str(other))
    assert result.exit_code == 2 and "is no generated policy module" in result.output
    home = edited(tmp_path, HOME)
    result = run("--policy", MUE, "--python", home)
    assert result.exit_code == 2 and "is policy `home-infusion`, which no --policy file holds" in result.output
    assert "Traceback" not in result.output


def test_a_policy_that_does_not_compile(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pol"
    bad.write_text("policy bad\n  plans all\n  effective 2025-01-01\nrule r: limit 99601 to 4 units per week\n",
                   encoding="utf-8")
    result = run("--policy", str(bad))
    assert result.exit_code == 1 and "error[POL101]" in result.output
    assert "Traceback" not in result.output
