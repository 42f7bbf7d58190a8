"""The compiled engine with a SQLite history and the reference with its list of earlier claims agree, claim by claim.

Sequences of claims (the same and other members, providers, plans and days; resubmitted and rejected claims;
claim ids as payers write them; lines billed over a span of days) run in order through both engines, each with
a fresh history (docs/tables.md section 6).
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from test_differential import differences

import policyc
from policyc import ir, reference
from policyc.claims import Claim
from policyc.history import PriorLine, SqliteHistory
from policyc.reference import ReferenceEngine, ReferenceHistory
from policyc.results import ClaimResult

ClaimSequence = list[dict[str, Any]]

# ---------------------------------------------------------------- the national tables and a payer extending them

NATIONAL_PATHS = ("policies/cms", "examples/cms/medicaid-ncci-2024q3.pol")
NATIONAL = policyc.load(*NATIONAL_PATHS)
NATIONAL_IR = reference.read_policies(NATIONAL_PATHS)

# Codes that meet in the national rows, one group per kind of cross-claim edit, so earlier claims matter:
NATIONAL_GROUPS = (
    # MAI 2 and 3 rows with small values (99213: 2; 90471, 99202, 96365, 96360: 1; 36591: 2; 96367: 4)
    ("99213", "90471", "99202", "96365", "96360", "36591", "96367"),
    # add-on chains: 96368 needs 96366 (or 96365...), 96366 and 96367 need 96365, 96374 or 96360; 96375 type 1
    ("96365", "96366", "96367", "96368", "96374", "96360", "96375"),
    # add-ons that need each other (0836T, 88177) and 88177's other primary
    ("0836T", "88177", "88172"),
    # a type 3 add-on, its primaries, and the primary the Medicaid policy adds (G0442)
    ("96160", "99202", "99213", "G0442", "96127"),
    # PTP pairs: 96360/96523 and 96523/36591 (indicator 0), 96365/96360, 96360/99213 and 0018M/96523 (1)
    ("96360", "96523", "96365", "36591", "0018M", "99213", "96374"),
    # the Medicaid policy's own caps (99601 4, 99602 2 a day), its pair 96360/96523 and its switched-off pair
    ("99601", "99602", "96360", "96523", "96365"),
)
# In the MUE quarter (and the Medicaid policy's), the day after, and after both.
NATIONAL_DAYS = ("2024-07-15", "2024-07-15", "2024-07-15", "2024-07-16", "2024-10-01")
MEMBERS = ("M-1", "M-2")
PROVIDERS = ("1234567893", "1234567893", "1111111112")
RENDERING = (None, None, None, "1222222220", "1333333330")
MODIFIERS = ([], [], [], [], ["59"], ["XU"], ["25"], ["GT"])
# Each sequence draws a few of these and its claims draw from those few, so resubmissions (an id seen before)
# stay frequent. Ids as payers write them: "a" is another claim than "A" (the history compares ids exactly),
# "A " is "A" again (the claim reader strips text fields), and "A-10" sorts before "A-2" where an edit names
# the first earlier claim by claim id (docs/tables.md section 6).
CLAIM_IDS = ("A", "B", "C", "a", "A ", "A-2", "A-10", "CLM-0001", "CLM-0002", "CLM-0010", "2024-12-03-000017")


@st.composite
def claim_sequences(
    draw: st.DrawFn, groups: Sequence[tuple[str, ...]], days: Sequence[str], plans: Sequence[str],
    modifiers: Sequence[list[str]] = MODIFIERS,
) -> ClaimSequence:
    """2 to 6 claims of one member mostly (and one provider, plan and day mostly), of codes that meet in the rows.

    Claim ids are drawn from 2 to 5 of CLAIM_IDS, so many claims resubmit an earlier one; a line of 0 units gets a
    claim rejected. Each claim keeps the sequence's own day, plan, member and provider four times in five: drawn
    independently, only one sequence in twenty had a claim that an earlier one changed. One line in six is billed
    over a span ending 0 to 2 days after its date (spilling into the next day of `days`, where it must not count:
    docs/tables.md section 7 edits a spanned line on its first day only).
    """
    group = draw(st.sampled_from(groups))
    everything = sorted({code for codes in groups for code in codes})
    ids = draw(st.lists(st.sampled_from(CLAIM_IDS), min_size=2, max_size=5, unique=True))
    home = {
        "day": draw(st.sampled_from(days)), "plan": draw(st.sampled_from(plans)),
        "member_id": draw(st.sampled_from(MEMBERS)), "billing_provider": draw(st.sampled_from(PROVIDERS)),
    }

    def usually(field: str, options: Sequence[str]) -> str:
        return home[field] if draw(st.integers(0, 4)) else draw(st.sampled_from(options))

    sequence = []
    for _ in range(draw(st.integers(2, 6))):
        day = usually("day", days)
        lines = []
        for number in draw(st.lists(st.integers(1, 6), min_size=1, max_size=4, unique=True)):
            codes = group if draw(st.integers(0, 9)) else everything
            line: dict[str, Any] = {
                "line": number,
                "code": draw(st.sampled_from(codes)),
                "units": draw(st.sampled_from((1, 1, 1, 2, 3))),
                "modifiers": draw(st.sampled_from(modifiers)),
                "date": draw(st.sampled_from((day, day, day, *days))),
            }
            if draw(st.integers(0, 5)) == 0:
                span = datetime.timedelta(days=draw(st.integers(0, 2)))
                line["date_to"] = (datetime.date.fromisoformat(line["date"]) + span).isoformat()
            rendering = draw(st.sampled_from(RENDERING))
            if rendering is not None:
                line["rendering_provider"] = rendering
            lines.append(line)
        if draw(st.integers(0, 19)) == 0:
            lines[0]["units"] = 0  # not a valid claim: rejected by both, and recorded by neither
        claim: dict[str, Any] = {
            "claim_id": draw(st.sampled_from(ids)),
            "plan": usually("plan", plans),
            "member_id": usually("member_id", MEMBERS),
            "billing_provider": usually("billing_provider", PROVIDERS),
            "lines": lines,
        }
        rendering = draw(st.sampled_from(RENDERING))
        if rendering is not None:
            claim["rendering_provider"] = rendering
        if draw(st.integers(0, 9)) == 0:
            claim["claim_type"] = "institutional"  # the national MUE and PTP policies edit professional claims only
        sequence.append(claim)
    return sequence


def assert_agree_in_order(
    compiled: Sequence[policyc.CompiledPolicy], interpreted: Sequence[ir.PolicyIR], sequence: ClaimSequence
) -> None:
    """Run the claims in order through both engines, each with a new, empty history; every result identical."""
    with tempfile.TemporaryDirectory() as folder:
        history = SqliteHistory(Path(folder) / "history.db")
        try:
            engine = policyc.Engine(compiled, history=history)
            model = ReferenceEngine(interpreted, history=ReferenceHistory())
            for position, claim in enumerate(sequence, start=1):
                got, want = engine.check(claim), model.check(claim)
                found = differences(got, want)
                assert not found, f"claim {position} ({claim['claim_id']}):\n" + "\n".join(found)
        finally:
            history.close()


def lines(*specs: tuple[int, str, int]) -> list[dict[str, Any]]:
    return [
        {"line": number, "code": code, "units": units, "modifiers": [], "date": "2024-07-15"}
        for number, code, units in specs
    ]


def medicare(claim_id: str, *specs: tuple[int, str, int], **fields: Any) -> dict[str, Any]:
    return {"claim_id": claim_id, "plan": "medicare", "member_id": "M-1", "billing_provider": "1234567893",
            "lines": lines(*specs), **fields}


def every_line(claim: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """The claim with `fields` set on each of its lines (`date`, `date_to`)."""
    return {**claim, "lines": [{**line, **fields} for line in claim["lines"]]}


# Hand-picked sequences of the kinds docs/tables.md section 6 describes, run on every CI run.
# An MUE sum across claims, then the first claim resubmitted with fewer units.
@example(sequence=[medicare("A", (1, "99213", 2)), medicare("B", (1, "99213", 1)),
                   medicare("A", (1, "99213", 1)), medicare("B", (1, "99213", 1))])
# A primary of an earlier claim; another provider's; a denied one (MUE 1) supports nothing.
@example(sequence=[medicare("A", (1, "96365", 1)), medicare("B", (1, "96366", 1)),
                   medicare("C", (1, "96366", 1), billing_provider="1111111112"),
                   medicare("D", (1, "96365", 2), member_id="M-2"), medicare("E", (1, "96366", 1), member_id="M-2")])
# Column 1 lines on two earlier claims (B's 96360, then A's 96365): the message names the first by claim id
# (docs/tables.md section 6), and nothing reaches back to an earlier column 2 line.
@example(sequence=[medicare("B", (1, "96360", 1)), medicare("A", (2, "96365", 1)),
                   medicare("C", (1, "96523", 1), (2, "36591", 1)), medicare("D", (1, "96360", 1))])
# Another plan's claim counts for nothing; the Medicaid policy's own per-day cap counts Medicaid claims.
@example(sequence=[medicare("A", (1, "99601", 3), plan="medicaid"), medicare("B", (1, "99601", 2)),
                   medicare("C", (1, "99601", 2), (2, "99602", 1), plan="medicaid")])
# Claim ids compared exactly: "a" is another claim than "A" (its 99213 is over the MUE of 2), "A " is "A"
# resubmitted (the reader strips it), and "A-10" sorts before "A-2" when a PTP edit names an earlier claim.
@example(sequence=[medicare("A", (1, "99213", 2)), medicare("a", (1, "99213", 1)), medicare("A ", (1, "99213", 1)),
                   medicare("A-2", (1, "96360", 1)), medicare("A-10", (2, "96365", 1)),
                   medicare("CLM-0001", (1, "96523", 1), (2, "36591", 1))])
# A line billed over two days uses its first day's MUE only (docs/tables.md section 7): 2 units of 99213 the
# next day are paid, 1 more on the first day is not.
@example(sequence=[every_line(medicare("A", (1, "99213", 2)), date_to="2024-07-16"),
                   every_line(medicare("B", (1, "99213", 2)), date="2024-07-16"), medicare("C", (1, "99213", 1))])
@settings(max_examples=max(10, settings().max_examples * 2 // 3), deadline=None)
@given(sequence=claim_sequences(NATIONAL_GROUPS, NATIONAL_DAYS, ("medicare", "medicare", "medicare", "medicaid")))
def test_national_tables_agree_across_claims(sequence: ClaimSequence) -> None:
    """The national MUE, add-on and PTP tables and the Medicaid policy extending them, over sequences of claims."""
    assert_agree_in_order(NATIONAL.policies, NATIONAL_IR, sequence)


# ---------------------------------------------------------------- scopes the national policies do not use

# Rendering-provider scopes, scopes of any provider, a cut back, and per-claim rules that must not look across:
# `per claim` and `on the same claim`, and the written rule kinds docs/tables.md section 6 keeps to the claim
# alone (`bundle`, `sequence`, `when`), beside written `pair` rules on the same day (which look across, as a PTP
# table does; one by rendering provider, one of any provider). They deny or review lines the cross-claim rules
# count on later claims: a visit bundled into a per diem, a 96365 paired away by a push, a 96367 (a primary of
# the add-on table's 96368) paired away and a visit with SH are denied, so they support no add-on and use no cap
# later; a visit or an infusion sent to review still stands.
SCOPED = {
    "mue.csv": "hcpcs_code,mue_value,mai,mue_rationale\n96360,1,3,Clinical\n96523,2,2,\n36591,1,1,\n96367,3,3,\n",
    "aoc.csv": "add_on_code,primary_code,aoc_edit_type\n96368,96367,1\n96368,96366,1\n96375,CCCCC,2\n",
    "ptp.csv": (
        "column_1,column_2,deletion_date,modifier_indicator,effective_date\n"
        "96360,96523,,0,2024-01-01\n96367,96360,,1,2024-01-01\n96523,36591,,0,2024-01-01\n"
    ),
    "scoped.pol": (
        "policy scoped\n  plans all\n  effective 2024-01-01\n\n"
        'codes per_diem "home infusion per diem" = S9500, S9501\n\n'
        'rule cap "cap": limit 99601, 99602 to 4 units per day by the same rendering provider cut back CO-151\n'
        "rule visits: limit 96365 to 2 units per day deny CO-151\n"
        "rule rn: addon 99602 requires 99601 on the same day deny CO-107\n"
        "rule drip: addon 96366 requires 96365 on the same day by the same rendering provider deny CO-107\n"
        "rule per-claim: limit 96367 to 5 units per claim deny CO-151\n"
        "rule push: addon 96375 requires 96374 on the same claim deny CO-107\n"
        'rule mue "MUE": mue table "mue.csv" by the same rendering provider cut back CO-151 N362\n'
        'rule aoc "AOC": addon table "aoc.csv" on the same day deny CO-107 N122\n'
        'rule ptp "PTP": pair table "ptp.csv" on the same day by the same rendering provider deny CO-236\n'
        'rule in-per-diem "a visit is included in the per diem":\n'
        "  bundle 99601 into per_diem on the same day by the same provider deny CO-97 M15\n"
        'rule concurrent "the second per diem of a day carries SH, the third and later SJ":\n'
        "  sequence per_diem on the same day by the same provider:\n    1st without SH, SJ\n    2nd with SH\n"
        "    3rd+ with SJ\n  deny CO-4 N519\n"
        'rule concurrency "a nursing visit carries no concurrency modifier":\n'
        "  when line has modifier SH or SJ and line.code in 99601, 99602 deny CO-4 N519\n"
        'rule push-drip "the infusion is not paid with a push of the same nurse":\n'
        "  pair 96374 with 96365 on the same day by the same rendering provider unless modifier 59 or XU\n"
        "  deny CO-97 M80\n"
        'rule sequential "a sequential infusion is not paid with an additional hour, of any provider":\n'
        "  pair 96366 with 96367 on the same day deny CO-97 M80\n"
        'rule long-drip: when line.code in 96365, 96366 and line.units >= 2 review "two hours of infusion or more"\n'
        'rule second-nurse: when line.code in 99601 and line.rendering_provider = "1333333330" review "another nurse"\n'
    ),
}
SCOPED_GROUPS = (
    ("99601", "99602"),
    ("96365", "96366", "96367", "96368"),
    ("96360", "96523", "36591", "96367"),
    ("96374", "96375", "96367", "96366"),
    # the per diems' bundle and sequence beside the visit's cap and add-on
    ("S9500", "S9501", "99601", "99602"),
    # the push-and-infusion pair beside the infusion's cap and add-on (same rendering provider)
    ("96374", "96365", "96366"),
)
# The sequence's SH and SJ, alone and together (a line fitting no rank), and the pair's bypass modifiers.
SCOPED_MODIFIERS = ([], [], [], [], [], ["SH"], ["SJ"], ["SH", "SJ"], ["59"], ["XU"])
SCOPED_DAYS = ("2025-03-02", "2025-03-02", "2025-03-03")


@pytest.fixture(scope="module")
def scoped(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding the scoped policy and its tables (a path, so a failing example prints briefly)."""
    folder = tmp_path_factory.mktemp("scoped")
    for name, text in SCOPED.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


