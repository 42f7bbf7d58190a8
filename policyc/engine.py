"""The engine: dispatch each claim line to the rules that mention it, run them, and settle add-ons last."""

from __future__ import annotations

import datetime
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from typing import TYPE_CHECKING

import attrs

from policyc.claims import Claim, Line, Rejection, parse_claim
from policyc.results import ClaimResult, FindingTemplate, Judgement
from policyc.runtime import CompiledPolicy, CompiledRule, Evaluate, Override, TableKey, Verdict, Window
from policyc.tables import AocTable, MueTable, PtpTable, in_force

if TYPE_CHECKING:
    from policyc.history import ClaimHistory

NOTHING_STANDS: frozenset[int] = frozenset()


# How many dates of service (and sets of table rules) a plan index remembers, before it starts afresh.
IN_FORCE_MEMORY = 4096


@attrs.frozen(eq=False)
class TablesInForce:
    """The table rules in force on a date, as `judge_directly` runs them: add-on rules after the others."""

    rules: tuple[CompiledRule, ...]
    # (evaluate, template) of each rule other than an add-on rule: read once here, not once per claim
    firsts: tuple[tuple[Evaluate, FindingTemplate], ...]
    addons: tuple[tuple[CompiledRule, FindingTemplate], ...]
    # bits of the codes on a claim (`PlanIndex.table_bits`) -> these rules less those no code triggers
    triggered: dict[int, TablesInForce] = attrs.field(factory=dict)

    @classmethod
    def of(cls, rules: tuple[CompiledRule, ...], templates: Mapping[CompiledRule, FindingTemplate]) -> TablesInForce:
        return cls(
            rules,
            tuple((rule.evaluate, templates[rule]) for rule in rules if rule.kind != "addon"),
            tuple((rule, templates[rule]) for rule in rules if rule.kind == "addon"),
        )


