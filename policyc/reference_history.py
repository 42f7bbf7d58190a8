"""The reference interpreter's claim history (docs/tables.md section 6): earlier claims kept in a plain list."""

from __future__ import annotations

import datetime

import attrs

from policyc import ir
from policyc.claims import Claim, Line
from policyc.results import ClaimResult

# Deliberately naive, and sharing nothing with policyc/history.py: every processed claim is kept whole in a
# list, and each question about earlier claims is a walk over that list. Each function should read as its
# paragraph of docs/tables.md section 6 (and the history sentences of section 3).


@attrs.frozen
class EarlierLine:
    """A line of an earlier claim that stood, with what it was paid for and the claim it was billed on."""

    claim_id: str
    billing_provider: str
    rendering_provider: str | None  # the line's own, else its claim's
    line: int  # its number on its own claim
    code: str
    modifiers: tuple[str, ...]
    date: datetime.date
    units: int  # its allowed units, not the units billed


class ReferenceHistory:
    """Every processed claim with its result, in the order they were checked."""

    def __init__(self) -> None:
        self.claims: list[tuple[Claim, ClaimResult]] = []

    def record(self, claim: Claim, result: ClaimResult) -> None:
        """Keep a processed claim; a claim whose id was recorded before replaces it. Rejected claims are not kept."""
        if result.status != "processed":
            return
        self.claims = [(kept, outcome) for kept, outcome in self.claims if kept.claim_id != claim.claim_id]
        self.claims.append((claim, result))

    def earlier_lines(self, claim: Claim) -> list[EarlierLine]:
        """The lines that stood on the member's other claims under the same plan, on the claim's dates of service.

        A resubmitted claim's own earlier lines are not counted against it. Which provider's lines count is
        the rule's scope's business (`beside`).
        """
        days = {line.date for line in claim.lines}
        found = []
        for kept, outcome in self.claims:
            if kept.claim_id == claim.claim_id or kept.member_id != claim.member_id or kept.plan != claim.plan:
                continue
            for line in kept.lines:
                paid = outcome.line(line.line)
                if line.date not in days or paid.status == "denied" or paid.allowed_units <= 0:
                    continue
                found.append(EarlierLine(
                    kept.claim_id, kept.billing_provider, line.rendering_provider or kept.rendering_provider,
                    line.line, line.code, line.modifiers, line.date, paid.allowed_units,
                ))
        return found


def looks_across(body: ir.BodyIR) -> bool:
    """Per-day caps (`limit ... per day`, MUE tables), add-ons (rules and tables) and PTP edits (`pair` rules and
    tables) on the same day."""
    across = (ir.LimitIR, ir.AddonIR, ir.PairIR, ir.TableLimitIR, ir.TableAddonIR, ir.TablePairIR)
    return isinstance(body, across) and body.scope.extent == "day"


def beside(scope: ir.ScopeIR, claim: Claim, line: Line, earlier: EarlierLine) -> bool:
    """Whether a cross-claim rule's scope puts an earlier claim's line with a line of this claim.

    The same date of service; for `by the same provider` the same billing provider; for `by the same
    rendering provider` the same rendering provider (each line's own, else its claim's); otherwise any provider.
    """
    if earlier.date != line.date:
        return False
    if scope.provider == "billing":
        return earlier.billing_provider == claim.billing_provider
    if scope.provider == "rendering":
        return earlier.rendering_provider == (line.rendering_provider or claim.rendering_provider)
    return True
