"""`extends`: a payer policy inherits national tables, replaces rows, switches rows off, and findings say who won."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import policyc
from policyc.diagnostics import PolicyError

CMS = Path("policies/cms")
MEDICAID = Path("examples/cms/medicaid-ncci-2024q3.pol")
ENGINE = policyc.load(CMS, MEDICAID)
DAY = "2024-07-15"


@pytest.fixture(autouse=True)
def _private_table_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the tables these tests parse out of the user's cache folder."""
    monkeypatch.setenv("POLICYC_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "table-cache"))


def claim(
    *lines: tuple[str, int] | tuple[str, int, list[str]], plan: str = "medicaid", day: str = DAY
) -> dict[str, Any]:
    return {
        "claim_id": "C",
        "plan": plan,
        "member_id": "M",
        "billing_provider": "1234567893",
        "lines": [
            {"line": i, "code": c[0], "units": c[1], "date": day, "modifiers": c[2] if len(c) > 2 else []}
            for i, c in enumerate(lines, start=1)
        ],
    }


def verdicts(data: dict[str, Any], engine: policyc.Engine = ENGINE) -> dict[int, str]:
    return {
        line.line: " ".join([line.status, *sorted(f"{f.rule} {f.adjustment}" for f in line.findings)])
        for line in engine.check(data).lines
    }


MUE = "cms-mue-practitioner-2024q3/mue"
AOC = "cms-aoc-2024q2/add-ons"
PTP = "cms-ptp-practitioner-2024q3/ptp"
MCD = "medicaid-ncci-2024q3"


def test_the_extending_policy_inherits_the_national_tables() -> None:
    assert verdicts(claim(("99213", 3))) == {1: f"denied {MUE} CO-151"}
    assert verdicts(claim(("96366", 1))) == {1: f"denied {AOC} CO-107"}
    assert verdicts(claim(("96360", 1), ("96374", 1))) == {1: "paid", 2: f"denied {PTP} CO-236"}


def test_a_replaced_mue_row_and_the_finding_names_both_sources() -> None:
    assert verdicts(claim(("99601", 4), ("99602", 2))) == {1: "paid", 2: "paid"}
    result = ENGINE.check(claim(("99601", 5)))
    [finding] = result.lines[0].findings
    assert finding.rule == f"{MCD}/mue-99601" and finding.source == f"{MEDICAID.as_posix()}:14"
    assert finding.message == (
        "home infusion visit, at most 4 units a day: 5 units of 99601 on 2024-07-15 exceed the limit of 4 per day by "
        f"the same provider; replaces {MUE}'s row for 99601 (MUE 0, MAI 3) (rationale: Clinical: Medicaid Data)"
    )


def test_the_national_policy_is_unchanged_for_its_own_plan() -> None:
    assert verdicts(claim(("99601", 1), plan="medicare")) == {1: f"denied {MUE} CO-151"}
    assert verdicts(claim(("J7175", 9001), plan="medicare")) == {1: f"denied {MUE} CO-151"}
    assert verdicts(claim(("96360", 1), ("96523", 1, ["59"]), plan="medicare")) == {
        1: "paid",
        2: f"denied {PTP} CO-236",
    }


def test_a_switched_off_mue_row() -> None:
    assert verdicts(claim(("J7175", 9001))) == {1: "paid"}


def test_a_payer_primary_joins_a_type_3_row() -> None:
    assert verdicts(claim(("96160", 1))) == {1: f"denied {AOC} CO-107"}
    assert verdicts(claim(("99202", 1), ("96160", 1))) == {1: "paid", 2: "paid"}  # the national primary
    assert verdicts(claim(("G0442", 1), ("96160", 1))) == {1: "paid", 2: "paid"}  # the payer's
    message = ENGINE.check(claim(("96160", 1))).lines[0].findings[0].message
    assert "added by the payer: G0442" in message
    assert verdicts(claim(("G0442", 1), ("96160", 1), plan="medicare"), policyc.load(CMS)) == {
        1: "paid",
        2: f"denied {AOC} CO-107",
    }


def test_a_payer_add_on_rule_replaces_a_type_1_row(tmp_path: Path) -> None:
    policy = tmp_path / "payer.pol"
    policy.write_text(
        "policy payer\n  plans medicaid\n  effective 2024-07-01 until 2024-09-30\n  extends cms-aoc-2024q2\n"
        "rule visit-hours: addon 99602 requires S9500 on the same day by the same provider deny CO-107 N122\n",
        encoding="utf-8",
    )
    engine = policyc.load(CMS, policy)
    assert verdicts(claim(("99601", 1), ("99602", 1)), engine) == {1: "paid", 2: "denied payer/visit-hours CO-107"}
    assert verdicts(claim(("S9500", 1), ("99602", 1)), engine) == {1: "paid", 2: "paid"}
    message = engine.check(claim(("99602", 1))).lines[0].findings[0].message
    assert message.endswith(f"; replaces {AOC}'s type 1 row for 99602 (primaries 99601)")


def test_a_replaced_and_a_switched_off_ptp_row() -> None:
    assert verdicts(claim(("96360", 1), ("96523", 1))) == {1: "paid", 2: f"denied {MCD}/flush-with-infusion CO-236"}
    assert verdicts(claim(("96360", 1), ("96523", 1, ["59"]))) == {1: "paid", 2: "paid"}
    message = ENGINE.check(claim(("96360", 1), ("96523", 1))).lines[1].findings[0].message
    assert message.endswith(f"; replaces {PTP}'s row 96360/96523 (modifier indicator 0)")
    assert verdicts(claim(("96365", 1), ("96360", 1))) == {1: "paid", 2: "paid"}
    # Other rows of the national table still apply.
    assert verdicts(claim(("96365", 1), ("96374", 1))) == {1: "paid", 2: f"denied {PTP} CO-236"}


def test_outside_the_extending_policys_dates_nothing_is_inherited() -> None:
    # The national PTP policy runs with no end, but Medicaid claims get it only through the Q3 2024 policy.
    assert verdicts(claim(("96360", 1), ("96374", 1), day="2024-10-01")) == {1: "paid", 2: "paid"}
    assert verdicts(claim(("96360", 1), ("96374", 1), day="2024-09-30")) == {1: "paid", 2: f"denied {PTP} CO-236"}


def write(folder: Path, name: str, header: str, body: str = "") -> Path:
    path = folder / f"{name}.pol"
    path.write_text(f"policy {name}\n{header}\n{body}\n", encoding="utf-8")
    return path


def test_a_chain_of_extends_and_overrides_at_each_level(tmp_path: Path) -> None:
    write(
        tmp_path,
        "region",
        "  plans medicaid\n  effective 2024-01-01\n  extends cms-mue-practitioner-2024q3",
        "rule em: limit 99213 to 3 units per day by the same provider deny CO-151 N362\n",
    )
    write(
        tmp_path,
        "county",
        "  plans county\n  effective 2024-01-01\n  extends region",
        "rule vaccines: switch off mue 90471\n",
    )
    engine = policyc.load(CMS, tmp_path)
    county = {"plan": "county"}
    assert verdicts(claim(("99213", 3), **county), engine) == {1: "paid"}  # region's row replaces the national one
    assert verdicts(claim(("99213", 4), **county), engine) == {1: "denied region/em CO-151"}
    assert verdicts(claim(("90471", 2), **county), engine) == {1: "paid"}  # switched off by county
    assert verdicts(claim(("90471", 2)), engine) == {1: f"denied {MUE} CO-151"}  # not for region's own plan
    assert verdicts(claim(("96366", 1), **county), engine) == {1: "paid"}  # county inherits only the MUE policy


def test_the_load_order_does_not_change_a_verdict(tmp_path: Path) -> None:
    claims = [claim(("99601", 5)), claim(("96160", 1)), claim(("J7175", 9001)), claim(("96360", 1), ("96523", 1))]
    backwards = policyc.Engine(tuple(reversed(ENGINE.policies)))
    for data in claims:
        assert verdicts(data, backwards) == verdicts(data)


def diagnostics(*paths: Path) -> list[tuple[str, str, str]]:
    with pytest.raises(PolicyError) as caught:
        policyc.load(*paths)
    return [(d.code, d.source.text[d.span.start : d.span.end], d.message) for d in caught.value.diagnostics]


def test_extending_a_policy_that_is_not_loaded(tmp_path: Path) -> None:
    path = write(tmp_path, "payer", "  plans medicaid\n  effective 2024-01-01\n  extends cms-aoc-2024q2, cms-mue")
    assert diagnostics(CMS, path) == [("POL306", "cms-mue", "policy `payer` extends `cms-mue`, which is not loaded")]
    with pytest.raises(ValueError, match="extends `cms-aoc-2024q2`, which is not loaded"):
        policyc.Engine([policyc.compile_text(path.read_text(encoding="utf-8"), "payer.pol")])


def test_policies_extending_each_other(tmp_path: Path) -> None:
    first = write(tmp_path, "one", "  plans a\n  effective 2024-01-01\n  extends two")
    second = write(tmp_path, "two", "  plans a\n  effective 2024-01-01\n  extends one")
    assert diagnostics(first, second) == [
        ("POL307", "two", "policy `one` extends itself: one -> two -> one"),
        ("POL307", "one", "policy `two` extends itself: two -> one -> two"),
    ]
    itself = write(tmp_path, "three", "  plans a\n  effective 2024-01-01\n  extends three")
    assert diagnostics(itself) == [("POL307", "three", "policy `three` cannot extend itself")]
    good = write(tmp_path, "one", "  plans a\n  effective 2024-01-01")
    policyc.load(good, second)


def test_the_example_claims_get_the_verdicts_their_readme_describes(tmp_path: Path) -> None:
    import json

    from policyc.history import SqliteHistory

    claims = json.loads(Path("examples/cms/claims.json").read_text(encoding="utf-8"))
    engine = policyc.Engine(ENGINE.policies, history=SqliteHistory(tmp_path / "h.db"))
    got = {c["claim_id"][:6]: [line.status for line in engine.check(c).lines] for c in claims}
    assert got == {
        "MCR-01": ["denied", "denied"], "MCR-02": ["denied", "denied"], "MCR-03": ["paid", "denied"],
        "MCR-04": ["paid", "paid", "paid"], "MCR-05": ["denied"], "MCR-06": ["paid"], "MCR-07": ["paid", "paid"],
        "MCR-08": ["paid", "denied"], "MCR-09": ["paid", "paid"], "MCR-10": ["paid", "denied"],
        "MCR-11": ["paid", "paid"], "MCR-12": ["denied", "paid"], "MCD-13": ["paid", "paid"],
    }
    alone = {c["claim_id"][:6]: [line.status for line in ENGINE.check(c).lines] for c in claims}
    assert alone["MCR-12"] == ["paid", "denied"]