@attrs.frozen
class PlanIndex:
    """The rules of every policy covering one plan, keyed so a line reaches only the rules that name it."""

    by_code: Mapping[str, tuple[CompiledRule, ...]]
    by_modifier: Mapping[str, tuple[CompiledRule, ...]]
    every_line: tuple[CompiledRule, ...]
    # rule -> what its findings share, worked out once; its verdicts fill in the rest
    finding_templates: Mapping[CompiledRule, FindingTemplate] = attrs.field(factory=dict)
    # The engine's own dispatch: table rules take the whole claim (see `work`), so they are left out here.
    written_by_code: Mapping[str, tuple[CompiledRule, ...]] = attrs.field(factory=dict)
    table_rules: tuple[CompiledRule, ...] = ()
    # table rule -> the codes of the lines it can put a finding on: a claim holding none skips the rule
    table_triggers: Mapping[CompiledRule, frozenset[str]] = attrs.field(factory=dict)
    # The codes a denying add-on rule may accept as a primary (None: it may accept any line)
    primaries: frozenset[str] | None = frozenset()
    # The bits of the rules run on every claim: MUE tables. One lists most codes a claim holds (the national
    # table 14,677), so it is seldom skipped, and its codes would make `table_bits` a dictionary too large to
    # stay in the processor's cache, read once a line.
    always_bits: int = attrs.field(init=False)
    # code -> a bit for each table rule it triggers (bit i: table_rules[i]); OR-ing a claim's codes' bits
    # together, starting from `always_bits`, is the whole trigger test, one dictionary read per line
    table_bits: Mapping[str, int] = attrs.field(init=False)
    # Whether any written rule needs the per-line dispatch (a plan of tables alone skips it)
    has_written: bool = attrs.field(init=False)
    # date of service -> the rules out of force that day (almost always none); filled as dates come
    _out_of_force: dict[datetime.date, frozenset[CompiledRule]] = attrs.field(factory=dict, init=False)
    # bits -> the table rules they stand for, in `table_rules` order; filled as sets of codes come
    _rules_of_bits: dict[int, tuple[CompiledRule, ...]] = attrs.field(factory=dict, init=False)
    # date of service -> the table rules in force that day; dates with the same rules share one record
    _tables_on: dict[datetime.date, TablesInForce] = attrs.field(factory=dict, init=False)
    _tables_alike: dict[tuple[CompiledRule, ...], TablesInForce] = attrs.field(factory=dict, init=False)

    @table_bits.default
    def _code_bits(self) -> dict[str, int]:
        bits: dict[str, int] = {}
        for position, rule in enumerate(self.table_rules):
            if self.always_bits >> position & 1:
                continue
            for code in self.table_triggers[rule]:
                bits[code] = bits.get(code, 0) | 1 << position
        return bits

    @always_bits.default
    def _always_bits(self) -> int:
        return sum(1 << position for position, rule in enumerate(self.table_rules) if rule.kind == "limit")

    @has_written.default
    def _has_written(self) -> bool:
        return bool(self.written_by_code or self.by_modifier or self.every_line)

    @classmethod
    def build(cls, rules: Iterable[CompiledRule]) -> PlanIndex:
        by_code: dict[str, list[CompiledRule]] = {}
        written_by_code: dict[str, list[CompiledRule]] = {}
        by_modifier: dict[str, list[CompiledRule]] = {}
        every_line: list[CompiledRule] = []
        templates: dict[CompiledRule, FindingTemplate] = {}
        for rule in rules:
            templates[rule] = finding_template(rule)
            if rule.dispatch_codes is not None:
                for code in rule.dispatch_codes:
                    by_code.setdefault(code, []).append(rule)
                    if rule.table is None:
                        written_by_code.setdefault(code, []).append(rule)
            elif rule.dispatch_modifiers is not None:
                for modifier in rule.dispatch_modifiers:
                    by_modifier.setdefault(modifier, []).append(rule)
            else:
                every_line.append(rule)
        return cls(
            {code: tuple(rs) for code, rs in by_code.items()},
            {mod: tuple(rs) for mod, rs in by_modifier.items()},
            tuple(every_line),
            templates,
            {code: tuple(rs) for code, rs in written_by_code.items()},
            tuple(rule for rule in templates if rule.table is not None),
            {rule: rule.table.data.judged_codes for rule in templates if rule.table is not None},
            addon_primaries(templates),
        )

    def buckets(self, lines: Sequence[Line]) -> dict[CompiledRule, list[Line]]:
        """For each rule, the claim's lines it should look at (in force on the line's date of service)."""
        return self._dispatch(lines, self.by_code)

    def work(self, lines: Sequence[Line]) -> dict[CompiledRule, Sequence[Line]]:
        """What the engine runs: each rule with the lines to hand it.

        A table rule gets every line in force, not just those whose codes it holds: it looks each line's code
        up in its table anyway, so sorting lines into its bucket first would only do that lookup twice.
        """
        work: dict[CompiledRule, Sequence[Line]] = {}
        if self.has_written:
            work.update(self.written_buckets(lines))
        if not self.table_rules or not lines:
            return work
        # Claims without history seldom come here (`judge_directly` takes them), so this is written plainly.
        bits = self.always_bits
        for line in lines:
            bits |= self.table_bits.get(line.code, 0)
        rules = self._rules_of_bits.get(bits)
        if rules is None:
            rules = self._table_rules_of(bits)
        for rule in rules:
            found = [line for line in lines if rule not in self._off(line.date)]
            if found:
                work[rule] = lines if len(found) == len(lines) else found
        return work

    def tables_in_force(self, lines: Sequence[Line]) -> TablesInForce | None:
        """The table rules in force on the dates of a claim's lines, or None when they differ from date to date.

        Without claim history, these are what `judge_directly` runs over the lines.
        """
        day = lines[0].date
        tables = self._tables_on.get(day)
        if tables is None:
            tables = self._tables_of_day(day)
        code_bits = self.table_bits
        bits = self.always_bits
        for line in lines:  # one loop for codes and dates: each extra pass costs a call on a short claim
            bits |= code_bits.get(line.code, 0)
            if line.date != day:
                other = self._tables_on.get(line.date)
                if other is None:
                    other = self._tables_of_day(line.date)
                if other is not tables:
                    return None
        triggered = tables.triggered.get(bits)
        if triggered is None:
            triggered = self._triggered(tables, bits)
        return triggered

    def _triggered(self, tables: TablesInForce, bits: int) -> TablesInForce:
        """The rules of `tables` whose bits are set: a claim holding none of a rule's codes skips it."""
        if len(tables.triggered) >= IN_FORCE_MEMORY:
            tables.triggered.clear()
        rules = self._table_rules_of(bits)
        found = tables.triggered[bits] = TablesInForce.of(
            tuple(rule for rule in tables.rules if rule in rules), self.finding_templates
        )
        return found

    def _tables_of_day(self, day: datetime.date) -> TablesInForce:
        if len(self._tables_on) >= IN_FORCE_MEMORY:
            self._tables_on.clear()  # threads may race here; at worst a date is worked out twice
        off = self._off(day)
        rules = tuple(rule for rule in self.table_rules if rule not in off)
        tables = self._tables_alike.get(rules)
        if tables is None:
            if len(self._tables_alike) >= IN_FORCE_MEMORY:
                self._tables_alike.clear()
            tables = self._tables_alike[rules] = TablesInForce.of(rules, self.finding_templates)
        self._tables_on[day] = tables
        return tables

    def written_buckets(self, lines: Sequence[Line]) -> dict[CompiledRule, list[Line]]:
        """`buckets` for the written rules alone (table rules take every line: see `work`)."""
        return self._dispatch(lines, self.written_by_code)

    def _dispatch(
        self, lines: Sequence[Line], by_code: Mapping[str, tuple[CompiledRule, ...]]
    ) -> dict[CompiledRule, list[Line]]:
        buckets: dict[CompiledRule, list[Line]] = {}
        plain = not self.by_modifier and not self.every_line
        for line in lines:
            rules = by_code.get(line.code, ()) if plain else self._rules_for(line, by_code)
            off = self._off(line.date)
            for rule in rules:
                if off and rule in off:
                    continue
                bucket = buckets.get(rule)
                if bucket is None:
                    buckets[rule] = [line]
                # A line carrying the same dispatch modifier twice must still enter a bucket once.
                elif bucket[-1] is not line:
                    bucket.append(line)
        return buckets

    def _rules_for(self, line: Line, by_code: Mapping[str, tuple[CompiledRule, ...]]) -> Iterator[CompiledRule]:
        yield from by_code.get(line.code, ())
        for modifier in line.modifiers:
            yield from self.by_modifier.get(modifier, ())
        yield from self.every_line

    def _table_rules_of(self, bits: int) -> tuple[CompiledRule, ...]:
        """The table rules whose bits are set, worked out once per set of rules claims trigger."""
        if len(self._rules_of_bits) >= IN_FORCE_MEMORY:
            self._rules_of_bits.clear()  # a plan of many table rules: their sets could be many
        rules = tuple(rule for position, rule in enumerate(self.table_rules) if bits >> position & 1)
        self._rules_of_bits[bits] = rules
        return rules

    def _off(self, day: datetime.date) -> frozenset[CompiledRule]:
        """The rules out of force on a date: worked out once per date, not once per line and rule."""
        off = self._out_of_force.get(day)
        if off is None:
            if len(self._out_of_force) >= IN_FORCE_MEMORY:
                self._out_of_force.clear()  # threads may race here; at worst a date is worked out twice
            off = self._out_of_force[day] = frozenset(rule for rule in self.finding_templates if not rule.in_force(day))
        return off


