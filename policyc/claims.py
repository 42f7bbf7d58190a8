"""The claim model, and the validation of one claim decoded from JSON into a claim or its every problem."""

from __future__ import annotations

import datetime
import difflib
import math
import re
import sys
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import TypeVar

import attrs

from policyc.codes import CODE_SHAPE_HELP, MODIFIER_SHAPE_HELP, code_shape, is_modifier

MAX_MODIFIERS = 4
CLAIM_TYPES = ("professional", "institutional")
MEMBER_SEXES = ("F", "M", "U")

# `[0-9]` rather than `\d`: `\d` also matches other scripts' digits, which no payer system sends.
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_PLACE_OF_SERVICE = re.compile(r"[0-9]{2}")
_AMOUNT = re.compile(r"[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_NEAR_MISS_CUTOFF = 0.8
_SHOWN_LENGTH = 40


@attrs.frozen
class Line:
    """One service line of a claim."""

    line: int  # the line number as given on the claim, unique within it
    # Interned, as the codes of tables are (tables.with_interned_codes): looking a line's code up in a table
    # then compares two pointers rather than two strings held in different places of memory.
    code: str = attrs.field(converter=sys.intern)
    modifiers: tuple[str, ...]
    units: int
    date: datetime.date
    date_to: datetime.date | None = None
    rendering_provider: str | None = None
    place_of_service: str | None = None
    charge: Decimal | None = None
    ndc: str | None = None

    def to_dict(self) -> dict[str, object]:
        """The line in the interchange JSON shape, every key present."""
        return {
            "line": self.line,
            "code": self.code,
            "modifiers": list(self.modifiers),
            "units": self.units,
            "date": self.date.isoformat(),
            "date_to": self.date_to.isoformat() if self.date_to is not None else None,
            "rendering_provider": self.rendering_provider,
            "place_of_service": self.place_of_service,
            # A string keeps the amount's digits exactly; a JSON number would pass through a float in most readers.
            "charge": None if self.charge is None else str(self.charge),
            "ndc": self.ndc,
        }


@attrs.frozen
class Claim:
    """A validated claim: a member's services billed together by one provider."""

    claim_id: str
    claim_type: str  # "professional" or "institutional"
    plan: str  # lower case
    member_id: str
    billing_provider: str
    lines: tuple[Line, ...]
    member_birth_date: datetime.date | None = None
    member_sex: str | None = None  # "F", "M" or "U"
    rendering_provider: str | None = None
    place_of_service: str | None = None
    diagnoses: tuple[str, ...] = ()

    def line_by_number(self, number: int) -> Line:
        """The line numbered `number` on the claim; KeyError when there is none."""
        for line in self.lines:
            if line.line == number:
                return line
        raise KeyError(f"claim `{self.claim_id}` has no line {number}")

    def to_dict(self) -> dict[str, object]:
        """The claim in the interchange JSON shape, every key present; `parse_claim` reads it back unchanged."""
        return {
            "claim_id": self.claim_id,
            "claim_type": self.claim_type,
            "plan": self.plan,
            "member_id": self.member_id,
            "billing_provider": self.billing_provider,
            "member_birth_date": self.member_birth_date.isoformat()
            if self.member_birth_date is not None
            else None,
            "member_sex": self.member_sex,
            "rendering_provider": self.rendering_provider,
            "place_of_service": self.place_of_service,
            "diagnoses": list(self.diagnoses),
            "lines": [line.to_dict() for line in self.lines],
        }


CLAIM_FIELDS = tuple(a.name for a in attrs.fields(Claim))
LINE_FIELDS = tuple(a.name for a in attrs.fields(Line))


@attrs.frozen
class ClaimError:
    """One problem with a claim: where (`lines[0].units`, or "" for the record as a whole) and why."""

    field: str
    reason: str


@attrs.frozen
class Rejection:
    """A record that is no valid claim, with every problem found in it."""

    claim_id: str | None  # None when no claim_id could be read as a string
    errors: tuple[ClaimError, ...]

    def describe(self) -> str:
        """A heading naming the claim, then one indented line per problem."""
        name = (
            f"claim `{self.claim_id}`" if self.claim_id is not None else "a claim without a readable claim_id"
        )
        problems = [f"  {e.field}: {e.reason}" if e.field else f"  {e.reason}" for e in self.errors]
        return "\n".join([f"{name} was rejected:", *problems])


class ClaimRejected(ValueError):
    """A mapping given to `claim_from_mapping` is no valid claim; `.rejection` says why."""

    def __init__(self, rejection: Rejection) -> None:
        super().__init__(rejection)
        self.rejection = rejection

    def __str__(self) -> str:
        return self.rejection.describe()


def claim_from_mapping(data: Mapping[str, object]) -> Claim:
    """The claim `data` holds; raises ClaimRejected listing every problem when it is not valid."""
    parsed = parse_claim(data)
    if isinstance(parsed, Rejection):
        raise ClaimRejected(parsed)
    return parsed


def parse_claim(data: object) -> Claim | Rejection:
    """Validate one decoded JSON claim: the claim, or a rejection with every problem found in it."""
    if not isinstance(data, Mapping):
        return Rejection(None, (ClaimError("", f"a claim must be a JSON object, got {_kind(data)}"),))
    errors: list[ClaimError] = []
    field = _Fields(data, "", errors)
    claim_id = field("claim_id", _string, required=True)
    claim_type = field("claim_type", _one_of(CLAIM_TYPES))
    plan = field("plan", _plan, required=True)
    member_id = field("member_id", _string, required=True)
    billing_provider = field("billing_provider", _string, required=True)
    birth_date = field("member_birth_date", _date)
    sex = field("member_sex", _one_of(MEMBER_SEXES))
    rendering = field("rendering_provider", _string)
    place = field("place_of_service", _place_of_service)
    diagnoses = field("diagnoses", _diagnoses)
    lines = field("lines", _lines, required=True)
    _near_misses(data, CLAIM_FIELDS, "", errors)
    if (
        errors
        or claim_id is None
        or plan is None
        or member_id is None
        or billing_provider is None
        or lines is None
    ):
        return Rejection(claim_id, tuple(errors))
    return Claim(
        claim_id,
        claim_type or "professional",
        plan,
        member_id,
        billing_provider,
        lines,
        birth_date,
        sex,
        rendering,
        place,
        diagnoses or (),
    )


T = TypeVar("T")
Check = Callable[[object, str, list[ClaimError]], T | None]


@attrs.frozen
class _Fields:
    """Reads the fields of one JSON object, adding each problem to `errors` under its path."""

    data: Mapping[str, object]
    prefix: str
    errors: list[ClaimError]

    def __call__(self, key: str, check: Check[T], required: bool = False) -> T | None:
        path = self.prefix + key
        value = self.data.get(key)
        if value is None:
            if required:
                self.errors.append(ClaimError(path, "is required"))
            return None
        # Exports from spreadsheets write an empty cell as ""; for an optional field that means absent.
        if not required and isinstance(value, str) and not value.strip():
            return None
        return check(value, path, self.errors)


def _line(raw: object, path: str, errors: list[ClaimError]) -> Line | None:
    if not isinstance(raw, Mapping):
        errors.append(ClaimError(path, f"a line must be a JSON object, got {_kind(raw)}"))
        return None
    before = len(errors)
    field = _Fields(raw, path + ".", errors)
    number = field("line", _positive_int, required=True)
    code = field("code", _code, required=True)
    modifiers = field("modifiers", _modifiers)
    units = field("units", _positive_int, required=True)
    date = field("date", _date, required=True)
    date_to = field("date_to", _date)
    rendering = field("rendering_provider", _string)
    place = field("place_of_service", _place_of_service)
    charge = field("charge", _charge)
    ndc = field("ndc", _string)
    if date is not None and date_to is not None and date_to < date:
        reason = f"must not be before the line's date {date.isoformat()}, got '{date_to.isoformat()}'"
        errors.append(ClaimError(f"{path}.date_to", reason))
    _near_misses(raw, LINE_FIELDS, path + ".", errors)
    if number is None or code is None or units is None or date is None or len(errors) > before:
        return None
    return Line(number, code, modifiers or (), units, date, date_to, rendering, place, charge, ndc)


def _lines(value: object, path: str, errors: list[ClaimError]) -> tuple[Line, ...] | None:
    if not isinstance(value, (list, tuple)):
        _wrong(errors, path, "an array of lines", value)
        return None
    if not value:
        errors.append(ClaimError(path, "must hold at least one line"))
        return None
    lines: list[Line] = []
    first_use: dict[int, int] = {}
    for index, raw in enumerate(value):
        line = _line(raw, f"{path}[{index}]", errors)
        if line is not None:
            lines.append(line)
        # Check numbers even on lines with other problems, so that one pass reports everything.
        number = _positive_int(raw.get("line"), "", []) if isinstance(raw, Mapping) else None
        if number is None:
            continue
        if number in first_use:
            reason = f"line number {_shown(number)} is already used by {path}[{first_use[number]}]"
            errors.append(ClaimError(f"{path}[{index}].line", reason))
        else:
            first_use[number] = index
    return tuple(lines) if len(lines) == len(value) else None


def _near_misses(
    data: Mapping[str, object], known: tuple[str, ...], prefix: str, errors: list[ClaimError]
) -> None:
    """Report unknown keys that look like a misspelt known one: ignored, they would silently drop data."""
    for key in data:
        if not isinstance(key, str) or key in known:
            continue
        match = difflib.get_close_matches(key.lower(), known, n=1, cutoff=_NEAR_MISS_CUTOFF)
        if match:
            errors.append(ClaimError(prefix + key, f"unknown field `{key}`; did you mean `{match[0]}`?"))


def _string(value: object, path: str, errors: list[ClaimError]) -> str | None:
    if not isinstance(value, str):
        _wrong(errors, path, "a string", value)
        return None
    text = value.strip()
    if not text:
        errors.append(ClaimError(path, "must not be empty"))
        return None
    return text


def _plan(value: object, path: str, errors: list[ClaimError]) -> str | None:
    text = _string(value, path, errors)
    return text.lower() if text is not None else None


def _one_of(choices: tuple[str, ...]) -> Check[str]:
    def check(value: object, path: str, errors: list[ClaimError]) -> str | None:
        text = _string(value, path, errors)
        if text is None or text in choices:
            return text
        listed = ", ".join(f"'{choice}'" for choice in choices)
        errors.append(ClaimError(path, f"must be one of {listed}, got {_shown(text)}"))
        return None

    return check


def _code(value: object, path: str, errors: list[ClaimError]) -> str | None:
    text = _string(value, path, errors)
    if text is None:
        return None
    # Upper-casing some non-ASCII letters yields ASCII ("ﬀ" -> "FF"), so check ASCII first.
    if text.isascii() and code_shape(text.upper()) is not None:
        return text.upper()
    reason = f"must be a CPT or HCPCS Level II code, got {_shown(text)}: {CODE_SHAPE_HELP}"
    errors.append(ClaimError(path, reason))
    return None


def _modifier(value: object, path: str, errors: list[ClaimError]) -> str | None:
    text = _string(value, path, errors)
    if text is None:
        return None
    if text.isascii() and is_modifier(text.upper()):
        return text.upper()
    errors.append(ClaimError(path, f"must be a modifier, got {_shown(text)}: {MODIFIER_SHAPE_HELP}"))
    return None


def _modifiers(value: object, path: str, errors: list[ClaimError]) -> tuple[str, ...] | None:
    if not isinstance(value, (list, tuple)):
        _wrong(errors, path, "an array of modifiers", value)
        return None
    valid = len(value) <= MAX_MODIFIERS
    if not valid:
        errors.append(ClaimError(path, f"at most {MAX_MODIFIERS} modifiers per line, got {len(value)}"))
    modifiers = [_modifier(item, f"{path}[{index}]", errors) for index, item in enumerate(value)]
    checked = tuple(m for m in modifiers if m is not None)
    return checked if valid and len(checked) == len(value) else None


def _diagnoses(value: object, path: str, errors: list[ClaimError]) -> tuple[str, ...] | None:
    if not isinstance(value, (list, tuple)):
        _wrong(errors, path, "an array of diagnosis codes", value)
        return None
    diagnoses = [_string(item, f"{path}[{index}]", errors) for index, item in enumerate(value)]
    checked = tuple(d for d in diagnoses if d is not None)
    return checked if len(checked) == len(value) else None


# The largest line number or count of units: 15 digits, as wide as an X12 837 quantity (SV104) gets, and well
# inside the 64-bit integers a history database stores (a larger one stopped a batch writing its history).
MOST_WHOLE = 999_999_999_999_999


def _positive_int(value: object, path: str, errors: list[ClaimError]) -> int | None:
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        _wrong(errors, path, "a positive whole number", value)
        return None
    if isinstance(value, int):
        if 0 < value <= MOST_WHOLE:
            return int(value)
        if value > MOST_WHOLE:
            reason = f"must be at most {MOST_WHOLE:,} (15 digits), got {_shown(value)}"
        else:
            reason = f"must be a positive whole number, got {_shown(value)}"
    elif _is_whole(value) and value > 0:
        # JSON has one number type, but `2.0` for a count of units is more likely a price or a bug than a count.
        reason = f"must be a positive whole number without a decimal point, got {_shown(value)}"
    else:
        reason = f"must be a positive whole number, got {_shown(value)}"
    errors.append(ClaimError(path, reason))
    return None


def _is_whole(value: float | Decimal) -> bool:
    if isinstance(value, float):
        return math.isfinite(value) and value.is_integer()
    return value.is_finite() and value == value.to_integral_value()


def _date(value: object, path: str, errors: list[ClaimError]) -> datetime.date | None:
    # Not stripped: a date is machine-written, and `fromisoformat` alone also takes forms like 20260101.
    if isinstance(value, str) and _ISO_DATE.fullmatch(value):
        try:
            return datetime.date.fromisoformat(value)
        except ValueError:
            pass
    shown = _shown(value) if isinstance(value, str) else _kind(value)  # `got 20260105` would hide the type
    errors.append(ClaimError(path, f"must be a date as yyyy-mm-dd, got {shown}"))
    return None


def _place_of_service(value: object, path: str, errors: list[ClaimError]) -> str | None:
    # A number is a code whose leading zero a spreadsheet dropped: 2 is telehealth "02".
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 99:
        return f"{value:02d}"
    if isinstance(value, str) and _PLACE_OF_SERVICE.fullmatch(value.strip()):
        return value.strip()
    shown = _described(value)
    errors.append(ClaimError(path, f"must be a 2-digit place of service code like '11', got {shown}"))
    return None


def _charge(value: object, path: str, errors: list[ClaimError]) -> Decimal | None:
    amount = _amount(value)
    if amount is not None and amount >= 0:
        return amount.copy_abs()  # turns -0 into 0, which `to_dict` must write as an amount we read back
    text = value.strip() if isinstance(value, str) else None
    negative = (amount is not None) or (
        text is not None and text[:1] == "-" and _amount(text[1:]) is not None
    )
    shown = _described(value)
    reason = "must not be negative" if negative else "must be an amount like '180.00'"
    errors.append(ClaimError(path, f"{reason}, got {shown}"))
    return None


def _amount(value: object) -> Decimal | None:
    """The finite amount `value` writes, or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        # str() gives the shortest text that round-trips, so 180.1 becomes 180.1 and not 180.0999999999999943...
        return Decimal(str(value)) if math.isfinite(value) else None
    if isinstance(value, Decimal):
        return value if value.is_finite() else None
    if isinstance(value, str) and _AMOUNT.fullmatch(value.strip()):
        try:
            return Decimal(value.strip())
        except InvalidOperation:  # an exponent beyond what Decimal can hold
            return None
    return None


def _wrong(errors: list[ClaimError], path: str, expected: str, value: object) -> None:
    errors.append(ClaimError(path, f"must be {expected}, got {_kind(value)}"))


def _kind(value: object) -> str:
    """The JSON name of a value's type, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float, Decimal)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, (list, tuple)):
        return "array"
    return type(value).__name__


def _described(value: object) -> str:
    """A scalar as a message quotes it, anything else by its JSON type."""
    if isinstance(value, (str, int, float, Decimal)) and not isinstance(value, bool):
        return _shown(value)
    return _kind(value)


def _shown(value: str | float | Decimal) -> str:
    """A value as a message quotes it, cut short when long."""
    # str() of an int of over 4300 digits raises, and a huge value would swamp the message anyway.
    if isinstance(value, int) and not -(10**_SHOWN_LENGTH) < value < 10**_SHOWN_LENGTH:
        return f"a number of over {_SHOWN_LENGTH} digits"
    text = value if isinstance(value, str) else str(value)
    if len(text) > _SHOWN_LENGTH:
        text = text[: _SHOWN_LENGTH - 3] + "..."
    return repr(text) if isinstance(value, str) else text
