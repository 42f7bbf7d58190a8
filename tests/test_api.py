"""The embedding API: `policyc.load`, `Engine.check`, `Engine.check_many`, and sharing one engine between threads."""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

import policyc

REPO = Path(__file__).resolve().parent.parent
POLICIES = REPO / "policies"
HOME_INFUSION = POLICIES / "payer" / "home-infusion.pol"
MEDICAID_MUE = POLICIES / "medicaid" / "mue-home-infusion-2026q1.pol"
RESULT_SCHEMA = json.loads((REPO / "docs" / "result.schema.json").read_text(encoding="utf-8"))
EXAMPLE_CLAIMS = json.loads((REPO / "examples" / "claims.json").read_text(encoding="utf-8"))

BROKEN_UNKNOWN_SET = """\
policy broken-one "unknown set"
  plans all
  effective 2024-01-01

rule r1 "uses a set nobody defined":
  addon 99602 requires nursing on the same day by the same provider
  deny CO-107 N122
"""

BROKEN_BAD_CARC = """\
policy broken-two "bad adjustment"
  plans all
  effective 2024-01-01

rule r1 "an adjustment nobody knows":
  limit 99601 to 4 units per day by the same provider
  deny XX-107
"""


ALL_SEED_POLICIES = [
    "cms-aoc-2024q2", "cms-mue-practitioner-2024q3", "cms-ptp-practitioner-2024q3", "home-infusion",
    "medicaid-mue-2026q1",
]

def claim(
    *lines: tuple[str, int, str], plan: str = "commercial", claim_id: str = "C-1", **extra: Any
) -> dict[str, Any]:
    """A claim in the interchange format with one line per (code, units, date)."""
    return {
        "claim_id": claim_id,
        "plan": plan,
        "member_id": "M-1",
        "billing_provider": "1234567893",
        "lines": [
            {"line": number, "code": code, "units": units, "date": date}
            for number, (code, units, date) in enumerate(lines, start=1)
        ],
        **extra,
    }


def statuses(result: policyc.ClaimResult) -> dict[int, str]:
    return {
        line.line: " ".join([line.status, *sorted(f.adjustment or "review" for f in line.findings)])
        for line in result.lines
    }


def validate(document: dict[str, Any]) -> None:
    jsonschema.validate(document, RESULT_SCHEMA, cls=jsonschema.Draft202012Validator)


# Five 99601 units on one day of the Medicaid quarter: over the MUE of 4.
OVER_MUE = claim(("99601", 3, "2026-01-05"), ("99601", 2, "2026-01-05"), plan="medicaid")
# A 99602 with no 99601: denied by the home infusion add-on rule on every plan.
LONE_ADDON = claim(("99602", 1, "2026-01-05"), plan="medicaid")


# ---------------------------------------------------------------------------------------------- load


def test_load_a_file_gives_only_that_policy() -> None:
    engine = policyc.load(HOME_INFUSION)
    assert [p.id for p in engine.policies] == ["home-infusion"]
    assert statuses(engine.check(LONE_ADDON)) == {1: "denied CO-107"}
    # The Medicaid MUE is not loaded, so five units are paid.
    assert statuses(engine.check(OVER_MUE)) == {1: "paid", 2: "paid"}


def test_load_accepts_str_paths() -> None:
    engine = policyc.load(str(MEDICAID_MUE))
    assert [p.id for p in engine.policies] == ["medicaid-mue-2026q1"]
    assert statuses(engine.check(OVER_MUE)) == {1: "denied CO-151", 2: "denied CO-151"}
    assert statuses(engine.check(LONE_ADDON)) == {1: "paid"}


def test_load_a_directory_searches_it_recursively() -> None:
    engine = policyc.load(POLICIES)
    assert sorted(p.id for p in engine.policies) == ALL_SEED_POLICIES
    assert statuses(engine.check(OVER_MUE)) == {1: "denied CO-151", 2: "denied CO-151"}
    assert statuses(engine.check(LONE_ADDON)) == {1: "denied CO-107"}