class Engine:
    """Compiled policies ready to check claims; immutable after loading, so threads may share one.

    With a `history`, per-day caps and add-ons also count the standing lines of the member's earlier claims,
    and every processed claim is recorded (replacing an earlier claim with the same id), one transaction each.
    """

    def __init__(self, policies: Sequence[CompiledPolicy], history: ClaimHistory | None = None) -> None:
        self.policies = tuple(policies)
        self.history = history
        self._indexes: dict[tuple[str, str], PlanIndex] = {}  # (plan, claim type) -> its index
        self._lock = threading.Lock()
        known = {policy.id for policy in self.policies}
        for policy in self.policies:
            for base in policy.extends:
                if base not in known:
                    raise ValueError(f"policy `{policy.id}` extends `{base}`, which is not loaded")

    def rules(self) -> Iterator[CompiledRule]:
        for policy in self.policies:
            yield from policy.rules

    def index_for(self, plan: str, claim_type: str = "professional") -> PlanIndex:
        """The dispatch index for a plan and a claim type, built on first use.

        A policy with a `claims` line is left out for claims of other types, and so are the rules it would
        hand down through `extends`.
        """
        key = (plan, claim_type)
        index = self._indexes.get(key)
        if index is None:
            with self._lock:
                index = self._indexes.get(key)
                if index is None:
                    applicable = [policy for policy in self.policies if policy.covers_claim_type(claim_type)]
                    index = self._indexes[key] = PlanIndex.build(plan_rules(applicable, plan))
        return index

    def check(self, claim: Claim | Mapping[str, object]) -> ClaimResult:
        """Adjudicate one claim; a mapping that is not a valid claim gives a rejected result."""
        if not isinstance(claim, Claim):
            parsed = parse_claim(claim)
            if isinstance(parsed, Rejection):
                return rejected(parsed)
            claim = parsed
        return self._adjudicate(claim)

    def check_many(self, claims: Iterable[Claim | Rejection | Mapping[str, object]]) -> Iterator[ClaimResult]:
        """One result per input claim, in input order, streamed."""
        for claim in claims:
            yield rejected(claim) if isinstance(claim, Rejection) else self.check(claim)

    def _adjudicate(self, claim: Claim) -> ClaimResult:
        index = self._indexes.get((claim.plan, claim.claim_type)) or self.index_for(claim.plan, claim.claim_type)
        if self.history is None:
            tables = index.tables_in_force(claim.lines)
            if tables is not None:  # the usual claim: no buckets to make for table rules (`judge_directly`)
                written = index.written_buckets(claim.lines) if index.has_written else None
                return judge_directly(claim, tables, index, written)
        buckets = index.work(claim.lines)
        if self.history is None:
            return judge(claim, index, buckets, ())
        with self.history.transaction():
            prior = add_prior_lines(buckets, claim, self.history)
            result = judge(claim, index, buckets, prior)
            self.history.record(claim, result)
        return result


