"""Benchmark policyc against the same national edits by hand, in DuckDB and in two rule engines; prints a table.

    python -m bench.run                    # 1,000,000 lines (about 4 minutes on 2 cores)
    python -m bench.run --lines 100000     # a quicker look

Every figure comes from this run on this machine; nothing is timed against a target, the table is for
reading (the run stops only if two contenders that must agree on the denials do not).
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator

import attrs

import policyc
from bench import baselines
from bench.workload import CMS, QUARTER_START, REPO, ClaimMaker, Tables, read_tables
from policyc.claims import Claim

CHUNK = 20_000
LOAD_SNIPPET = (
    "import time, policyc; t = time.perf_counter(); policyc.load({path!r}); print(time.perf_counter() - t)"
)


@attrs.frozen
class Figure:
    name: str
    lines: int
    seconds: float
    note: str = ""

    @property
    def rate(self) -> float:
        return self.lines / self.seconds if self.seconds else float("inf")


def chunks(tables: Tables, seed: int, total_lines: int) -> Iterator[list[Claim]]:
    """The same claims for every contender, made chunk by chunk so making them is never timed."""
    maker = ClaimMaker(tables, seed)
    batch: list[Claim] = []
    for claim in maker.claims(total_lines):
        batch.append(claim)
        if len(batch) == CHUNK:
            yield batch
            batch = []
    if batch:
        yield batch


Check = Callable[[list[Claim]], Counter[str]]


def timed_passes(
    tables: Tables, seed: int, lines: int, checks: dict[str, Check]
) -> dict[str, tuple[float, Counter[str]]]:
    """Every contender checks each batch in turn, so a machine that slows down or speeds up during the run
    (a shared machine does) weighs on all of them alike and the ratios hold still."""
    seconds = dict.fromkeys(checks, 0.0)
    denied = {name: Counter[str]() for name in checks}
    for batch in chunks(tables, seed, lines):
        for name, check in checks.items():
            start = time.perf_counter()
            denied[name].update(check(batch))
            seconds[name] += time.perf_counter() - start
    return {name: (seconds[name], denied[name]) for name in checks}


def policyc_denials(engine: policyc.Engine) -> Check:
    def check(batch: list[Claim]) -> Counter[str]:
        denied: Counter[str] = Counter()
        for claim in batch:
            for adjustments in engine.check(claim).denials().values():  # as the hand-written baseline counts
                denied.update(adjustments)
        return denied

    return check


def policyc_records(engine: policyc.Engine) -> Check:
    """As `policyc_denials`, but read through every line's result and findings, so all of them are built."""

    def check(batch: list[Claim]) -> Counter[str]:
        denied: Counter[str] = Counter()
        for claim in batch:
            for line in engine.check(claim).lines:
                if line.findings:
                    denied.update({f.adjustment for f in line.findings if f.action == "deny" and f.adjustment})
        return denied

    return check


def policyc_dicts(engine: policyc.Engine) -> Check:
    """As `policyc_denials`, but every result is turned into its JSON dict, so every message is written out."""

    def check(batch: list[Claim]) -> Counter[str]:
        denied: Counter[str] = Counter()
        for claim in batch:
            for line in engine.check(claim).to_dict()["lines"]:
                if line["findings"]:
                    denied.update({f"{f['group']}-{f['carc']}" for f in line["findings"] if f["action"] == "deny"})
        return denied

    return check


def payer_engine() -> policyc.Engine:
    """The national policies beside the home-infusion policy, its start moved to the benchmark's quarter.

    The policy begins on 2024-10-07, after the quarter of the national MUE table (2024-07-01 to 09-30) that
    the claims fall in; left as it is, none of its rules would be in force on any claim.
    """
    path = REPO / "policies" / "payer" / "home-infusion.pol"
    text = path.read_text(encoding="utf-8").replace("effective 2024-10-07", f"effective {QUARTER_START}")
    assert f"effective {QUARTER_START}" in text, "the home-infusion policy's start has moved"
    return policyc.Engine([*policyc.load(CMS).policies, policyc.compile_text(text, str(path.relative_to(REPO)))])


def load_time(cache_dir: str) -> float:
    """Seconds for `policyc.load` of the national policies in a fresh process (imports not counted)."""
    env = {**os.environ, "POLICYC_CACHE_DIR": cache_dir}
    code = LOAD_SNIPPET.format(path=str(CMS))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True, cwd=REPO)
    return float(out.stdout.strip())


def sample_lines(tables: Tables, seed: int, count: int) -> list[policyc.Line]:
    return [line for batch in chunks(tables, seed, count) for claim in batch for line in claim.lines]


