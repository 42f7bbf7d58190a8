"""Results for a person: a table per run and a one-line summary of what happened."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator

from rich.console import Console
from rich.table import Table
from rich.text import Text

from policyc.results import ClaimResult, Finding

STATUS_STYLE = {
    "paid": "green", "denied": "bold red", "reduced": "yellow", "review": "cyan", "rejected": "bold magenta",
}


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
        by_status = "".join(
            f", {self.lines[s]} {s}" for s in ("paid", "denied", "reduced", "review") if self.lines[s]
        )
        rejected = f" ({self.claims['rejected']} rejected)" if self.claims["rejected"] else ""
        return f"checked {_count(claims, 'claim')}{rejected}: {_count(lines, 'line')}{by_status}"


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


class PipeConsole(Console):
    """A console that ends quietly when its reader goes away (`policyc check ... | head`)."""

    def on_broken_pipe(self) -> None:
        # Rich exits with status 1 here, which policyc keeps for policies that fail to compile.
        raise BrokenPipeError


def print_table(results: Iterable[ClaimResult], summary: Summary, console: Console | None = None) -> None:
    """A small table per claim: one row per line, each finding's codes, rule and message in the last column."""
    console = console or PipeConsole()
    for result in results:
        title = Text.assemble(("claim ", "bold"), (printable(result.claim_id or "(no claim_id)"), "bold"), "  ")
        title.append_text(_styled(result.status))
        if result.status == "rejected":
            console.print(title)
            for error in result.errors:
                # Claim text is data, never markup: `[red]` in a rejected code is shown as written.
                console.print(Text(printable(f"  {error.field or '(claim)'}: {error.reason}")), highlight=False)
            console.print()
            continue
        table = Table(title=title, title_justify="left", header_style="bold", expand=False)
        for column in ("line", "code", "units", "allowed", "status"):
            table.add_column(column, no_wrap=True)
        table.add_column("findings", overflow="fold", min_width=30)
        for line in result.lines:
            table.add_row(
                str(line.line), Text(printable(line.code)), str(line.units), str(line.allowed_units),
                _styled(line.status),
                _findings_text(line.findings),
            )
        console.print(table)
    console.print(summary.line(), highlight=False)


def _findings_text(findings: Iterable[Finding]) -> Text:
    text = Text()
    for index, finding in enumerate(findings):
        if index:
            text.append("\n")
        codes = " ".join(filter(None, [finding.adjustment, *finding.rarc]))
        text.append(f"{codes} " if codes else "", style="bold")
        text.append(finding.rule, style="dim")
        text.append(f"\n{printable(finding.message)}")
    return text


def printable(text: str) -> str:
    """Text a terminal can show: a lone surrogate from a JSON escape (`\\ud800`) becomes a replacement mark."""
    return text.encode("utf-8", "replace").decode("utf-8")


def _styled(status: str) -> Text:
    return Text(status, style=STATUS_STYLE.get(status, ""))