def addon_primaries(rules: Iterable[CompiledRule]) -> frozenset[str] | None:
    """Every code a denying add-on rule may accept as a primary; None when a rule may accept any line."""
    found: set[str] = set()
    for rule in rules:
        if rule.kind != "addon" or rule.action.kind != "deny":
            continue
        if rule.dispatch_codes is None:
            return None
        if rule.table is not None and isinstance(rule.table.data, AocTable):
            # The table's listed primaries, and any that extending policies' add-on rules (denying or not) add.
            found |= rule.table.data.primaries | rule.added_primaries
        else:
            found |= rule.dispatch_codes  # a written rule's add-on and primary codes: the add-ons count too
    return frozenset(found)


def judge(
    claim: Claim, index: PlanIndex, buckets: Mapping[CompiledRule, Sequence[Line]], prior: Iterable[int]
) -> ClaimResult:
    """Run every rule over its bucket, add-ons last over the lines that stand (earlier claims' lines do)."""
    judged: dict[int, list[Judgement]] = {}
    denied: dict[int, frozenset[str]] = {}  # what `ClaimResult.denials` returns, noted as verdicts come
    addon_rules = judge_all_but_addons(buckets, claim, index, judged, denied)
    if addon_rules:
        standing = standing_lines(claim.lines, judged, denied)
        standing.update(prior)
        settle_and_note(addon_rules, claim, standing, index, judged, denied)
    return ClaimResult(claim.claim_id, "processed", judged=(claim.lines, judged, denied))


def judge_directly(
    claim: Claim, tables: TablesInForce, index: PlanIndex, written: Mapping[CompiledRule, Sequence[Line]] | None
) -> ClaimResult:
    """`judge` without earlier claims, for a claim whose dates all have the same table rules in force.

    Each table rule looks its lines' codes up in its table anyway, so each takes the claim's lines as they
    are: no buckets are made for them, and the rules and their templates were paired once per date, not once
    per claim. Written rules take their `buckets` (`written`, None when the plan has none). The verdicts are
    `judge`'s, and tests/test_engine.py holds the two to that.
    """
    lines = claim.lines
    judged: dict[int, list[Judgement]] = {}
    denied: dict[int, frozenset[str]] = {}
    for evaluate, template in tables.firsts:
        verdicts = evaluate(lines, claim, NOTHING_STANDS)
        if verdicts:
            record_noting_denials(judged, denied, template, verdicts)
    written_addons = judge_all_but_addons(written, claim, index, judged, denied) if written else []
    if tables.addons or written_addons:
        standing = standing_lines(lines, judged, denied)
        if len(tables.addons) == 1 and not written_addons:  # the national add-on table alone
            [(rule, template)] = tables.addons
            last = settle_one(rule, claim, standing, index.primaries)
            if last:
                record_noting_denials(judged, denied, template, last)
        else:
            addon_rules = [(rule, lines) for rule, _ in tables.addons] + written_addons
            settle_and_note(addon_rules, claim, standing, index, judged, denied)
    return ClaimResult(claim.claim_id, "processed", judged=(lines, judged, denied))