def test_load_several_paths_mixing_files_and_directories() -> None:
    engine = policyc.load(POLICIES / "payer", MEDICAID_MUE)
    assert sorted(p.id for p in engine.policies) == ["home-infusion", "medicaid-mue-2026q1"]
    by_dir = policyc.load(POLICIES)
    for example in EXAMPLE_CLAIMS:
        assert engine.check(example).to_dict() == by_dir.check(example).to_dict()


def test_load_finds_policies_in_nested_directories(tmp_path: Path) -> None:
    nested = tmp_path / "a" / "b" / "c"
    nested.mkdir(parents=True)
    (nested / "mue.pol").write_text(MEDICAID_MUE.read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "a" / "notes.txt").write_text("not a policy", encoding="utf-8")
    engine = policyc.load(tmp_path)
    assert [p.id for p in engine.policies] == ["medicaid-mue-2026q1"]


def test_a_policy_applies_only_to_its_plans_and_dates(seed_engine: policyc.Engine) -> None:
    five = ("99601", 5, "2026-01-05")
    assert statuses(seed_engine.check(claim(five, plan="medicaid"))) == {1: "denied CO-151"}
    # Plans are matched case-insensitively: the claim's plan is read in lower case.
    assert statuses(seed_engine.check(claim(five, plan=" MEDICAID "))) == {1: "denied CO-151"}
    assert statuses(seed_engine.check(claim(five, plan="commercial"))) == {1: "paid"}
    # The MUE policy covers 2026-01-01 until 2026-03-31, both ends included.
    for day, want in [
        ("2025-12-31", "paid"),
        ("2026-01-01", "denied CO-151"),
        ("2026-03-31", "denied CO-151"),
        ("2026-04-01", "paid"),
    ]:
        assert statuses(seed_engine.check(claim(("99601", 5, day), plan="medicaid"))) == {1: want}, day
    # The home infusion policy starts 2024-10-07 and covers every plan.
    assert statuses(seed_engine.check(claim(("99602", 1, "2024-10-06"), plan="anything"))) == {1: "paid"}
    assert statuses(seed_engine.check(claim(("99602", 1, "2024-10-07"), plan="anything"))) == {1: "denied CO-107"}


def test_dates_are_judged_per_line(seed_engine: policyc.Engine) -> None:
    result = seed_engine.check(claim(("99601", 5, "2025-12-31"), ("99601", 5, "2026-01-02"), plan="medicaid"))
    assert statuses(result) == {1: "paid", 2: "denied CO-151"}


def test_load_raises_policy_error_with_diagnostics_of_every_failing_file(tmp_path: Path) -> None:
    (tmp_path / "one.pol").write_text(BROKEN_UNKNOWN_SET, encoding="utf-8")
    (tmp_path / "two.pol").write_text(BROKEN_BAD_CARC, encoding="utf-8")
    with pytest.raises(policyc.PolicyError) as caught:
        policyc.load(tmp_path, HOME_INFUSION)
    diagnostics = caught.value.diagnostics
    files = {Path(d.source.name).name for d in diagnostics}
    assert files == {"one.pol", "two.pol"}
    codes = {(Path(d.source.name).name, d.code) for d in diagnostics}
    assert ("one.pol", "POL201") in codes
    assert ("two.pol", "POL209") in codes
    rendered = caught.value.render()
    assert "one.pol:6:24: error[POL201]: unknown code set `nursing`" in rendered
    assert "two.pol:7:" in rendered
    assert "help:" in rendered
    assert all(isinstance(d, policyc.Diagnostic) for d in diagnostics)


def test_load_of_a_missing_file_is_a_policy_error(tmp_path: Path) -> None:
    with pytest.raises(policyc.PolicyError) as caught:
        policyc.load(tmp_path / "nope.pol")
    assert [d.code for d in caught.value.diagnostics] == ["POL001"]