def run(lines: int, seed: int, sample: int) -> None:
    tables = read_tables()
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory() as cache:
        cold, warm = load_time(cache), load_time(cache)
    engine = policyc.load(CMS)
    interned = baselines.interned(tables)
    passes = timed_passes(tables, seed, lines, {
        "policyc": policyc_denials(engine),
        "hand": lambda batch: baselines.handwritten(batch, tables),
        "hand interned": lambda batch: baselines.handwritten(batch, interned),
        "payer": policyc_denials(payer_engine()),
        "dicts": policyc_dicts(engine),
        "records": lambda batch: baselines.handwritten_records(batch, tables),
        "policyc records": policyc_records(engine),
    })
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    (seconds, ours), (hand_seconds, theirs) = passes["policyc"], passes["hand"]
    assert passes["dicts"][1] == ours, "the JSON dicts must hold the same denials"
    assert passes["hand interned"][1] == theirs, "interning the codes must not change the denials"
    assert passes["records"][1] == theirs, "building records must not change the hand-written baseline's denials"
    assert passes["policyc records"][1] == ours, "reading every line's result must hold the same denials"
    figures.append(Figure("policyc (compiled .pol, tables as lookups)", lines, seconds,
                          "denials read with ClaimResult.denials(); line results are built only when read"))
    figures.append(Figure("hand-written Python, dictionaries", lines, hand_seconds))
    hand_interned = Figure("hand-written Python, table codes interned", lines, passes["hand interned"][0],
                           "sys.intern on the dictionaries' codes, as policyc interns its tables' and lines' codes")
    payer_denied = dict(sorted(passes["payer"][1].items()))
    with_payer = Figure("policyc, national tables + home-infusion policy", lines, passes["payer"][0],
                        f"the payer's policy in force from the quarter's start; denials {payer_denied}")
    written = Figure("policyc, every result as its JSON dict", lines, passes["dicts"][0],
                     "findings' messages written out")
    records = Figure("hand-written Python, building policyc's records", lines, passes["records"][0],
                     "the same edits, each claim's outcome built into ClaimResult / LineResult / Finding")
    read_all = Figure("policyc, reading every line's result", lines, passes["policyc records"][0],
                      "every LineResult and Finding built, as `.lines` builds them")
    figures.append(hand_interned)
    figures.append(duckdb_figure(tables, seed, lines))
    figures.append(with_payer)
    figures.append(written)
    figures.append(records)
    figures.append(read_all)
    engines = rule_engine_figures(tables, seed, sample)
    figures.extend(engines)
    print_report(figures, ours, theirs)
    print_ratios(figures[0], figures[1], hand_interned, records, read_all, engines)
    print(f"load MUE + AOC + PTP policies: cold {cold:.2f} s (target < 2), from the cache {warm:.2f} s (target < 0.3)")
    print(f"peak memory of the process after the passes above: {peak_mb:,.0f} MB (target < 1024)")


def duckdb_figure(tables: Tables, seed: int, lines: int) -> Figure:
    path = baselines.temp_csv()
    baselines.write_lines_csv((c for batch in chunks(tables, seed, lines) for c in batch), path)
    start = time.perf_counter()
    con = baselines.duckdb_connection(path)
    loaded = time.perf_counter() - start
    start = time.perf_counter()
    denied = baselines.duckdb_denials(con)
    seconds = time.perf_counter() - start
    note = f"query only; loading the lines and tables took {loaded:.2f} s more; denials {dict(sorted(denied.items()))}"
    return Figure("DuckDB, one SQL query", lines, seconds, note)


def rule_engine_figures(tables: Tables, seed: int, sample: int) -> list[Figure]:
    sampled = sample_lines(tables, seed, sample)
    start = time.perf_counter()
    baselines.rule_engine_mue(sampled, tables)
    rule_engine_seconds = time.perf_counter() - start
    decision = baselines.zen_engine_decision(tables)
    start = time.perf_counter()
    baselines.zen_engine_mue(sampled, decision)
    zen_seconds = time.perf_counter() - start
    note = f"MUE per-line check only, {len(sampled):,} sampled lines; the rate extrapolates"
    return [
        Figure("rule-engine (one rule per MUE row)", len(sampled), rule_engine_seconds, note),
        Figure("zen-engine (MUE as a JDM decision table)", len(sampled), zen_seconds, note),
    ]


def print_report(figures: list[Figure], ours: Counter[str], theirs: Counter[str]) -> None:
    policyc_rate = figures[0].rate
    print(f"{'contender':46} {'lines':>10} {'seconds':>9} {'lines/s':>11} {'policyc is':>12}")
    for figure in figures:
        ratio = policyc_rate / figure.rate
        print(f"{figure.name:46} {figure.lines:>10,} {figure.seconds:>9.2f} {figure.rate:>11,.0f} {ratio:>10.2f}x")
        if figure.note:
            print(f"    {figure.note}")
    agree = "agree" if ours == theirs else "DISAGREE"
    print(f"\ndenied lines by code: policyc {dict(sorted(ours.items()))}, ", end="")
    print(f"hand-written {dict(sorted(theirs.items()))} ({agree})")


def print_ratios(
    ours: Figure, hand: Figure, hand_interned: Figure, records: Figure, read_all: Figure, engines: list[Figure]
) -> None:
    print(f"policyc / hand-written time: {ours.seconds / hand.seconds:.2f} (target <= 1.5)")
    print(f"policyc / hand-written time, the baseline's codes interned too: {ours.seconds / hand_interned.seconds:.2f}")
    print(f"policyc / hand-written time, both building result records: {read_all.seconds / records.seconds:.2f}")
    for figure in engines:
        print(f"{figure.name}: policyc is {ours.rate / figure.rate:,.0f}x faster (target >= 100)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=1_000_000, help="claim lines to generate (default 1,000,000)")
    parser.add_argument("--seed", type=int, default=2024, help="seed of the claim generator")
    parser.add_argument("--sample", type=int, default=300, help="lines run through the rule engines")
    args = parser.parse_args()
    run(args.lines, args.seed, args.sample)


if __name__ == "__main__":
    main()