def judge_all_but_addons(
    buckets: Mapping[CompiledRule, Sequence[Line]], claim: Claim, index: PlanIndex,
    judged: dict[int, list[Judgement]], denied: dict[int, frozenset[str]],
) -> list[tuple[CompiledRule, Sequence[Line]]]:
    """Run each rule over its bucket and note its verdicts, but for add-on rules: those are returned, to go last."""
    addon_rules: list[tuple[CompiledRule, Sequence[Line]]] = []
    templates = index.finding_templates
    for rule, bucket in buckets.items():
        if rule.kind == "addon":
            addon_rules.append((rule, bucket))
            continue
        verdicts = rule.evaluate(bucket, claim, NOTHING_STANDS)
        if verdicts:
            record_noting_denials(judged, denied, templates[rule], verdicts)
    return addon_rules


def standing_lines(
    lines: Sequence[Line], judged: dict[int, list[Judgement]], denied: dict[int, frozenset[str]]
) -> set[int]:
    """The claim's lines still paid in part once the rules other than add-ons have judged: the primaries."""
    standing = {line.line for line in lines}
    standing.difference_update(denied)
    if len(denied) < len(judged):  # a line judged but not denied stands, unless cut back to nothing
        standing.difference_update([n for n, found in judged.items() if n not in denied and not stands(found)])
    return standing


def settle_and_note(
    addon_rules: Sequence[tuple[CompiledRule, Sequence[Line]]], claim: Claim, standing: set[int], index: PlanIndex,
    judged: dict[int, list[Judgement]], denied: dict[int, frozenset[str]],
) -> None:
    """Settle the add-on rules (`settle_addons`) and note their last verdicts."""
    settled = settle_addons(addon_rules, claim, standing, index.primaries)
    for rule, bucket in addon_rules:
        last = settled[rule] if rule in settled else rule.evaluate(bucket, claim, standing)
        if last:
            record_noting_denials(judged, denied, index.finding_templates[rule], last)


def record_noting_denials(
    judged: dict[int, list[Judgement]], denied: dict[int, frozenset[str]], template: FindingTemplate,
    verdicts: Iterable[Verdict],
) -> None:
    """Keep each verdict as its line's judgement, and note the adjustments of the lines the template denies."""
    denies, denied_as = template.denies, template.denied_as
    for verdict in verdicts:
        number = verdict.line
        if number <= 0:  # earlier claims' lines only inform this claim's verdicts
            continue
        found = judged.get(number)
        if found is None:
            judged[number] = [(template, verdict)]
            if denies:
                denied[number] = denied_as
            continue
        found.append((template, verdict))
        if denies:
            before = denied.get(number)
            denied[number] = denied_as if before is None else before | denied_as


def settle_one(rule: CompiledRule, claim: Claim, standing: set[int], primaries: frozenset[str] | None) -> list[Verdict]:
    """`settle_addons` for one add-on rule over the claim's lines: its verdicts once nothing more changes.

    The same loop, kept apart for the national add-on table alone: making the (rule, lines) pairs and the
    dictionary of verdicts `settle_addons` needs cost 8% of a national claim's time (valgrind, 20,000 lines).
    """
    verdicts = rule.evaluate(claim.lines, claim, standing)
    if rule.action.kind != "deny":
        return verdicts
    while verdicts:
        again = False
        for verdict in verdicts:
            if verdict.line in standing:
                standing.discard(verdict.line)
                again = again or primaries is None or claim.line_by_number(verdict.line).code in primaries
        if not again:
            return verdicts
        verdicts = rule.evaluate(claim.lines, claim, standing)
    return verdicts


