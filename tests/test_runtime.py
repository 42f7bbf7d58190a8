"""The runtime generated policies import: messages written when read, cut backs, table verdicts' words."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs
import pytest

import policyc
from policyc import runtime
from policyc.claims import Claim
from policyc.runtime import BoundTable, Message, Verdict, addon_verdicts, cut_back, framed, mue_verdicts, pair_verdicts
from policyc.tables import read_aoc, read_mue, read_ptp

MUE_CSV = b"hcpcs_code,mue_value,mai,mue_rationale\n99213,2,3,Clinical: Data\nA0425,250,1,\n99601,4,2,\n"
AOC_CSV = b"add_on_code,primary_code,aoc_edit_type\n99602,99601,1\n0054T,CCCCC,2\n"
PTP_CSV = (
    b"setting,column_1,column_2,deletion_date,modifier_indicator,ptp_edit_rationale\n"
    b"practitioner,99601,36591,9999-12-31,0,Standards of medical practice\n"
    b"practitioner,96365,96360,9999-12-31,1,\n"
)
BY_PROVIDER = " by the same provider"
SAME_DAY = " on the same day by the same provider"


def counting(calls: list[tuple[object, ...]], text: str = "written") -> Callable[..., str]:
    """A render function that notes each call's facts in `calls` and writes `text`."""

    def render(*facts: object) -> str:
        calls.append(facts)
        return text

    return render


def claim_of(*lines: tuple[str, int] | tuple[str, int, str]) -> Claim:
    """A claim of (code, units[, date]) lines numbered from 1; the date defaults to 2025-03-02."""
    parsed = policyc.parse_claim(
        {
            "claim_id": "C",
            "plan": "medicare",
            "member_id": "M",
            "billing_provider": "1234567893",
            "lines": [
                {"line": i, "code": spec[0], "units": spec[1], "date": spec[2] if len(spec) > 2 else "2025-03-02"}
                for i, spec in enumerate(lines, start=1)
            ],
        }
    )
    assert isinstance(parsed, Claim)
    return parsed


def texts(verdicts: list[Verdict]) -> list[tuple[int, str]]:
    return [(verdict.line, str(verdict.message)) for verdict in verdicts]


@pytest.fixture
def mue() -> BoundTable:
    return BoundTable("mue", "m.csv", read_mue(MUE_CSV, "m.csv"))


# ------------------------------------------------------------------ Message


def test_a_message_is_written_only_when_read_and_only_once() -> None:
    calls: list[tuple[object, ...]] = []
    message = Message(counting(calls, "3 units of 99213"), "99213", 3)
    assert calls == []
    assert str(message) == "3 units of 99213"
    assert calls == [("99213", 3)]
    assert str(message) == "3 units of 99213" and f"{message}" == "3 units of 99213"
    assert calls == [("99213", 3)]


def test_a_message_equals_its_text_either_way_round() -> None:
    message = Message(counting([], "over the MUE"))
    assert message == "over the MUE"
    assert "over the MUE" == message  # noqa: SIM300 (the reflected comparison is the point)
    assert message != "over the MUE."
    assert "under" != message  # noqa: SIM300


def test_two_messages_with_the_same_text_are_equal_however_written() -> None:
    first = Message(counting([], "over the MUE"))
    second = Message("{} the {}".format, "over", "MUE")
    assert first == second
    assert first != Message(counting([], "under the MUE"))


def test_a_message_is_not_equal_to_what_is_not_text() -> None:
    message = Message(counting([], "1"))
    assert message != 1
    assert message != None  # noqa: E711
    assert message != ["1"]


def test_a_message_hashes_like_its_text() -> None:
    message = Message(counting([], "over the MUE"))
    assert hash(message) == hash("over the MUE")
    assert {message, "over the MUE", Message(counting([], "over the MUE"))} == {"over the MUE"}
    assert {"over the MUE": 1}[message] == 1


def test_a_message_reprs_as_its_text() -> None:
    message = Message(counting([], "it's over"))
    assert repr(message) == repr("it's over")
    assert repr([message]) == repr(["it's over"])


# ------------------------------------------------------------------ framed


def test_framing_plain_words_joins_them_at_once() -> None:
    assert framed("Title: ", "words", " (rationale: why)") == "Title: words (rationale: why)"
    assert type(framed("", "words", "")) is str


def test_framing_a_message_keeps_it_unwritten() -> None:
    calls: list[tuple[object, ...]] = []
    words = Message(counting(calls, "words"))
    framed_words = framed("Title: ", words, " (rationale: why)")
    assert isinstance(framed_words, Message)
    assert calls == []
    assert framed_words == "Title: words (rationale: why)"
    assert len(calls) == 1


