"""policyc: compile payer billing policies (`.pol` files) to Python claim edits and check claims with them."""

from __future__ import annotations

import os

from policyc.claims import Claim, ClaimError, Line, Rejection, parse_claim
from policyc.compiler import compile_paths, compile_text
from policyc.diagnostics import Diagnostic, PolicyError
from policyc.engine import Engine
from policyc.results import ClaimResult, Finding, LineResult
from policyc.runtime import CompiledPolicy, CompiledRule

__all__ = [
    "Claim",
    "ClaimError",
    "ClaimResult",
    "CompiledPolicy",
    "CompiledRule",
    "Diagnostic",
    "Engine",
    "Finding",
    "Line",
    "LineResult",
    "PolicyError",
    "Rejection",
    "compile_text",
    "load",
    "parse_claim",
]

__version__ = "0.1.0"


def load(*paths: str | os.PathLike[str]) -> Engine:
    """Compile the `.pol` files and directories (searched recursively) into an engine.

    Raises PolicyError holding every diagnostic of every file that fails to compile.
    """
    return Engine(compile_paths(paths))