def test_duplicate_policy_id_across_two_files_is_pol230(tmp_path: Path) -> None:
    text = HOME_INFUSION.read_text(encoding="utf-8")
    (tmp_path / "a.pol").write_text(text, encoding="utf-8")
    (tmp_path / "b.pol").write_text(text, encoding="utf-8")
    with pytest.raises(policyc.PolicyError) as caught:
        policyc.load(tmp_path)
    [diagnostic] = caught.value.diagnostics
    assert diagnostic.code == "POL230"
    assert Path(diagnostic.source.name).name == "b.pol"
    assert "home-infusion" in diagnostic.message and "a.pol" in diagnostic.message
    assert "error[POL230]" in diagnostic.render()


def test_the_same_file_named_twice_is_loaded_once() -> None:
    engine = policyc.load(POLICIES, HOME_INFUSION)
    assert sorted(p.id for p in engine.policies) == ALL_SEED_POLICIES


# --------------------------------------------------------------------------------------------- check


def test_check_a_dict(seed_engine: policyc.Engine) -> None:
    data = claim(("99601", 1, "2025-03-02"), ("99602", 2, "2025-03-02"), ("99602", 1, "2025-03-03"))
    before = copy.deepcopy(data)
    result = seed_engine.check(data)
    assert isinstance(result, policyc.ClaimResult)
    assert result.claim_id == "C-1"
    assert result.status == "processed"
    assert statuses(result) == {1: "paid", 2: "paid", 3: "denied CO-107"}
    [f] = result.line(3).findings
    assert f.rule == "home-infusion/rn-add-on"
    assert f.source == "policies/payer/home-infusion.pol:20"
    assert (f.kind, f.action, f.group, f.carc, f.rarc) == ("addon", "deny", "CO", "107", ("N122",))
    assert result.line(3).allowed_units == 0
    assert data == before  # the caller's mapping is not changed


def test_check_a_claim_object(seed_engine: policyc.Engine) -> None:
    data = claim(("S9500", 1, "2025-03-02"), ("S9338", 1, "2025-03-02"))
    parsed = policyc.parse_claim(data)
    assert isinstance(parsed, policyc.Claim)
    from_claim = seed_engine.check(parsed)
    assert statuses(from_claim) == {1: "denied CO-4", 2: "denied CO-4"}
    assert from_claim == seed_engine.check(data)
    # The claim's own interchange form reads back to the same result.
    assert seed_engine.check(parsed.to_dict()) == from_claim


def test_results_keep_line_numbers_and_claim_order(seed_engine: policyc.Engine) -> None:
    data = claim(("99602", 1, "2025-03-02"), ("99601", 1, "2025-03-02"))
    data["lines"][0]["line"], data["lines"][1]["line"] = 9, 4
    result = seed_engine.check(data)
    assert [(line.line, line.code) for line in result.lines] == [(9, "99602"), (4, "99601")]
    assert statuses(result) == {9: "paid", 4: "paid"}


def test_the_order_of_lines_never_changes_a_status(seed_engine: policyc.Engine) -> None:
    for example in EXAMPLE_CLAIMS:
        reversed_claim = {**example, "lines": list(reversed(example["lines"]))}
        assert statuses(seed_engine.check(reversed_claim)) == statuses(seed_engine.check(example)), example["claim_id"]


def test_check_an_invalid_dict_gives_a_rejected_result(seed_engine: policyc.Engine) -> None:
    data = claim(("99601", 0, "2026-02-30"), claim_id="BAD-1")
    del data["member_id"]
    result = seed_engine.check(data)
    assert result.status == "rejected"
    assert result.claim_id == "BAD-1"
    assert result.lines == ()
    fields = {e.field for e in result.errors}
    assert {"member_id", "lines[0].units", "lines[0].date"} <= fields
    assert all(e.reason for e in result.errors)
    validate(result.to_dict())


@pytest.mark.parametrize("not_a_claim", [[], "claim", 42, None, {"claim_id": 7}])
def test_check_something_that_is_no_claim_gives_a_rejected_result(
    seed_engine: policyc.Engine, not_a_claim: Any
) -> None:
    result = seed_engine.check(not_a_claim)
    assert result.status == "rejected"
    assert result.errors
    assert result.claim_id is None
    validate(result.to_dict())


