"""Check a parsed policy and report every problem at once; nothing here generates code."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from policyc import nodes as n
from policyc import refdata
from policyc.claims import CLAIM_TYPES
from policyc.codes import CODE_SHAPE_HELP, MODIFIER_SHAPE_HELP, code_shape, is_modifier, range_problem
from policyc.diagnostics import DiagnosticSink
from policyc.fields import FIELDS
from policyc.lower import evaluate_set, ordinal_label
from policyc.source import Span

HEADER_FIELDS = ("payer", "source", "plans", "claims", "effective", "extends")
REQUIRED_HEADER = {"plans": "plans all", "effective": "effective 2025-01-01"}
NEEDS_SCOPE = (n.Addon, n.Bundle, n.Pair, n.Sequence, n.TableAddon, n.TablePair)
SCOPE_EXAMPLE = "a scope such as `on the same day by the same provider`"
KIND_WORDS = {n.TableAddon: "addon table", n.TablePair: "pair table", n.TableLimit: "mue table"}
TABLE_FORMATS = ("cms", "flat")
TABLE_SETTINGS = ("practitioner", "outpatient_hospital")
ORDERED_OPERATORS = ("<", "<=", ">", ">=")


def did_you_mean(word: str, candidates: Iterable[str]) -> str | None:
    match = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f"did you mean `{match[0]}`?" if match else None


class Checker:
    """Walks one policy in source order, reporting into a sink and never stopping at the first problem."""

    def __init__(self, sink: DiagnosticSink) -> None:
        self.sink = sink
        self.sets: dict[str, frozenset[str]] = {}
        self.set_lines: dict[str, int] = {}
        self.all_set_names: set[str] = set()
        self.defining: str | None = None
        self.policy_dates: n.DateRange | None = None
        self.extends = False

    def check(self, policy: n.Policy) -> None:
        self.all_set_names = {d.name for d in policy.code_sets}
        dates = [f.value for f in policy.header_values("effective") if isinstance(f.value, n.DateRange)]
        self.policy_dates = dates[0] if dates else None
        self.check_header(policy)
        items: list[n.CodeSetDef | n.Rule] = sorted(
            [*policy.code_sets, *policy.rules], key=lambda item: item.span.start
        )
        rule_lines: dict[str, int] = {}
        for item in items:
            if isinstance(item, n.CodeSetDef):
                self.check_code_set(item)
            else:
                self.check_rule(item, rule_lines)
        for test in policy.tests:
            self.check_test(test)

    # -------------------------------------------------------------- header

    def check_header(self, policy: n.Policy) -> None:
        for name in HEADER_FIELDS:
            fields = policy.header_values(name)
            for extra in fields[1:]:
                self.sink.error("POL210", extra.span, f"`{name}` is given twice", "keep one of them")
            if not fields and name in REQUIRED_HEADER:
                self.sink.error(
                    "POL210", policy.id_span, f"policy `{policy.id}` has no `{name}` line",
                    f"add a line like `{REQUIRED_HEADER[name]}` under the policy line",
                )
        for field in policy.header_values("plans"):
            plans = field.value
            if isinstance(plans, tuple) and "all" in plans and len(plans) > 1:
                self.sink.error("POL210", field.span, "`all` already covers every plan", "write `plans all` alone")
        for field in policy.header_values("claims"):
            kinds = field.value if isinstance(field.value, tuple) else ()
            unknown = [kind for kind in kinds if kind not in CLAIM_TYPES]
            if unknown:
                fix = "write `claims professional`, `claims institutional` or both; without the line, every claim"
                self.sink.error("POL210", field.span, f"`{unknown[0]}` is not a claim type", fix)
        for field in policy.header_values("effective"):
            if isinstance(field.value, n.DateRange):
                self.check_date_range(field.value)
        for field in policy.header_values("extends"):
            if isinstance(field.value, tuple) and policy.id in field.value:
                self.sink.error(
                    "POL307", field.span, f"policy `{policy.id}` cannot extend itself",
                    "name the national policy whose tables this one starts from",
                )
        self.extends = bool(policy.header_values("extends"))

    def check_date_range(self, dates: n.DateRange) -> None:
        if dates.end is not None and dates.end < dates.start:
            self.sink.error(
                "POL211", dates.span, f"the dates end ({dates.end}) before they start ({dates.start})",
                "swap the dates or correct the `until` date",
            )

    # -------------------------------------------------------------- code sets

    def check_code_set(self, definition: n.CodeSetDef) -> None:
        if definition.name in self.sets:
            self.sink.error(
                "POL203", definition.name_span, f"code set `{definition.name}` is defined twice",
                f"it is first defined on line {self.set_lines[definition.name]}; rename one of them",
            )
        reported = len(self.sink.diagnostics)
        self.defining = definition.name
        self.check_set_expr(definition.expr)
        self.defining = None
        members = evaluate_set(definition.expr, self.sets)
        if not members and len(self.sink.diagnostics) == reported:
            self.sink.error(
                "POL218", definition.name_span, f"code set `{definition.name}` holds no code",
                "check what `except` removes",
            )
        if definition.name not in self.sets:
            self.sets[definition.name] = members
            self.set_lines[definition.name] = self.sink.source.line_of(definition.span)

    def check_set_expr(self, expr: n.SetExpr) -> None:
        for item in (*expr.items, *expr.excluded):
            if isinstance(item, n.CodeItem):
                self.check_code(item.code, item.span)
            elif isinstance(item, n.RangeItem):
                self.check_range(item)
            elif item.name not in self.sets:
                self.report_unknown_set(item)

    def check_code(self, code: str, span: Span) -> None:
        if code_shape(code) is None:
            self.sink.error("POL206", span, f"`{code}` is not a procedure code", CODE_SHAPE_HELP)

    def check_range(self, item: n.RangeItem) -> None:
        problem = range_problem(item.low, item.high)
        if problem == "malformed":
            for code in (item.low, item.high):
                self.check_code(code, item.span)
        elif problem == "mixed":
            self.sink.error(
                "POL207", item.span, f"`{item.low}` and `{item.high}` are codes of different kinds",
                "a range joins two codes of one shape with the same letter, like `S9325..S9379`",
            )
        elif problem == "empty":
            self.sink.error(
                "POL205", item.span, f"the range `{item.low}..{item.high}` is empty",
                f"write the lower code first: `{item.high}..{item.low}`",
            )

    def report_unknown_set(self, ref: n.SetRef) -> None:
        if ref.name == self.defining:
            self.sink.error(
                "POL202", ref.span, f"code set `{ref.name}` cannot include itself",
                "list its codes here, or name other sets defined above",
            )
            return
        if ref.name in self.all_set_names:
            self.sink.error(
                "POL202", ref.span, f"code set `{ref.name}` is used before it is defined",
                "move its `codes` definition above this line",
            )
            return
        hint = did_you_mean(ref.name, self.all_set_names)
        if hint is None and code_shape(ref.name.upper()) is not None:
            hint = f"codes are written in upper case: `{ref.name.upper()}`"
        self.sink.error("POL201", ref.span, f"unknown code set `{ref.name}`", hint or "define it with `codes`")

    def check_modifiers(self, modifiers: Iterable[n.ModifierRef]) -> None:
        for modifier in modifiers:
            if not is_modifier(modifier.code):
                self.sink.error("POL208", modifier.span, f"`{modifier.code}` is not a modifier", MODIFIER_SHAPE_HELP)

    # -------------------------------------------------------------- rules

    def check_rule(self, rule: n.Rule, rule_lines: dict[str, int]) -> None:
        if rule.id in rule_lines:
            self.sink.error(
                "POL204", rule.id_span, f"rule id `{rule.id}` is used twice",
                f"the first rule `{rule.id}` is on line {rule_lines[rule.id]}; give each rule its own id",
            )
        else:
            rule_lines[rule.id] = self.sink.source.line_of(rule.span)
        self.check_body(rule.body)
        self.check_clauses(rule)

    def check_body(self, body: n.RuleBody) -> None:
        if _unscoped(body):
            kind = KIND_WORDS.get(type(body), type(body).__name__.lower())
            scope = "`by the same provider`" if isinstance(body, n.TableLimit) else SCOPE_EXAMPLE
            self.sink.error(
                "POL214", body.span, f"this {kind} rule does not say which lines it looks at together",
                f"add {scope}",
            )
        if isinstance(body, (n.TableLimit, n.TableAddon, n.TablePair, n.SwitchOff)):
            self.check_table_body(body)
            return
        if isinstance(body, n.Addon):
            self.check_set_expr(body.addons)
            self.check_set_expr(body.primaries)
        elif isinstance(body, n.Limit):
            self.check_set_expr(body.codes)
            if body.per == "line" and body.provider is not None:
                self.sink.error(
                    "POL215", body.span, "a per-line limit already looks at one line only",
                    "drop `by the same provider`, or write `per day by the same provider`",
                )
        elif isinstance(body, n.Sequence):
            self.check_set_expr(body.codes)
            self.check_ranks(body)
        elif isinstance(body, n.Bundle):
            self.check_set_expr(body.bundled)
            self.check_set_expr(body.into)
        elif isinstance(body, n.Pair):
            self.check_set_expr(body.column1)
            self.check_set_expr(body.column2)
            self.check_modifiers(body.bypass)
        else:
            self.check_condition(body.condition)

    def check_table_body(self, body: n.TableLimit | n.TableAddon | n.TablePair | n.SwitchOff) -> None:
        if isinstance(body, n.SwitchOff):
            self.check_set_expr(body.codes)
            if body.column2 is not None:
                self.check_set_expr(body.column2)
            if not self.extends:
                self.sink.error(
                    "POL305", body.span, "`switch off` only applies to rows of a policy this one extends",
                    "add `extends <policy-id>` to the header, naming the policy whose table rows to switch off",
                )
            return
        fmt = body.table.format
        if fmt is not None and fmt not in TABLE_FORMATS:
            self.sink.error(
                "POL302", body.table.format_span, f"unknown table format `{fmt}`",
                did_you_mean(fmt, TABLE_FORMATS)
                or "write `format cms` (the file as CMS publishes it) or `format flat`",
            )
        if isinstance(body, n.TablePair) and body.setting is not None and body.setting not in TABLE_SETTINGS:
            self.sink.error(
                "POL303", body.setting_span, f"unknown setting `{body.setting}`",
                did_you_mean(body.setting, TABLE_SETTINGS) or "settings are `practitioner` and `outpatient_hospital`",
            )

    def check_ranks(self, body: n.Sequence) -> None:
        seen: dict[frozenset[str], n.Rank] = {}
        for index, rank in enumerate(body.ranks, start=1):
            self.check_modifiers(rank.modifiers)
            if rank.written and rank.written.rstrip("+") != ordinal_label(rank.ordinal):
                self.sink.error(
                    "POL216", rank.span, f"`{rank.written}` is not an ordinal",
                    f"write `{ordinal_label(rank.ordinal)}{'+' if rank.open_ended else ''}`",
                )
            if rank.ordinal != index:
                self.sink.error(
                    "POL216", rank.span, f"rank {rank.ordinal} is out of order",
                    f"number the ranks 1st, 2nd, 3rd ... in order; this one should be rank {index}",
                )
            if rank.open_ended and index != len(body.ranks):
                self.sink.error("POL216", rank.span, "only the last rank can be open-ended (`+`)", "move it last")
            key = frozenset(m.code for m in rank.modifiers) if rank.with_modifiers else frozenset()
            if key in seen:
                self.sink.error(
                    "POL216", rank.span, "two ranks ask for the same modifiers",
                    "each rank needs its own modifiers so a line falls in one rank only",
                )
            seen[key] = rank

    def check_clauses(self, rule: n.Rule) -> None:
        actions: tuple[n.Action, ...] = rule.actions
        if isinstance(rule.body, n.SwitchOff):
            for action in actions:
                self.sink.error(
                    "POL212", action.span, "a `switch off` rule takes no action",
                    "remove the action: the rows just stop applying",
                )
            actions = ()
        elif not actions:
            self.sink.error(
                "POL212", rule.id_span, f"rule `{rule.id}` has no action",
                "end the rule with an action such as `deny CO-97 M15` or `review \"why\"`",
            )
        for extra in actions[1:]:
            self.sink.error("POL212", extra.span, f"rule `{rule.id}` has more than one action", "keep one action")
        extra_clauses: list[n.Rationale | n.DateRange] = [*rule.rationales[1:], *rule.dates[1:]]
        for extra_clause in extra_clauses:
            self.sink.error("POL219", extra_clause.span, "this clause is given twice in the rule", "keep one of them")
        for dates in rule.dates:
            self.check_date_range(dates)
            self.check_within_policy(dates)
        for action in actions:
            if isinstance(rule.body, n.TableLimit) and isinstance(action, (n.Deny, n.CutBack)) and action.appealable:
                self.sink.error(
                    "POL304", self.word_span("appealable", action.span),
                    "the MUE table says which findings are appealable (its MAI 3 rows)", "remove `appealable`",
                )
            if isinstance(action, n.CutBack) and not isinstance(rule.body, (n.Limit, n.TableLimit)):
                self.sink.error(
                    "POL213", action.span, "only a `limit` rule can cut back units", "use `deny` for this rule"
                )
            if isinstance(action, (n.Deny, n.CutBack)):
                self.check_adjustment(action)

    def check_within_policy(self, dates: n.DateRange) -> None:
        """A rule whose dates share no day with its policy's can never apply."""
        policy = self.policy_dates
        if policy is None:
            return
        before = dates.end is not None and dates.end < policy.start
        after = policy.end is not None and dates.start > policy.end
        if before or after:
            until = f" until {policy.end}" if policy.end else ""
            self.sink.error(
                "POL221", dates.span, "the rule's dates lie outside its policy's dates, so it never applies",
                f"the policy is effective {policy.start}{until}; move the rule's dates inside them",
            )

    def check_adjustment(self, action: n.Deny | n.CutBack) -> None:
        group, carc = action.adjustment.split("-", 1)
        adjustment_span = self.word_span(action.adjustment, action.span)
        if refdata.lookup("Group", group) is None:
            hint = "group codes are CO (contractual), CR, OA, PI and PR (patient responsibility)"
            self.sink.error("POL209", adjustment_span, f"unknown claim adjustment group code `{group}`", hint)
        if refdata.lookup("CARC", carc) is None:
            self.sink.error(
                "POL209", adjustment_span, f"unknown CARC `{carc}`",
                "use a code from the X12 claim adjustment reason code list (like `CO-97`, `CO-151`)",
            )
        for rarc in action.rarcs:
            if refdata.lookup("RARC", rarc) is None:
                hint = did_you_mean(rarc, refdata.codes_of_kind("RARC")) or "use a code from the CMS RARC list"
                self.sink.error("POL209", self.word_span(rarc, action.span), f"unknown RARC `{rarc}`", hint)

    def word_span(self, word: str, within: Span) -> Span:
        """The span of `word` inside `within`, so the caret points at the bad code, not the whole action."""
        found = self.sink.source.text.find(word, within.start, within.end)
        return Span(found, found + len(word)) if found >= 0 else within

    # -------------------------------------------------------------- conditions

    def check_condition(self, cond: n.Condition) -> None:
        if isinstance(cond, (n.AllOf, n.AnyOf)):
            for item in cond.items:
                self.check_condition(item)
        elif isinstance(cond, n.Not):
            self.check_condition(cond.item)
        elif isinstance(cond, n.HasModifier):
            self.check_modifiers(cond.modifiers)
        elif isinstance(cond, n.FieldInCodes):
            field = FIELDS.get(cond.field)
            if field is not None and field.kind != "code":
                self.sink.error(
                    "POL217", cond.codes.span, f"`{cond.field}` holds a {field.kind}, not a code",
                    f"compare it with `=` or list the values in parentheses: `{cond.field} in (...)`",
                )
            elif self.check_field(cond.field, cond.field_span, "code"):
                self.check_set_expr(cond.codes)
        elif isinstance(cond, n.FieldInValues):
            for value in cond.values:
                self.check_field(cond.field, cond.field_span, _literal_kind(value), value.span)
        elif isinstance(cond, n.Compare) and self.check_field(
            cond.field, cond.field_span, _literal_kind(cond.value), cond.value.span
        ):
            kind = FIELDS[cond.field].kind
            if cond.operator in ORDERED_OPERATORS and kind not in ("number", "date"):
                self.sink.error(
                    "POL217", cond.span, f"`{cond.field}` cannot be compared with `{cond.operator}`",
                    "use `=`, `!=` or `in (...)` for text fields",
                )

    def check_field(self, name: str, span: Span, kind: str, value_span: Span | None = None) -> bool:
        field = FIELDS.get(name)
        if field is None:
            hint = did_you_mean(name, FIELDS) or "fields are " + ", ".join(f"`{f}`" for f in FIELDS)
            self.sink.error("POL217", span, f"unknown field `{name}`", hint)
            return False
        if field.kind == kind:
            return True
        if field.kind == "code":
            help_text = f"compare codes with a code set: `{name} in per_diem`"
        elif kind == "code":
            help_text = f"`{name}` holds a {field.kind}; write the value as a {_kind_example(field.kind)}"
        else:
            help_text = f"write the value as a {_kind_example(field.kind)}"
        self.sink.error(
            "POL217", value_span or span, f"`{name}` holds a {field.kind}, not a {kind}", help_text
        )
        return False

    # -------------------------------------------------------------- tests

    def check_test(self, test: n.TestCase) -> None:
        numbers: set[int] = set()
        for claim in test.claims:
            for line in claim.lines:
                self.check_code(line.code, line.span)
                for modifier in line.modifiers:
                    if not is_modifier(modifier):
                        self.sink.error("POL208", line.span, f"`{modifier}` is not a modifier", MODIFIER_SHAPE_HELP)
                if line.number in numbers:
                    self.sink.error(
                        "POL220", line.span, f"line {line.number} appears twice in the test",
                        "give each line of a test its own number",
                    )
                numbers.add(line.number)
        for expectation in test.expectations:
            if expectation.adjustment is not None:
                self.check_adjustment(n.Deny(expectation.adjustment, (), False, span=expectation.span))
            if expectation.line not in numbers:
                self.sink.error(
                    "POL220", expectation.span, f"the test has no line {expectation.line}",
                    "expect only lines the test's claims hold",
                )


def _unscoped(body: n.RuleBody) -> bool:
    """Whether a rule that must say which lines it looks at together does not."""
    if isinstance(body, n.TableLimit):
        return body.provider is None
    return isinstance(body, NEEDS_SCOPE) and body.scope is None


def _literal_kind(value: n.Literal) -> str:
    if isinstance(value.value, (bool, int)):
        return "number"
    return "string" if isinstance(value.value, str) else "date"


def _kind_example(kind: str) -> str:
    return {"number": "number (like `18`)", "string": 'quoted text (like "12")', "date": "date (yyyy-mm-dd)"}[kind]


def check(policy: n.Policy, sink: DiagnosticSink) -> None:
    """Report every problem of `policy` into `sink`."""
    Checker(sink).check(policy)