def settle_addons(
    addon_rules: Sequence[tuple[CompiledRule, Sequence[Line]]], claim: Claim, standing: set[int],
    primaries: AbstractSet[str] | None = None,
) -> dict[CompiledRule, list[Verdict]]:
    """Remove add-on lines without a standing primary until none is left: the largest consistent set stands.

    Only denying add-on rules take lines away; an add-on rule that sends a line to review leaves it standing.
    Taking away a line whose code is none of `primaries` (None: any code may be one) cannot cost another
    add-on its support, so it needs no further pass.

    Removal only ever takes support away, so the loop reaches the greatest fixed point whatever the rule
    order, and lines that support each other in a cycle stand together.
    """
    verdicts: dict[CompiledRule, list[Verdict]] = {}
    changed = True
    while changed:
        changed = False
        for rule, bucket in addon_rules:
            if rule.action.kind != "deny":
                continue
            found = verdicts[rule] = rule.evaluate(bucket, claim, standing)
            for verdict in found:
                number = verdict.line
                # Earlier claims' lines (numbered below zero) were settled when their claims were checked.
                if number > 0 and number in standing:
                    standing.discard(number)
                    changed = changed or primaries is None or claim.line_by_number(number).code in primaries
    # The last pass changed nothing that matters, so its verdicts are the ones over the final standing lines.
    return verdicts


def stands(judgements: Iterable[Judgement]) -> bool:
    """Whether a line is still paid in part: not denied and not cut back to nothing."""
    for template, verdict in judgements:  # noqa: SIM110 - a plain loop: all() over a generator costs more here
        if template.denies or verdict.allowed_units == 0:
            return False
    return True


def finding_template(rule: CompiledRule) -> FindingTemplate:
    """What every finding of the rule shares: its name, action, codes and the words around each message."""
    action = rule.action
    if action.kind == "review" and action.reason:
        prefix = f"{action.reason}: "
    else:
        prefix = f"{rule.title}: " if rule.title else ""
    suffix = f" (rationale: {rule.rationale})" if rule.rationale else ""
    return FindingTemplate(
        rule.name, rule.kind, action.kind, action.group, action.carc, action.rarcs, action.appealable,
        prefix, suffix, rule.source,
    )


def rejected(rejection: Rejection) -> ClaimResult:
    return ClaimResult(rejection.claim_id, "rejected", (), rejection.errors)


# ------------------------------------------------------------------ claim history


def add_prior_lines(
    buckets: dict[CompiledRule, Sequence[Line]], claim: Claim, history: ClaimHistory
) -> list[int]:
    """Put the standing lines of the member's earlier claims into the buckets of cross-claim rules.

    They are numbered -1, -2, ... so they never collide with the claim's own lines; the numbers are returned
    so add-on rules count them as standing primaries.
    """
    rules = [rule for rule in buckets if rule.cross_claim is not None]
    if not rules:
        return []
    # Sorted here, not trusted to the store: a PTP message names the first earlier claim by claim id, then
    # line number (docs/tables.md section 6), whatever order or collation another database returns them in.
    prior = sorted(history.prior_lines(claim), key=lambda entry: (entry.claim_id, entry.line.line))
    numbered = [(p, attrs.evolve(p.line, line=-index)) for index, p in enumerate(prior, start=1)]
    for rule in rules:
        codes = rule.dispatch_codes or frozenset()
        same_provider = rule.cross_claim == "provider"
        earlier = [
            line for entry, line in numbered
            if (not same_provider or entry.billing_provider == claim.billing_provider)
            and line.code in codes and rule.in_force(line.date)
        ]
        if earlier:  # a new list: a table rule's bucket may be the claim's own tuple of lines
            buckets[rule] = [*buckets[rule], *earlier]
    return [line.line for _, line in numbered]


# ------------------------------------------------------------------ extends: inheritance and overrides

# A policy covering the plan itself applies on all its dates: no windows ("()"); an inherited one has some.
DIRECT: tuple[Window, ...] = ()