# ---------------------------------------------------------------------------------------- check_many


def test_check_many_gives_one_result_per_claim_in_order(seed_engine: policyc.Engine) -> None:
    inputs: list[Any] = [
        EXAMPLE_CLAIMS[0],
        {"claim_id": "BAD", "plan": "commercial"},
        policyc.parse_claim(EXAMPLE_CLAIMS[1]),
        policyc.Rejection("R-1", (policyc.ClaimError("lines", "is required"),)),
        EXAMPLE_CLAIMS[2],
    ]
    results = list(seed_engine.check_many(inputs))
    assert [(r.claim_id, r.status) for r in results] == [
        (EXAMPLE_CLAIMS[0]["claim_id"], "processed"),
        ("BAD", "rejected"),
        (EXAMPLE_CLAIMS[1]["claim_id"], "processed"),
        ("R-1", "rejected"),
        (EXAMPLE_CLAIMS[2]["claim_id"], "processed"),
    ]
    assert results[3].errors == (policyc.ClaimError("lines", "is required"),)


def test_check_many_streams(seed_engine: policyc.Engine) -> None:
    pulled: list[str] = []

    class Boom(Exception):
        pass

    def claims() -> Iterator[dict[str, Any]]:
        for example in EXAMPLE_CLAIMS[:2]:
            pulled.append(example["claim_id"])
            yield example
        raise Boom("the source broke after two claims")

    stream = seed_engine.check_many(claims())
    assert pulled == []  # nothing is read before the first result is asked for
    produced: list[policyc.ClaimResult] = []
    with pytest.raises(Boom):
        for result in stream:
            produced.append(result)
            # Each result comes out before the next claim is read.
            assert len(pulled) == len(produced)
    assert [r.claim_id for r in produced] == [c["claim_id"] for c in EXAMPLE_CLAIMS[:2]]


def test_check_many_of_the_examples_matches_check(seed_engine: policyc.Engine) -> None:
    many = [r.to_dict() for r in seed_engine.check_many(iter(EXAMPLE_CLAIMS))]
    one_by_one = [seed_engine.check(c).to_dict() for c in EXAMPLE_CLAIMS]
    assert many == one_by_one
    assert [r["claim_id"] for r in many] == [c["claim_id"] for c in EXAMPLE_CLAIMS]


# -------------------------------------------------------------------------------------------- to_dict


def test_to_dict_round_trips_through_json_and_validates(seed_engine: policyc.Engine) -> None:
    inputs: list[Any] = [*EXAMPLE_CLAIMS, {"claim_id": "BAD"}, "not an object"]
    for result in seed_engine.check_many(inputs):
        data = result.to_dict()
        validate(data)
        assert json.loads(json.dumps(data)) == data
    # Every example line is accounted for.
    results = [seed_engine.check(c).to_dict() for c in EXAMPLE_CLAIMS]
    assert [len(r["lines"]) for r in results] == [len(c["lines"]) for c in EXAMPLE_CLAIMS]
    for result, source in zip(results, EXAMPLE_CLAIMS, strict=True):
        assert [(line["line"], line["code"], line["units"]) for line in result["lines"]] == [
            (line["line"], line["code"], line["units"]) for line in source["lines"]
        ]


def test_to_dict_of_the_examples(seed_engine: policyc.Engine) -> None:
    by_id = {c["claim_id"]: seed_engine.check(c) for c in EXAMPLE_CLAIMS}
    assert statuses(by_id["HI-02-addon-alone"]) == {1: "denied CO-107"}
    assert statuses(by_id["HI-05-two-therapies-without-SH"]) == {1: "denied CO-4", 2: "denied CO-4"}
    assert statuses(by_id["MCD-02-five-visits-denied-with-cascade"]) == {
        1: "denied CO-151",
        2: "denied CO-151",
        3: "denied CO-107",
    }
    assert statuses(by_id["MCD-06-commercial-claim-not-edited"]) == {1: "paid"}
    finding = by_id["MCD-03-99602-over-cap"].to_dict()["lines"][1]["findings"][0]
    assert finding["rule"] == "medicaid-mue-2026q1/mue-99602"
    assert finding["appealable"] is True
    assert finding["rarc"] == ["N362"]
    assert finding["source"].startswith("policies/medicaid/mue-home-infusion-2026q1.pol:")


