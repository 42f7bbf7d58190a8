"""The `policyc` command: compile policies and check claims with them."""

from __future__ import annotations

import importlib
import itertools
import json
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

import click

from policyc import report
from policyc.claimfile import ClaimFileError, ClaimRecord, read_claims
from policyc.compiler import compile_paths, find_policy_files, read_source, to_python
from policyc.diagnostics import PolicyError
from policyc.engine import Engine
from policyc.history import HistoryError, SqliteHistory
from policyc.results import ClaimResult

EXIT_OK, EXIT_POLICY_ERROR, EXIT_USAGE = 0, 1, 2


# Commands that live in their own modules, imported only when used so `policyc check` starts fast.
LAZY_COMMANDS = {
    "fmt": "policyc.formatter:fmt_command",
    "lint": "policyc.lint:lint_command",
    "test": "policyc.testrunner:test_command",
    "diff": "policyc.policydiff:diff_command",
    "explain": "policyc.explain:explain_command",
    "fuzz": "policyc.fuzz:fuzz_command",
    "lsp": "policyc.lsp:lsp_command",
}


class PolicycGroup(click.Group):
    """A group that loads its larger commands lazily and turns any unexpected exception into a short message."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *LAZY_COMMANDS])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = LAZY_COMMANDS.get(cmd_name)
        if target is None:
            return super().get_command(ctx, cmd_name)
        module_name, attribute = target.split(":")
        command: click.Command = getattr(importlib.import_module(module_name), attribute)
        return command

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.exceptions.Abort):
            raise
        except PolicyError as error:
            click.echo(error.render(), err=True)
            ctx.exit(EXIT_POLICY_ERROR)
        except BrokenPipeError:
            # Python would complain again when it flushes stdout at exit; point stdout at nothing first.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            ctx.exit(EXIT_OK)
        except Exception as error:  # noqa: BLE001 - the last line of defence for the user's terminal
            click.echo(f"policyc: internal error: {type(error).__name__}: {error}", err=True)
            click.echo("please report this with the command and input that caused it", err=True)
            ctx.exit(3)


@click.group(cls=PolicycGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="policyc")
def main() -> None:
    """Compile payer billing policies (.pol files) and check claims against them."""


def policy_files(paths: Sequence[str]) -> list[Path]:
    """The .pol files to compile; a path that does not exist or holds none is a usage error."""
    missing = [path for path in paths if not Path(path).exists()]
    if missing:
        raise click.UsageError(f"no such file or directory: {', '.join(missing)}")
    files = find_policy_files(paths)
    if not files:
        raise click.UsageError(f"no .pol files found under {', '.join(paths)}")
    return files


def load_engine(paths: Sequence[str]) -> Engine:
    return Engine(compile_paths(policy_files(paths)))


@main.command()
@click.option(
    "--policy", "-p", "policies", multiple=True, required=True, metavar="PATH",
    help="A .pol file or a directory searched recursively; repeat for more.",
)
@click.option(
    "--format", "-f", "output_format", type=click.Choice(["json", "ndjson", "table"]), default="json",
    show_default=True, help="json: one array; ndjson: one result per line; table: for a person.",
)
@click.option(
    "--history", "history_path", default=None, metavar="PATH.db",
    help="Keep every checked claim in this SQLite file and count earlier claims in per-day edits.",
)
@click.argument("claims", metavar="CLAIMS")
def check(policies: tuple[str, ...], output_format: str, history_path: str | None, claims: str) -> None:
    """Check the claims in CLAIMS (a JSON object, array or NDJSON file; - for stdin).

    Exit status: 0 when the run completed (denials are not errors), 1 when a policy does not
    compile, 2 for bad usage, an unreadable claims file or an unusable history database.
    """
    engine = load_engine(policies)
    try:
        if history_path is not None:
            engine = Engine(engine.policies, history=SqliteHistory(history_path))
        results = engine.check_many(record.parsed for record in read_claims_or_exit(claims))
        summary = report.Summary()
        counted = summary.count(results)
        if output_format == "table":
            report.print_table(counted, summary)
        else:
            write_json(counted, sys.stdout, ndjson=output_format == "ndjson")
            click.echo(summary.line(), err=True)
    except HistoryError as error:
        # Claims checked before the error are recorded; the one being checked was rolled back.
        sys.stdout.flush()
        click.echo(f"policyc: {error}", err=True)
        sys.exit(EXIT_USAGE)


def read_claims_or_exit(path: str) -> Iterator[ClaimRecord]:
    """The claims file's records; a file that cannot be read at all ends the run with exit status 2."""
    records = read_claims(path)
    try:
        # Reading the first record here surfaces an unreadable file before any output is written.
        first = next(records, None)
    except ClaimFileError as error:
        click.echo(f"policyc: {error}", err=True)
        sys.exit(EXIT_USAGE)
    return itertools.chain([first] if first is not None else [], records)


def write_json(results: Iterator[ClaimResult], out: TextIO, ndjson: bool) -> None:
    """Stream results as a JSON array (one claim per line) or as NDJSON, never holding the batch."""
    if ndjson:
        for result in results:
            out.write(json.dumps(result.to_dict()) + "\n")
        return
    out.write("[")
    for index, result in enumerate(results):
        out.write(("\n" if index == 0 else ",\n") + json.dumps(result.to_dict()))
    out.write("\n]\n")


@main.command("compile")
@click.argument("paths", nargs=-1, required=True, metavar="PATH...")
@click.option("--emit", type=click.Choice(["python"]), default=None, help="Print the generated Python.")
def compile_command(paths: tuple[str, ...], emit: str | None) -> None:
    """Compile .pol files (or directories of them) and report every problem found."""
    files = policy_files(paths)
    if emit == "python":
        for path in files:
            click.echo(to_python(read_source(path)), nl=False)
        return
    compiled = compile_paths(files)
    rules = sum(len(policy.rules) for policy in compiled)
    for policy in compiled:
        count = len(policy.rules)
        click.echo(f"{policy.path}: policy `{policy.id}`, {count} rule{'' if count == 1 else 's'}", err=True)
    click.echo(f"compiled {len(compiled)} policies, {rules} rules", err=True)


if __name__ == "__main__":
    main()