@pytest.mark.parametrize(("prefix", "suffix"), [("Title: ", ""), ("", " (rationale: why)")])
def test_framing_a_message_with_one_side_only(prefix: str, suffix: str) -> None:
    assert framed(prefix, Message(counting([], "words")), suffix) == prefix + "words" + suffix


def test_framing_a_message_with_nothing_around_it_is_the_message_itself() -> None:
    words = Message(counting([], "words"))
    assert framed("", words, "") is words


# ------------------------------------------------------------------ cut_back


def test_cut_back_with_a_message_reads_as_with_its_text() -> None:
    lines = claim_of(("99601", 3), ("99601", 3), ("99601", 3)).lines
    calls: list[tuple[object, ...]] = []
    lazy = cut_back(lines, 4, Message(counting(calls, "7 units over")), appealable=True)
    plain = cut_back(lines, 4, "7 units over", appealable=True)
    assert calls == []
    assert lazy == plain
    assert [(v.line, v.message, v.allowed_units, v.appealable) for v in lazy] == [
        (2, "7 units over; 1 of 3 units allowed", 1, True),
        (3, "7 units over; 0 of 3 units allowed", 0, True),
    ]
    assert all(isinstance(verdict.message, Message) for verdict in lazy)
    assert len(calls) == 1  # the two verdicts share the one message they were cut from


def test_cut_back_fills_lines_in_line_number_order_whatever_their_order() -> None:
    lines = claim_of(("99601", 2), ("99601", 2), ("99601", 2)).lines
    verdicts = cut_back(list(reversed(lines)), 3, Message(counting([], "over")))
    assert [(v.line, v.allowed_units, str(v.message)) for v in verdicts] == [
        (2, 1, "over; 1 of 2 units allowed"),
        (3, 0, "over; 0 of 2 units allowed"),
    ]


def test_cut_back_under_the_cap_gives_no_verdict_and_writes_nothing() -> None:
    calls: list[tuple[object, ...]] = []
    assert cut_back(claim_of(("99601", 2), ("99601", 2)).lines, 4, Message(counting(calls))) == []
    assert calls == []


# ------------------------------------------------------------------ Verdict


def test_a_verdict_leaves_units_and_appealability_to_the_rule_by_default() -> None:
    verdict = Verdict(3, "no primary")
    assert (verdict.allowed_units, verdict.appealable) == (None, None)
    assert verdict == Verdict(3, "no primary", None, None)
    assert verdict != Verdict(3, "no primary", 0)
    assert verdict != Verdict(4, "no primary")


def test_a_verdict_with_a_message_equals_one_with_its_text() -> None:
    assert Verdict(3, Message(counting([], "no primary")), 0, True) == Verdict(3, "no primary", 0, True)
    assert Verdict(3, Message(counting([], "no primary"))) != Verdict(3, "no primary at all")


def test_a_verdict_can_be_changed_and_evolved() -> None:
    verdict = Verdict(3, Message(counting([], "no primary")))
    noted = attrs.evolve(verdict, message=f"{verdict.message}; replaces a row")
    assert noted == Verdict(3, "no primary; replaces a row")
    verdict.allowed_units = 2
    assert verdict.allowed_units == 2 and noted.allowed_units is None


# ------------------------------------------------------------------ table verdicts: the words as before


def test_an_mue_day_verdict_reads_as_before(mue: BoundTable) -> None:
    claim = claim_of(("99213", 2), ("99213", 1), ("99601", 1))
    verdicts = mue_verdicts(mue, claim.lines, claim, None, BY_PROVIDER)
    said = (
        "3 units of 99213 on 2025-03-02 exceed the MUE of 2 per day by the same provider (MAI 3, date of service"
        " edit: clinical; rationale: Clinical: Data; table m.csv line 2)"
    )
    assert texts(verdicts) == [(1, said), (2, said)]
    assert [verdict.appealable for verdict in verdicts] == [True, True]  # MAI 3
    assert all(isinstance(verdict.message, Message) for verdict in verdicts)