# ------------------------------------------------------------------------------------------- threads

THREADS = 8
CLAIMS_PER_THREAD = 200
PLANS = ["commercial", "medicaid", "medicare", "Medicaid", "tricare", "chip", "exchange", "ma"]


def mixed_claims(seed: int) -> list[dict[str, Any]]:
    """Claims over many plans, dates and codes, so each thread builds and uses several plan indexes."""
    claims = []
    codes = ["99601", "99602", "S9500", "S9338", "A4221", "J3370", "S9542"]
    days = ["2025-03-02", "2026-01-05", "2026-02-10", "2026-04-01"]
    for i in range(CLAIMS_PER_THREAD):
        k = seed * 7919 + i
        lines = []
        for j in range(1 + k % 4):
            line: dict[str, Any] = {
                "line": j + 1,
                "code": codes[(k + 3 * j) % len(codes)],
                "units": 1 + (k + j) % 4,
                "date": days[(k // 3) % len(days)],
            }
            if codes[(k + 3 * j) % len(codes)].startswith("S95") and j % 3 == 1:
                line["modifiers"] = ["SH"]
            lines.append(line)
        claims.append(
            {
                "claim_id": f"T{seed}-{i}",
                "plan": PLANS[(k + seed) % len(PLANS)],
                "member_id": "M-1",
                "billing_provider": "1234567893",
                "lines": lines,
            }
        )
    return claims


def test_one_engine_shared_by_threads_gives_the_single_threaded_results() -> None:
    batches = [mixed_claims(seed) for seed in range(THREADS)]
    reference_engine = policyc.load(POLICIES)
    expected = [[reference_engine.check(c).to_dict() for c in batch] for batch in batches]
    # The batches do exercise the policies: some lines are denied, some paid, on several plans.
    line_statuses = {line["status"] for batch in expected for result in batch for line in result["lines"]}
    assert {"paid", "denied"} <= line_statuses

    shared = policyc.load(POLICIES)  # a fresh engine: no plan index is built yet
    start = threading.Barrier(THREADS)
    got: list[list[dict[str, Any]] | None] = [None] * THREADS
    failures: list[BaseException] = []

    def work(index: int) -> None:
        try:
            start.wait()
            got[index] = [shared.check(c).to_dict() for c in batches[index]]
        except BaseException as error:  # noqa: BLE001 - reported by the main thread
            failures.append(error)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    assert failures == []
    for index in range(THREADS):
        assert got[index] == expected[index], f"thread {index} differs from the single-threaded run"
    # Each plan's index was built once and is shared afterwards.
    for plan in {p.lower() for p in PLANS}:
        assert shared.index_for(plan) is shared.index_for(plan)


def test_threads_build_each_plan_index_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """A slow index build widens the race window: threads asking for one plan must still share one build."""
    import time
    from collections import Counter

    from policyc import engine as engine_module

    original = engine_module.PlanIndex.build.__func__  # type: ignore[attr-defined]
    builds: Counter[int] = Counter()
    counting = threading.Lock()

    def slow_build(cls: type[engine_module.PlanIndex], rules: Any) -> engine_module.PlanIndex:
        with counting:
            builds[threading.get_ident()] += 1
        time.sleep(0.02)
        return original(cls, rules)

    monkeypatch.setattr(engine_module.PlanIndex, "build", classmethod(slow_build))
    shared = policyc.load(POLICIES)
    start = threading.Barrier(THREADS)
    indexes: list[list[Any]] = [[] for _ in range(THREADS)]

    def work(index: int) -> None:
        start.wait()
        for plan in ("medicaid", "commercial", "medicare"):
            indexes[index].append(shared.index_for(plan))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sum(builds.values()) == 3
    for per_thread in indexes:
        assert [id(i) for i in per_thread] == [id(i) for i in indexes[0]]