@functools.cache
def scoped_engines(folder: Path) -> tuple[tuple[policyc.CompiledPolicy, ...], list[ir.PolicyIR]]:
    return policyc.load(folder).policies, reference.read_policies([folder])


@settings(max_examples=max(10, settings().max_examples * 2 // 3), deadline=None)
@given(sequence=claim_sequences(SCOPED_GROUPS, SCOPED_DAYS, ("commercial",), SCOPED_MODIFIERS))
def test_rendering_and_any_provider_scopes_agree_across_claims(scoped: Path, sequence: ClaimSequence) -> None:
    """Written per-day caps and add-ons and table rules scoped by rendering provider or by no provider, beside
    written rules that look at the claim alone."""
    assert_agree_in_order(*scoped_engines(scoped), sequence)


def commercial(claim_id: str, code: str, units: int, rendering: str | None = None) -> dict[str, Any]:
    claim: dict[str, Any] = {
        "claim_id": claim_id, "plan": "commercial", "member_id": "M-1", "billing_provider": "1234567893",
        "lines": [{"line": 1, "code": code, "units": units, "modifiers": [], "date": "2025-03-02"}],
    }
    if rendering is not None:
        claim["rendering_provider"] = rendering
    return claim


# Shrunk by Hypothesis on 2026-12-02: an earlier line with no rendering provider (neither its own nor its
# claim's) was grouped by the compiled engine with the later claim's rendering provider. The history keeps its
# rendering provider as NULL, and the generated scope key `line.rendering_provider or claim.rendering_provider`
# fell back to the *current* claim's. docs/tables.md section 3 (the line's rendering provider, else its claim's)
# and section 6 (a rendering-provider scope groups earlier lines by their rendering provider) say they are
# different providers; the key is now runtime.rendering_provider, which never lends an earlier line this claim's.
@pytest.mark.parametrize(
    "sequence",
    [
        # the written cap of 4 a day: 3 + 2 units, but of two rendering providers (none, then 1222222220)
        [commercial("A", "99601", 3), commercial("B", "99601", 2, "1222222220")],
        # the MUE table's row 96360 (1 a day, MAI 3, cut back): one unit each
        [commercial("A", "96360", 1), commercial("B", "96360", 1, "1222222220")],
    ],
)
def test_an_earlier_line_without_a_rendering_provider_is_not_this_claims_providers(
    scoped: Path, sequence: ClaimSequence
) -> None:
    model = ReferenceEngine(scoped_engines(scoped)[1], history=ReferenceHistory())
    assert [model.check(claim).lines[0].status for claim in sequence] == ["paid", "paid"]
    assert_agree_in_order(*scoped_engines(scoped), sequence)


def service(number: int, code: str, units: int = 1, *modifiers: str, **fields: Any) -> dict[str, Any]:
    """A line of a scoped claim, on 2025-03-02 unless `fields` give its `date` (and any `date_to`, ...)."""
    return {"line": number, "code": code, "units": units, "modifiers": list(modifiers), "date": "2025-03-02",
            **fields}


def home(claim_id: str, *services: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """A commercial claim of member M-1 from the usual billing provider."""
    return {"claim_id": claim_id, "plan": "commercial", "member_id": "M-1", "billing_provider": "1234567893",
            "lines": list(services), **fields}


def assert_statuses(scoped: Path, sequence: ClaimSequence, statuses: list[list[str]]) -> None:
    """Each claim's line statuses in order, as the reference gives them; and both engines agree on everything."""
    model = ReferenceEngine(scoped_engines(scoped)[1], history=ReferenceHistory())
    assert [[line.status for line in model.check(claim).lines] for claim in sequence] == statuses
    assert_agree_in_order(*scoped_engines(scoped), sequence)


# `bundle`, `sequence` and `when` look at the claim alone, a written `pair` on the same day across claims too
# (docs/tables.md section 6); what they deny on one claim stands for nothing on later ones, and what they send to
# review stands (docs/language.md section 4.1: a line sent to review still stands).
@pytest.mark.parametrize(
    ("sequence", "statuses"),
    [
        pytest.param(
            # A's visit is bundled into its per diem, so B's 99602 has no primary; C's visit is not bundled into
            # A's per diem (another claim) and supports D's 99602.
            [home("A", service(1, "S9500"), service(2, "99601")), home("B", service(1, "99602")),
             home("C", service(1, "99601")), home("D", service(1, "99602"))],
            [["paid", "denied"], ["denied"], ["paid"], ["paid"]],
            id="bundle",
        ),
        pytest.param(
            # A's push pairs its 96365 away, so B's 96366 has no primary; C's 96365, another nurse's (out of the
            # pair's scope, on this claim or any), uses the cap of 2 a day alone (A's denied line uses none), goes
            # to review and supports D's 96366 of the same nurse.
            [home("A", service(1, "96374"), service(2, "96365")), home("B", service(1, "96366")),
             home("C", service(1, "96365", 2), rendering_provider="1222222220"),
             home("D", service(1, "96366"), rendering_provider="1222222220")],
            [["paid", "denied"], ["denied"], ["review"], ["paid"]],
            id="pair",
        ),
        pytest.param(
            # A's push denies B's 96365 from an earlier claim, so C's 96366 has no primary; D's 96365 with XU
            # bypasses the pair and supports E's 96366.
            [home("A", service(1, "96374")), home("B", service(1, "96365")), home("C", service(1, "96366")),
             home("D", service(1, "96365", 1, "XU")), home("E", service(1, "96366"))],
            [["paid"], ["denied"], ["denied"], ["paid"], ["paid"]],
            id="pair-across-claims",
        ),
        pytest.param(
            # The pair does not reach back to A's paid 96365; A resubmitted meets B's push.
            [home("A", service(1, "96365")), home("B", service(1, "96374")), home("A", service(1, "96365"))],
            [["paid"], ["paid"], ["denied"]],
            id="pair-does-not-reach-back",
        ),
        pytest.param(
            # A's 96367 is paired away by a 96366 that does not stand itself (on one claim a pair needs no standing
            # line), so neither supports B's 96368; C's 96366, of another billing provider, stands, denies D's
            # 96367 (a pair of any provider) and supports E's 96368.
            [home("A", service(1, "96366"), service(2, "96367")), home("B", service(1, "96368")),
             home("C", service(1, "96365"), service(2, "96366"), billing_provider="1111111112"),
             home("D", service(1, "96367")), home("E", service(1, "96368"))],
            [["denied", "denied"], ["denied"], ["paid", "paid"], ["denied"], ["paid"]],
            id="pair-of-any-provider",
        ),
        pytest.param(
            # B's SH per diem is the only one on its claim (rank 2nd admits none); A's per diem does not count.
            [home("A", service(1, "S9500")), home("B", service(1, "S9501", 1, "SH")),
             home("C", service(1, "S9500"), service(2, "S9501", 1, "SH"))],
            [["paid"], ["denied"], ["paid", "paid"]],
            id="sequence",
        ),
        pytest.param(
            # A's visit with SH is denied and supports nothing; C's, of the second nurse, is sent to review
            # (the claim's rendering provider is the line's) and supports D's 99602.
            [home("A", service(1, "99601", 1, "SH")), home("B", service(1, "99602")),
             home("C", service(1, "99601"), rendering_provider="1333333330"), home("D", service(1, "99602"))],
            [["denied"], ["denied"], ["review"], ["paid"]],
            id="when",
        ),
    ],
)
def test_written_rules_beside_history_and_what_they_deny_stands_for_nothing_later(
    scoped: Path, sequence: ClaimSequence, statuses: list[list[str]]
) -> None:
    assert_statuses(scoped, sequence, statuses)


# A line billed over a span counts on its first day only (docs/tables.md section 7); claim ids are compared
# exactly, after the claim reader strips them (docs/tables.md section 6: the same id again replaces the claim).
@pytest.mark.parametrize(
    ("sequence", "statuses"),
    [
        pytest.param(
            # 3 visits over two days, then 2 on the second day (paid) and 2 on the first (3 + 2 over the cap of 4)
            [home("A", service(1, "99601", 3, date_to="2025-03-03")),
             home("B", service(1, "99601", 2, date="2025-03-03")), home("C", service(1, "99601", 2))],
            [["paid"], ["paid"], ["reduced"]],
            id="span-cap",
        ),
        pytest.param(
            # an infusion over two days supports an add-on on its first day only
            [home("A", service(1, "96365", date_to="2025-03-03")),
             home("B", service(1, "96366", date="2025-03-03")), home("C", service(1, "96366"))],
            [["paid"], ["denied"], ["paid"]],
            id="span-addon",
        ),
        pytest.param(
            # "a" is not "A" (3 + 2 visits: cut back to 1); "A " is "A" resubmitted with 1 (1 + a's 1 allowed);
            # "a" resubmitted with 3 then fills the cap beside A's 1.
            [home("A", service(1, "99601", 3)), home("a", service(1, "99601", 2)),
             home("A ", service(1, "99601", 1)), home("a", service(1, "99601", 3))],
            [["paid"], ["reduced"], ["paid"], ["paid"]],
            id="claim-ids",
        ),
    ],
)
def test_spans_count_on_their_first_day_and_claim_ids_compare_exactly(
    scoped: Path, sequence: ClaimSequence, statuses: list[list[str]]
) -> None:
    assert_statuses(scoped, sequence, statuses)


class ReversedHistory:
    """A claim history whose store hands earlier lines back in another order (another database, another collation)."""

    def __init__(self, inner: SqliteHistory) -> None:
        self.inner = inner

    def transaction(self) -> contextlib.AbstractContextManager[None]:
        return self.inner.transaction()

    def prior_lines(self, claim: Claim) -> list[PriorLine]:
        return list(reversed(self.inner.prior_lines(claim)))

    def record(self, claim: Claim, result: ClaimResult) -> None:
        self.inner.record(claim, result)


# Found in review: the earlier claim a PTP message names followed the order the store returned lines in.
def test_the_earlier_claim_a_pair_edit_names_does_not_depend_on_the_stores_order(tmp_path: Path) -> None:
    # Claims B and A each hold a column 1 line of 96523 (96360 and 96365); C's 96523 is denied with A's named.
    sequence = [medicare("B", (1, "96360", 1)), medicare("A", (2, "96365", 1)),
                medicare("C", (1, "96523", 1), (2, "36591", 1))]
    named = []
    for index, wrap in enumerate((lambda history: history, ReversedHistory)):
        history = SqliteHistory(tmp_path / f"{index}.db")
        engine = policyc.Engine(NATIONAL.policies, history=wrap(history))
        last = [engine.check(claim) for claim in sequence][-1]
        named.append([f.message for line in last.lines for f in line.findings if "is not paid with" in f.message])
        history.close()
    assert named[0] == named[1]
    assert any("is not paid with 96365 (on an earlier claim)" in message for message in named[0])