def ancestors(policy: CompiledPolicy, by_id: Mapping[str, CompiledPolicy]) -> list[CompiledPolicy]:
    """The policies `policy` extends, directly or through others, nearest first, each once (cycles stop)."""
    found: list[CompiledPolicy] = []
    queue = list(policy.extends)
    while queue:
        base = by_id.get(queue.pop(0))
        if base is None or base is policy or base in found:
            continue
        found.append(base)
        queue.extend(base.extends)
    return found


def plan_windows(policies: Sequence[CompiledPolicy], plan: str) -> dict[str, tuple[Window, ...]]:
    """For each policy that applies to the plan: DIRECT when it covers the plan, else the dates it is inherited on."""
    by_id = {policy.id: policy for policy in policies}
    covering = [policy for policy in policies if policy.covers_plan(plan)]
    direct = {policy.id for policy in covering}
    inherited: dict[str, list[Window]] = {}
    for policy in covering:
        for base in ancestors(policy, by_id):
            if base.id not in direct:
                inherited.setdefault(base.id, []).append((policy.start, policy.end))
    return {**{key: tuple(found) for key, found in inherited.items()}, **{key: DIRECT for key in direct}}


def plan_rules(policies: Sequence[CompiledPolicy], plan: str) -> list[CompiledRule]:
    """The rules applying to a plan: its policies' own, the ones inherited through `extends`, overrides wired in."""
    by_id = {policy.id: policy for policy in policies}
    windows = plan_windows(policies, plan)
    entries = override_entries(policies, windows, by_id)
    rules: list[CompiledRule] = []
    for policy in policies:
        if policy.id not in windows:
            continue
        for rule in policy.rules:
            if windows[policy.id] != DIRECT:
                rule = attrs.evolve(rule, windows=windows[policy.id])
            if rule.table is not None and entries.get(policy.id):
                rule = overridden_table_rule(rule, entries[policy.id])
            elif rule.overrides is not None and rule.kind != "switch off":
                rule = replacing_rule(rule, bases_tables(policy, by_id, rule.overrides.kind))
            rules.append(rule)
    return rules


@attrs.frozen
class OverrideEntry:
    """An extending policy's rule that replaces (or switches off) rows of a base's tables on some dates."""

    override: Override
    windows: tuple[Window, ...]
    rule: CompiledRule
    primaries: frozenset[str]  # an add-on rule's own primaries, added to a type 2 or 3 row

    def applies(self, key: TableKey, day: datetime.date) -> bool:
        return self.override.covers(key) and any(in_force(start, end, day) for start, end in self.windows)


def override_entries(
    policies: Sequence[CompiledPolicy], windows: Mapping[str, tuple[Window, ...]], by_id: Mapping[str, CompiledPolicy]
) -> dict[str, list[OverrideEntry]]:
    """For each base policy, the overrides its extenders that apply to the plan hold over its tables."""
    entries: dict[str, list[OverrideEntry]] = {}
    for policy in policies:
        if policy.id not in windows or not policy.extends:
            continue
        for rule in policy.rules:
            if rule.overrides is None:
                continue
            ranges = clip((rule.start, rule.end), windows[policy.id])
            primaries = (rule.dispatch_codes or frozenset()) if rule.kind == "addon" else frozenset()
            entry = OverrideEntry(rule.overrides, ranges, rule, primaries - rule.overrides.codes)
            for base in ancestors(policy, by_id):
                entries.setdefault(base.id, []).append(entry)
    return entries


def clip(own: Window, windows: tuple[Window, ...]) -> tuple[Window, ...]:
    """The parts of `own` inside the windows (DIRECT: all of it)."""
    if windows == DIRECT:
        return (own,)
    clipped = []
    for start, end in windows:
        low = max(own[0], start)
        high = end if own[1] is None else own[1] if end is None else min(own[1], end)
        if high is None or low <= high:
            clipped.append((low, high))
    return tuple(clipped)


