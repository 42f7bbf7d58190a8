"""Shapes of procedure codes and modifiers, and the expansion of code ranges."""

from __future__ import annotations

import re
from enum import Enum

MAX_RANGE_SIZE = 100_000


class CodeShape(Enum):
    """The families of procedure code a line or a `.pol` literal may hold."""

    CPT = "CPT (5 digits)"
    # vaccine administration (A), category II (F), multianalyte assays (M), category III (T), lab analyses (U)
    CPT_SUFFIXED = "CPT with a letter (4 digits and A, F, M, T or U)"
    HCPCS_II = "HCPCS Level II (a letter and 4 digits)"


_SHAPES: tuple[tuple[CodeShape, re.Pattern[str]], ...] = (
    (CodeShape.CPT, re.compile(r"[0-9]{5}")),
    (CodeShape.CPT_SUFFIXED, re.compile(r"[0-9]{4}[AFMTU]")),
    (CodeShape.HCPCS_II, re.compile(r"[A-Z][0-9]{4}")),
)
_MODIFIER = re.compile(r"[A-Z0-9]{2}")

CODE_SHAPE_HELP = (
    "a CPT code has 5 digits (99601) or 4 digits and A, F, M, T or U (0001F, 0002U); "
    "a HCPCS Level II code is a letter and 4 digits (S9325)"
)
MODIFIER_SHAPE_HELP = "a modifier has 2 letters or digits (SH, 59, XU)"


def code_shape(code: str) -> CodeShape | None:
    """The shape of `code`, or None when it is no CPT or HCPCS Level II code."""
    for shape, pattern in _SHAPES:
        if pattern.fullmatch(code):
            return shape
    return None


def is_modifier(text: str) -> bool:
    """Whether `text` has the shape of a modifier."""
    return _MODIFIER.fullmatch(text) is not None


def range_problem(low: str, high: str) -> str | None:
    """Why `low..high` is not a valid code range, or None when it is."""
    low_shape, high_shape = code_shape(low), code_shape(high)
    if low_shape is None or high_shape is None:
        return "malformed"
    # Ranges only make sense inside one family with one fixed letter, so that string order is code order.
    if low_shape is not high_shape or _fixed_letter(low) != _fixed_letter(high):
        return "mixed"
    if low > high:
        return "empty"
    return None


def expand_range(low: str, high: str) -> tuple[str, ...]:
    """Every code from `low` to `high` inclusive; both ends must pass `range_problem`."""
    shape = code_shape(low)
    if shape is CodeShape.CPT:
        return tuple(f"{n:05d}" for n in range(int(low), int(high) + 1))
    if shape is CodeShape.CPT_SUFFIXED:
        return tuple(f"{n:04d}{low[4]}" for n in range(int(low[:4]), int(high[:4]) + 1))
    return tuple(f"{low[0]}{n:04d}" for n in range(int(low[1:]), int(high[1:]) + 1))


def _fixed_letter(code: str) -> str:
    return "".join(ch for ch in code if ch.isalpha())
