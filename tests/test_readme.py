"""The README's two set-up commands are the ones a new user and CI actually run."""

from __future__ import annotations

import re

from conftest import REPO


def readme_commands() -> list[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    return re.findall(r"```sh\n(.+?)\n```", text, flags=re.DOTALL)[:2]


def test_readme_opens_with_the_check_and_the_test_command() -> None:
    check, test = readme_commands()
    assert "policyc check" in check and "examples/claims.json" in check
    assert test.rstrip().endswith("pytest")


def test_ci_runs_the_readme_test_command_exactly() -> None:
    _, test = readme_commands()
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert test in ci.splitlines()