def test_an_mue_day_verdict_counts_earlier_claims_lines(mue: BoundTable) -> None:
    claim = claim_of(("99601", 3))
    earlier = attrs.evolve(claim.lines[0], line=-1, units=2)
    verdicts = mue_verdicts(mue, [*claim.lines, earlier], claim, None, BY_PROVIDER)
    # The earlier line gets a verdict too; the engine records only the claim's own lines' verdicts.
    assert [(v.line, v.appealable) for v in verdicts] == [(1, False), (-1, False)]  # MAI 2
    verdict = verdicts[0]
    assert verdict.message == (
        "5 units of 99601 on 2025-03-02 (2 of them on earlier claims) exceed the MUE of 4 per day by the same"
        " provider (MAI 2, date of service edit: policy; table m.csv line 4)"
    )


def test_an_mue_line_verdict_reads_as_before(mue: BoundTable) -> None:
    claim = claim_of(("A0425", 250), ("A0425", 251))
    assert texts(mue_verdicts(mue, claim.lines, claim, None, BY_PROVIDER)) == [
        (2, "251 units of A0425 on the line exceed the MUE of 250 per line (MAI 1, line edit; table m.csv line 3)")
    ]


def test_an_mue_cut_back_reads_as_before(mue: BoundTable) -> None:
    claim = claim_of(("99213", 2), ("99213", 1), ("A0425", 300))
    verdicts = mue_verdicts(mue, claim.lines, claim, None, BY_PROVIDER, cutting=True)
    assert [(v.line, v.allowed_units) for v in verdicts] == [(3, 250), (2, 0)]
    assert str(verdicts[1].message).endswith("table m.csv line 2); 0 of 1 units allowed")


def test_an_mue_day_message_is_written_once_for_all_its_lines(mue: BoundTable, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[object, ...]] = []
    write = runtime._day_over_text

    def counted(*facts: Any) -> str:
        calls.append(facts)
        return write(*facts)

    monkeypatch.setattr(runtime, "_day_over_text", counted)
    claim = claim_of(("99213", 2), ("99213", 1), ("99213", 1))
    verdicts = mue_verdicts(mue, claim.lines, claim, None, BY_PROVIDER)
    assert len(verdicts) == 3 and calls == []
    assert len({str(verdict.message) for verdict in verdicts}) == 1
    assert len(calls) == 1


def test_an_addon_verdict_reads_as_before() -> None:
    table = BoundTable("addon", "a.csv", read_aoc(AOC_CSV, "a.csv"))
    claim = claim_of(("99602", 1), ("0054T", 1))
    verdicts = addon_verdicts(table, claim.lines, claim, {1, 2}, None, SAME_DAY)
    assert texts(verdicts) == [
        (
            1,
            "add-on 99602 on 2025-03-02 has no payable primary (99601) on the same day by the same provider"
            " (type 1 add-on; table a.csv line 2)",
        )
    ]
    assert isinstance(verdicts[0].message, Message)


def test_a_pair_verdict_reads_as_before() -> None:
    table = BoundTable("pair", "p.csv", read_ptp(PTP_CSV, "p.csv"))
    claim = claim_of(("99601", 1), ("36591", 1), ("96365", 1), ("96360", 1))
    verdicts = pair_verdicts(table, claim.lines, claim, None, SAME_DAY)
    assert texts(verdicts) == [
        (
            2,
            "36591 on 2025-03-02 is not paid with 99601 (line 1) on the same day by the same provider (modifier"
            " indicator 0: no modifier bypasses it; rationale: Standards of medical practice; table p.csv line 2)",
        ),
        (
            4,
            "96360 on 2025-03-02 is not paid with 96365 (line 3) on the same day by the same provider (modifier"
            " indicator 1 and neither line carries an NCCI bypass modifier (59, XE, XS, XP, XU, ...);"
            " table p.csv line 3)",
        ),
    ]
    assert all(isinstance(verdict.message, Message) for verdict in verdicts)


# ------------------------------------------------------------------ scopes


def test_a_line_without_a_rendering_provider_takes_its_claims() -> None:
    claim = attrs.evolve(claim_of(("99601", 1)), rendering_provider="1222222220")
    own = attrs.evolve(claim.lines[0], rendering_provider="1333333330")
    assert runtime.rendering_provider(claim.lines[0], claim) == "1222222220"
    assert runtime.rendering_provider(own, claim) == "1333333330"


def test_an_earlier_claims_line_never_takes_this_claims_rendering_provider() -> None:
    claim = attrs.evolve(claim_of(("99601", 1)), rendering_provider="1222222220")
    earlier = attrs.evolve(claim.lines[0], line=-1)  # as the history hands it over: resolved when recorded
    assert runtime.rendering_provider(earlier, claim) is None
    assert runtime.rendering_provider(attrs.evolve(earlier, rendering_provider="1333333330"), claim) == "1333333330"
