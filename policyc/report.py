"""Results for a person: a table per run and a one-line summary of what happened."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator

from rich.console import Console
from rich.table import Table
from rich.text import Text

from policyc.results import ClaimResult

STATUS_STYLE = {"paid": "green", "denied": "bold red", "reduced": "yellow", "review": "cyan", "rejected": "bold magenta"}


class Summary:
    """Counts claims and lines by status while results stream past."""

    def __init__(self) -> None:
        self.claims: Counter[str] = Counter()
        self.lines: Counter[str] = Counter()

    def count(self, results: Iterable[ClaimResult]) -> Iterator[ClaimResult]:
        for result in results:
            self.claims[result.status] += 1
            self.lines.update(line.status for line in result.lines)
            yield result

    def line(self) -> str:
        claims = sum(self.claims.values())
        lines = sum(self.lines.values())
        by_status = ", ".join(f"{self.lines[s]} {s}" for s in ("paid", "denied", "reduced", "review") if self.lines[s])
        rejected = f" ({self.claims['rejected']} rejected)" if self.claims["rejected"] else ""
        return f"checked {claims} claim{'s' if claims != 1 else ''}{rejected}: {lines} lines" + (
            f", {by_status}" if by_status else ""
        )


def print_table(results: Iterable[ClaimResult], summary: Summary, console: Console | None = None) -> None:
    """One table row per finding (or per line without findings), rejected claims with their reasons."""
    console = console or Console(soft_wrap=False)
    table = Table(show_lines=False, header_style="bold")
    for column in ("claim", "line", "code", "units", "allowed", "status", "adjustment", "rule", "message"):
        table.add_column(column, overflow="fold")
    for result in results:
        if result.status == "rejected":
            for error in result.errors:
                table.add_row(
                    result.claim_id or "?", "", "", "", "", _styled("rejected"), "", error.field or "(claim)",
                    error.reason,
                )
            continue
        for line in result.lines:
            first = (result.claim_id or "?", str(line.line), line.code, str(line.units), str(line.allowed_units))
            if not line.findings:
                table.add_row(*first, _styled(line.status), "", "", "")
            for index, finding in enumerate(line.findings):
                cells = first if index == 0 else ("", "", "", "", "")
                adjustment = " ".join(filter(None, [finding.adjustment, *finding.rarc]))
                status = _styled(line.status) if index == 0 else Text("")
                table.add_row(*cells, status, adjustment, finding.rule, finding.message)
    console.print(table)
    console.print(summary.line())


def _styled(status: str) -> Text:
    return Text(status, style=STATUS_STYLE.get(status, ""))
