"""The claim and line fields a `when` condition may read, their kinds and how each engine reads them."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING

import attrs

if TYPE_CHECKING:
    from policyc.claims import Claim, Line


FieldValue = int | str | datetime.date | Decimal | None


@attrs.frozen
class Field:
    """A readable field: `kind` is what it may be compared with, `expr` its generated Python."""

    name: str
    kind: str  # "code", "number", "string" or "date"
    expr: str
    read: Callable[[Claim, Line], FieldValue]


def member_age(claim: Claim, line: Line) -> int | None:
    """The member's age in whole years on the line's date of service."""
    born = claim.member_birth_date
    if born is None:
        return None
    on = line.date
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


FIELDS: dict[str, Field] = {
    f.name: f
    for f in (
        Field("line.code", "code", "line.code", lambda c, l: l.code),
        Field("line.units", "number", "line.units", lambda c, l: l.units),
        Field("line.date", "date", "line.date", lambda c, l: l.date),
        Field("line.charge", "number", "line.charge", lambda c, l: l.charge),
        Field(
            "line.place_of_service",
            "string",
            "(line.place_of_service or claim.place_of_service)",
            lambda c, l: l.place_of_service or c.place_of_service,
        ),
        Field(
            "line.rendering_provider",
            "string",
            "(line.rendering_provider or claim.rendering_provider)",
            lambda c, l: l.rendering_provider or c.rendering_provider,
        ),
        Field("line.ndc", "string", "line.ndc", lambda c, l: l.ndc),
        Field("claim.plan", "string", "claim.plan", lambda c, l: c.plan),
        Field("claim.type", "string", "claim.claim_type", lambda c, l: c.claim_type),
        Field("claim.place_of_service", "string", "claim.place_of_service", lambda c, l: c.place_of_service),
        Field("claim.billing_provider", "string", "claim.billing_provider", lambda c, l: c.billing_provider),
        Field("member.age", "number", "rt.member_age(claim, line)", member_age),
        Field("member.sex", "string", "claim.member_sex", lambda c, l: c.member_sex),
    )
}