def overridden_table_rule(rule: CompiledRule, entries: Sequence[OverrideEntry]) -> CompiledRule:
    """A base's table rule that skips the rows its extenders replace or switch off, and adds payers' primaries."""
    assert rule.table is not None
    kind = rule.table.kind
    mine = [e for e in entries if e.override.kind == kind]
    if not mine:
        return rule
    original = rule.evaluate

    def skip(key: TableKey, day: datetime.date) -> bool:
        return any(entry.applies(key, day) for entry in mine)

    def added(code: str, day: datetime.date) -> frozenset[str]:
        extra = [e.primaries for e in mine if e.primaries and e.applies(code, day)]
        return frozenset().union(*extra)

    def evaluate(bucket: Sequence[Line], claim: Claim, standing: AbstractSet[int]) -> list[Verdict]:
        # Generated table functions take `skip` and `added` beyond the three arguments every rule takes.
        return original(bucket, claim, standing, skip=skip, added=added)  # type: ignore[call-arg]

    extra_codes = frozenset().union(*(e.primaries for e in mine))
    dispatch = rule.dispatch_codes
    if dispatch is not None and extra_codes:
        dispatch = dispatch | extra_codes  # the payer's primaries must reach the table rule's bucket
    return attrs.evolve(rule, evaluate=evaluate, dispatch_codes=dispatch, added_primaries=extra_codes)


def bases_tables(policy: CompiledPolicy, by_id: Mapping[str, CompiledPolicy], kind: str) -> list[CompiledRule]:
    """The table rules of one kind (`mue`, `addon`, `pair`) of the policies `policy` extends."""
    return [
        rule for base in ancestors(policy, by_id) for rule in base.rules
        if rule.table is not None and rule.table.kind == kind
    ]


def replacing_rule(rule: CompiledRule, tables: Sequence[CompiledRule]) -> CompiledRule:
    """An extending policy's rule over its bases' tables: its findings name the national row they replace.

    An add-on rule over a type 2 or 3 row does not replace it: its primaries join the row's, and the table
    rule judges the line (so this rule's own verdicts on such lines are dropped).
    """
    if not tables:
        return rule
    original = rule.evaluate
    merging = rule.kind == "addon"

    def evaluate(bucket: Sequence[Line], claim: Claim, standing: AbstractSet[int]) -> list[Verdict]:
        verdicts = original(bucket, claim, standing)
        if not verdicts:
            return verdicts
        by_number = {line.line: line for line in bucket}
        kept = []
        for verdict in verdicts:
            line = by_number[verdict.line]
            if merging and merged_addon(line, tables):
                continue
            note = replaced_row(line, bucket, tables)
            kept.append(attrs.evolve(verdict, message=f"{verdict.message}{note}") if note else verdict)
        return kept

    return attrs.evolve(rule, evaluate=evaluate)


def merged_addon(line: Line, tables: Sequence[CompiledRule]) -> bool:
    """Whether a base's add-on table holds the line's code as type 2 or 3 on its date (the table then judges)."""
    for table_rule in tables:
        assert table_rule.table is not None and isinstance(table_rule.table.data, AocTable)
        rows = table_rule.table.data.rows.get(line.code, ())
        listed = [r for r in rows if in_force(r.start, r.end, line.date)]
        if listed and table_rule.in_force(line.date) and all(r.type != 1 for r in listed):
            return True
    return False


def replaced_row(line: Line, bucket: Sequence[Line], tables: Sequence[CompiledRule]) -> str:
    """`; replaces cms-mue/mue's row for 99601 (MUE 0, MAI 3)`, or "" when no base row was in force."""
    for table_rule in tables:
        if table_rule.table is None or not table_rule.in_force(line.date):
            continue
        data, name = table_rule.table.data, table_rule.name
        if isinstance(data, MueTable) and line.code in data.rows:
            mue = data.rows[line.code]
            return f"; replaces {name}'s row for {line.code} (MUE {mue.value}, MAI {mue.mai})"
        if isinstance(data, AocTable):
            listed = [r for r in data.rows.get(line.code, ()) if in_force(r.start, r.end, line.date)]
            if listed:
                primaries = ", ".join(sorted({r.primary for r in listed if r.primary})[:5])
                return f"; replaces {name}'s type {listed[0].type} row for {line.code} (primaries {primaries})"
        if isinstance(data, PtpTable):
            for other in bucket:
                rows = data.rows.get(other.code, {}).get(line.code, ())
                row = next((r for r in rows if in_force(r.start, r.end, line.date)), None)
                if row is not None and other.line != line.line and other.date == line.date:
                    pair = f"{other.code}/{line.code}"
                    return f"; replaces {name}'s row {pair} (modifier indicator {row.indicator})"
    return ""
