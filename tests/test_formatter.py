"""The formatter: one canonical layout from the nodes, comments kept, idempotent, and `policyc fmt`."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest
import strategies as gen
from click.testing import CliRunner
from hypothesis import example, given, settings
from hypothesis import strategies as st

from policyc.compiler import read_source
from policyc.diagnostics import PolicyError
from policyc.formatter import WIDTH, find_comments, fmt_command, format_text, quote, verified
from policyc.parser import parse
from policyc.source import SourceFile

SEEDS = sorted(Path("policies").rglob("*.pol"))
HEADER = "policy p\n  plans     all\n  effective 2025-01-01\n"


def nodes(text: str) -> object:
    return parse(SourceFile("t.pol", text))


def assert_formats(text: str) -> str:
    """Format `text`, check the three promises (same nodes, a fixed point, comments kept) and return it."""
    formatted = format_text(text)
    assert nodes(formatted) == nodes(text)
    assert format_text(formatted) == formatted
    kept = "\n".join(c.text for c in find_comments(formatted))
    for comment in find_comments(text):
        assert comment.text in kept
    return formatted


# ---------------------------------------------------------------- the canonical layout


def test_the_payer_seed_policy_is_already_in_the_canonical_layout() -> None:
    text = Path("policies/payer/home-infusion.pol").read_text(encoding="utf-8")
    assert format_text(text) == text


@pytest.mark.parametrize("path", SEEDS, ids=str)
def test_every_seed_policy_formats_to_a_fixed_point_with_the_same_nodes(path: Path) -> None:
    source = read_source(path)
    formatted = verified(source)
    assert format_text(formatted) == formatted
    assert len(find_comments(formatted)) == len(find_comments(source.text))


def test_a_one_line_policy_gets_the_layout_of_the_seed_policies() -> None:
    text = (
        'policy p "P" effective 2025-01-01 plans medicaid,commercial payer "X" '
        "codes s = 99601 or 99602 "
        'rule r1 "t": limit s to 1 unit per day by the same provider rationale "why" deny CO-151 N362 appealable '
        "rule r2: sequence S9500, S9338 by the same provider: 1st without SH, SJ 2nd with SH 10th+ with SJ deny CO-4 "
        'test "t": claim plan medicaid on 2026-01-05: line 1: 99601 SH line 2: 99601 x3 on 2026-01-06 '
        "expect line 1 denied CO-151 expect line 2 paid"
    )
    assert assert_formats(text) == (
        'policy p "P"\n'
        "  effective 2025-01-01\n"
        "  plans     medicaid, commercial\n"
        '  payer     "X"\n'
        "\n"
        "codes s =\n"
        "  99601, 99602\n"
        "\n"
        'rule r1 "t":\n'
        "  limit s to 1 unit per day by the same provider\n"
        '  rationale "why"\n'
        "  deny CO-151 N362 appealable\n"
        "\n"
        "rule r2:\n"
        "  sequence S9500, S9338 on the same claim by the same provider:\n"
        "    1st   without SH, SJ\n"
        "    2nd   with SH\n"
        "    10th+ with SJ\n"
        "  deny CO-4\n"
        "\n"
        'test "t":\n'
        "  claim plan medicaid on 2026-01-05:\n"
        "    line 1: 99601 SH x1\n"
        "    line 2: 99601 x3 on 2026-01-06\n"
        "  expect line 1 denied CO-151\n"
        "  expect line 2 paid\n"
    )


def test_items_keep_the_order_the_file_wrote_them_in() -> None:
    text = HEADER + "rule r1: when line.units > 2 deny CO-4\ncodes s = 99601\n"
    text += "rule r2: limit s to 2 units per line deny CO-4\n"
    formatted = assert_formats(text)
    assert formatted.index("rule r1") < formatted.index("codes s") < formatted.index("rule r2")


def test_a_long_code_set_wraps_before_the_width_and_except_gets_its_own_line() -> None:
    codes = ", ".join(f"A{4200 + i}" for i in range(40))
    formatted = assert_formats(HEADER + f"codes s = {codes} except A4201, A4202\n")
    body = formatted.split("codes s =\n", 1)[1].splitlines()
    assert len(body) > 2 and all(len(line) < WIDTH for line in body)
    assert body[-1] == "  except A4201, A4202"


def test_a_long_condition_breaks_before_each_top_level_joiner() -> None:
    atoms = " or ".join(f"line.units = {n}" for n in range(12))
    formatted = assert_formats(HEADER + f"rule r: when {atoms} deny CO-4\n")
    assert "  when line.units = 0\n    or line.units = 1\n" in formatted


@pytest.mark.parametrize(
    ("condition", "printed"),
    [
        ("line.units > 1 and line.units < 5 and member.age < 18",
         "line.units > 1 and line.units < 5 and member.age < 18"),
        ("(line.units > 1 and line.units < 5) and member.age < 18",
         "(line.units > 1 and line.units < 5) and member.age < 18"),
        ("line.units > 1 or line.units < 5 and member.age < 18",
         "line.units > 1 or (line.units < 5 and member.age < 18)"),
        ("not (line.units > 1 or member.age < 18)", "not (line.units > 1 or member.age < 18)"),
        ("not not line.units > 1", "not not line.units > 1"),
        ("line has modifier SH or SJ or line.units > 2", "(line has modifier SH or SJ) or line.units > 2"),
        ('claim.plan not in ("medicaid","x") and line.date >= 2025-07-01',
         'claim.plan not in ("medicaid", "x") and line.date >= 2025-07-01'),
        ("claim has diagnosis Z45.2,E11.9", "claim has diagnosis Z45.2, E11.9"),
    ],
)
def test_conditions_get_the_brackets_their_nesting_needs(condition: str, printed: str) -> None:
    formatted = assert_formats(HEADER + f"rule r: when {condition} deny CO-4\n")
    assert f"  when {printed}\n" in formatted


@pytest.mark.parametrize(
    "text",
    ["plain", 'with "quotes"', "back\\slash", "café", 'café and "quotes"', "tab\there", "emoji \U0001f600 \\"],
)
def test_strings_are_quoted_so_that_they_read_back_the_same(text: str) -> None:
    policy = nodes(f"policy p {quote(text)} plans all effective 2025-01-01")
    assert policy.title == text  # type: ignore[attr-defined]


# ---------------------------------------------------------------- comments


def test_comments_inside_strings_are_not_comments() -> None:
    comments = find_comments('policy p "a # b" # real\n  payer "\\" # still text" # also real\n')
    assert [c.text for c in comments] == ["# real", "# also real"]
    assert all(c.trailing for c in comments)


def test_own_line_comments_go_above_the_next_item_and_keep_a_blank_line_after_them() -> None:
    text = HEADER + "# about s\ncodes s = 99601\n\n# a note on its own\n\n"
    text += "# about r\nrule r: limit s to 1 unit per line deny CO-4\n"
    formatted = assert_formats(text)
    assert "\n\n# about s\ncodes s =\n" in formatted
    assert "\n\n# a note on its own\n\n# about r\nrule r:\n" in formatted


def test_trailing_comments_stay_at_the_end_of_the_line_of_their_node() -> None:
    text = (
        "policy p # the id\n  plans all  # every plan\n  effective 2025-01-01\n"
        "rule r: limit 99601 to 4 units per day # the body\n deny CO-151 # the action\n"
    )
    formatted = assert_formats(text)
    # Trailing comments of consecutive lines share a column, two spaces after the longest line.
    assert "policy p         # the id\n  plans     all  # every plan\n  effective 2025-01-01\n" in formatted
    assert "  limit 99601 to 4 units per day  # the body\n  deny CO-151                     # the action\n" in formatted


def test_comments_inside_a_rule_keep_their_place_between_clauses() -> None:
    text = HEADER + 'rule r:\n  limit 99601 to 4 units per day\n  # why the rationale\n  rationale "x"\n  deny CO-151\n'
    assert '  limit 99601 to 4 units per day\n  # why the rationale\n  rationale "x"\n' in assert_formats(text)


def test_comments_after_the_last_item_stay_at_the_end() -> None:
    formatted = assert_formats(HEADER + "rule r: when line.units > 2 deny CO-4\n# the end\n\n# really\n")
    assert formatted.endswith("  deny CO-4\n\n# the end\n\n# really\n")


def test_two_trailing_comments_that_land_on_one_line_are_joined() -> None:
    text = HEADER + "rule r: when line.units > 2 # one\n and line.units < 9 # two\n deny CO-4\n"
    assert "  when line.units > 2 and line.units < 9  # one  # two\n" in assert_formats(text)


# ---------------------------------------------------------------- the property

NAMES = st.sampled_from(("a", "set_b", "gen-c", "r9", "x_y-z"))
CODE_ITEMS = st.sampled_from(("99601", "S9325..S9379", "A4221", "0001F", "E0779..E0781", "J3370"))
MODS = st.lists(st.sampled_from(("SH", "SJ", "59", "XU")), min_size=1, max_size=3, unique=True)
DATES = st.dates(datetime.date(2024, 1, 1), datetime.date(2027, 12, 31)).map(datetime.date.isoformat)
STRINGS = st.text(st.sampled_from('ab #"\\é'), max_size=8).map(quote)
SCOPES = st.sampled_from((
    [], ["on", "the", "same", "day"], ["on", "the", "same", "claim", "by", "the", "same", "provider"],
    ["by", "the", "same", "rendering", "provider"], ["by", "the", "same", "provider"],
))


def joined(parts: list[list[str]], separators: list[str]) -> list[str]:
    """Token lists joined by separators (`,` and `or`); `or` only before a plain code, as the grammar reads it."""
    out = list(parts[0])
    for separator, part in zip(separators, parts[1:], strict=False):
        out += [separator if part[0][:1].isupper() and ".." not in part[0] else ","] + part
    return out


@st.composite
def items(draw: st.DrawFn) -> list[str]:
    parts = draw(st.lists(st.one_of(CODE_ITEMS, NAMES).map(lambda t: [t]), min_size=1, max_size=3))
    return joined(parts, draw(st.lists(st.sampled_from((",", "or")), min_size=2, max_size=2)))


def modifier_list(draw: st.DrawFn) -> list[str]:
    mods = draw(MODS)
    return joined([[m] for m in mods], draw(st.lists(st.sampled_from((",", "or")), min_size=2, max_size=2)))


@st.composite
def atoms(draw: st.DrawFn) -> list[str]:
    kind = draw(st.integers(0, 4))
    if kind == 0:
        return ["line", "has", "modifier", *modifier_list(draw)]
    if kind == 1:
        return ["claim", "has", "diagnosis", *joined([["Z45.2"], ["E11"]][: draw(st.integers(1, 2))], [","])]
    if kind == 2:
        return ["line.code", *draw(st.sampled_from((["in"], ["not", "in"]))), *draw(items())]
    if kind == 3:
        values = draw(st.lists(st.one_of(STRINGS, DATES, st.integers(0, 99).map(str)), min_size=1, max_size=3))
        return ["claim.plan", "in", "(", *joined([[v] for v in values], [","] * 2), ")"]
    return ["member.age", draw(st.sampled_from(("<", "<=", "=", "!=", ">", ">="))), str(draw(st.integers(0, 99)))]


conditions = st.recursive(
    atoms(),
    lambda inner: st.one_of(
        inner.map(lambda c: ["not", "(", *c, ")"]),
        inner.map(lambda c: ["not", *c]),
        st.tuples(inner, inner, st.sampled_from(("and", "or")), st.booleans()).map(
            lambda t: ["(", *t[0], ")", t[2], "(", *t[1], ")"] if t[3] else [*t[0], t[2], *t[1]]
        ),
    ),
    max_leaves=5,
)


@st.composite
def bodies(draw: st.DrawFn) -> list[str]:
    kind = draw(st.sampled_from((0, 1, 2, 3, 4, 5, 5, 5)))  # `when` thrice as often: conditions nest
    if kind == 0:
        return ["addon", *draw(items()), "requires", *draw(items()), *draw(SCOPES)]
    if kind == 1:
        per = draw(st.sampled_from((["line"], ["day"], ["claim", "by", "the", "same", "provider"])))
        unit = draw(st.sampled_from(("unit", "units")))
        return ["limit", *draw(items()), "to", str(draw(st.integers(0, 9))), unit, "per", *per]
    if kind == 2:
        ranks = [[f"{i}{'st' if i == 1 else 'th'}", draw(st.sampled_from(("with", "without"))), *modifier_list(draw)]
                 for i in range(1, draw(st.integers(1, 4)) + 1)]
        return ["sequence", *draw(items()), *draw(SCOPES), ":", *[t for rank in ranks for t in rank]]
    if kind == 3:
        return ["bundle", *draw(items()), "into", *draw(items()), *draw(SCOPES)]
    if kind == 4:
        bypass = ["unless", "modifier", *modifier_list(draw)] if draw(st.booleans()) else []
        return ["pair", *draw(items()), "with", *draw(items()), *draw(SCOPES), *bypass]
    return ["when", *draw(conditions)]


@st.composite
def clauses(draw: st.DrawFn) -> list[str]:
    kind = draw(st.integers(0, 4))
    if kind <= 1:
        verb = ["deny"] if kind == 0 else ["cut", "back"]
        return [*verb, "CO-151", *draw(st.lists(st.sampled_from(("N362", "M15")), max_size=2)),
                *(["appealable"] if draw(st.booleans()) else [])]
    if kind == 2:
        return ["review", draw(STRINGS)]
    if kind == 3:
        return ["rationale", draw(STRINGS)]
    return ["effective", draw(DATES), *(["until", draw(DATES)] if draw(st.booleans()) else [])]


@st.composite
def pol_test_blocks(draw: st.DrawFn) -> list[str]:
    tokens = ["test", draw(STRINGS), ":"]
    number = 0
    for _ in range(draw(st.integers(1, 2))):
        plan = ["plan", "medicaid"] if draw(st.booleans()) else []
        date = ["on", draw(DATES)] if draw(st.booleans()) else []
        tokens += ["claim", *plan, *date, ":"]
        for _ in range(draw(st.integers(1, 3))):
            number += 1
            units = [f"x{draw(st.integers(1, 9))}"] if draw(st.booleans()) else []
            date = ["on", draw(DATES)] if draw(st.booleans()) else []
            tokens += ["line", str(number), ":", draw(CODE_ITEMS).split("..")[0], *draw(MODS)[:2], *units, *date]
    for line in range(1, number + 1):
        status = draw(st.sampled_from(("paid", "denied", "reduced", "review")))
        tokens += ["expect", "line", str(line), status, *(["CO-4"] if draw(st.booleans()) else [])]
    return tokens


@st.composite
def policy_tokens(draw: st.DrawFn) -> list[str]:
    header = ["policy", draw(NAMES), *([draw(STRINGS)] if draw(st.booleans()) else [])]
    fields = [["plans", "all"], ["plans", "medicaid", ",", "commercial"], ["effective", draw(DATES)],
              ["payer", draw(STRINGS)], ["source", draw(STRINGS)]]
    for field in draw(st.lists(st.sampled_from(fields), max_size=4)):
        header += field
    blocks: list[list[str]] = []
    for kind in draw(st.lists(st.sampled_from((0, 1, 1, 2)), max_size=5)):
        if kind == 0:
            excluded = ["except", *draw(items())] if draw(st.booleans()) else []
            blocks.append(["codes", draw(NAMES), *([draw(STRINGS)] if draw(st.booleans()) else []), "=",
                           *draw(items()), *excluded])
        elif kind == 1:
            rule_clauses = [t for clause in draw(st.lists(clauses(), min_size=1, max_size=3)) for t in clause]
            blocks.append(["rule", draw(NAMES), *([draw(STRINGS)] if draw(st.booleans()) else []), ":",
                           *draw(bodies()), *rule_clauses])
        else:
            blocks.append(draw(pol_test_blocks()))
    return header + [t for block in blocks for t in block]


COMMENT_TEXT = st.text(st.sampled_from('ab #"\\ é'), max_size=10)


@st.composite
def policy_texts(draw: st.DrawFn) -> str:
    """A policy that parses, laid out anyhow: any whitespace and comments between tokens, before and after."""
    tokens = draw(policy_tokens())
    out = [draw(st.sampled_from(("", "# top\n", "# top\n\n")))]
    for token, following in zip(tokens, [*tokens[1:], ""], strict=True):
        out.append(token)
        if following in (",", ":", ")") or token == "(":
            continue  # keep punctuation tight, as analysts write it; layout is free either way
        separator = draw(st.sampled_from((" ", "\n  ", "\n\n", "   ", "#")))
        if separator == "#":
            then = draw(st.sampled_from(("", "  ", "\n", f"# {draw(COMMENT_TEXT)}\n")))
            separator = f" #{draw(COMMENT_TEXT)}\n{then}"
        out.append(separator)
    out.append(draw(st.sampled_from(("\n", "", "\n# end\n", "\n\n# end"))))
    return "".join(out)


# Two thirds of the profile's budget (100 under CI's profile): each example parses the text four times.
@settings(max_examples=settings.default.max_examples * 2 // 3)
@given(policy_texts())
@example("policy p # a\n# b\nrule r: when (line.units > 1) or line has modifier SH # c\n, SJ deny CO-4 # d")
@example('policy p "é\\"" plans all effective 2025-01-01 rule r: when line.units > 1 review "\\\\"')
def test_formatting_any_policy_keeps_its_nodes_and_formatting_twice_changes_nothing(text: str) -> None:
    assert_formats(text)


@settings(max_examples=settings.default.max_examples * 2 // 3)
@given(conditions)
@example(["not", "(", "member.age", "<", "1", "or", "member.age", ">", "5", ")"])
def test_any_condition_prints_back_to_the_same_nodes(condition: list[str]) -> None:
    assert_formats(HEADER + "rule r: when " + " ".join(condition) + " deny CO-4\n")


@settings(max_examples=settings.default.max_examples // 5)
@given(gen.policy_texts())
def test_the_shared_generated_policies_format_to_a_fixed_point_with_the_same_nodes(policy: gen.GeneratedPolicy) -> None:
    assert_formats(policy.text)


# ---------------------------------------------------------------- the command


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    (tmp_path / "sub").mkdir()
    (tmp_path / "tidy.pol").write_text(format_text(HEADER + "rule r: when line.units > 2 deny CO-4"), encoding="utf-8")
    messy = HEADER + "rule r: when line.units > 2 deny CO-4 # keep\n"
    (tmp_path / "sub" / "messy.pol").write_text(messy, encoding="utf-8")
    return tmp_path


def test_check_lists_the_files_that_would_change_exits_1_and_writes_nothing(tree: Path) -> None:
    before = (tree / "sub" / "messy.pol").read_text(encoding="utf-8")
    result = CliRunner().invoke(fmt_command, ["--check", str(tree)])
    assert result.exit_code == 1
    assert "would reformat" in result.output and "messy.pol" in result.output and "tidy.pol" not in result.output
    assert (tree / "sub" / "messy.pol").read_text(encoding="utf-8") == before


def test_fmt_rewrites_in_place_lists_what_changed_and_a_second_run_changes_nothing(tree: Path) -> None:
    first = CliRunner().invoke(fmt_command, [str(tree)])
    assert first.exit_code == 0 and "reformatted" in first.output and "messy.pol" in first.output
    assert (tree / "sub" / "messy.pol").read_text(encoding="utf-8").endswith("  deny CO-4  # keep\n")
    second = CliRunner().invoke(fmt_command, ["--check", str(tree)])
    assert second.exit_code == 0 and "would reformat" not in second.output


def test_diff_shows_the_change_and_writes_nothing(tree: Path) -> None:
    result = CliRunner().invoke(fmt_command, ["--diff", str(tree / "sub")])
    assert result.exit_code == 1
    assert "+rule r:" in result.output and "-rule r: when" in result.output
    assert (tree / "sub" / "messy.pol").read_text(encoding="utf-8").startswith(HEADER)


def test_a_file_that_does_not_parse_is_reported_and_left_untouched(tree: Path) -> None:
    broken = tree / "broken.pol"
    broken.write_text(HEADER + "rule r: limit 99601 to 4 units per day deny CO151\n", encoding="utf-8")
    result = CliRunner().invoke(fmt_command, [str(tree)])
    assert result.exit_code == 1
    assert "error[POL101]: unexpected `CO151`" in result.output
    assert "broken.pol: not formatted, the file was left as it is" in result.output
    assert broken.read_text(encoding="utf-8").endswith("deny CO151\n")
    assert "messy.pol" in result.output  # the other files are still formatted


def test_stdin_is_formatted_to_stdout() -> None:
    result = CliRunner().invoke(fmt_command, ["-"], input="policy p plans all effective 2025-01-01")
    assert result.exit_code == 0
    assert result.output == "policy p\n  plans     all\n  effective 2025-01-01\n"
    assert CliRunner().invoke(fmt_command, ["--check", "-"], input=result.output).exit_code == 0
    assert CliRunner().invoke(fmt_command, ["-"], input="policy").exit_code == 1


def test_a_missing_path_is_a_usage_error() -> None:
    result = CliRunner().invoke(fmt_command, ["no/such.pol"])
    assert result.exit_code == 2 and "no such file or directory" in result.output


def test_a_parse_failure_raises_policy_error_from_the_library() -> None:
    with pytest.raises(PolicyError):
        format_text("policy")


# ---------------------------------------------------------------- tables, overrides and `extends`


def test_table_rules_print_their_files_format_setting_and_scope_canonically() -> None:
    text = (
        'policy p plans all effective 2025-01-01 rule m: mue   table "m.csv"  format cms by the same provider\n'
        'deny CO-151 N362 rule a: addon table "a.csv" on the same day by the same rendering provider deny CO-107\n'
        'rule t: pair table "f1.txt","f2.txt" format cms setting outpatient_hospital on the same day'
        " by the same provider deny CO-236\n"
        'rule u: pair table "p.csv" deny CO-97 M80\n'
    )
    formatted = assert_formats(text)
    assert '  mue table "m.csv" format cms by the same provider\n' in formatted
    assert '  addon table "a.csv" on the same day by the same rendering provider\n' in formatted
    assert ('  pair table "f1.txt", "f2.txt" format cms setting outpatient_hospital on the same day'
            " by the same provider\n") in formatted
    assert '  pair table "p.csv"\n  deny CO-97 M80\n' in formatted


def test_switch_off_rules_and_extends_print_canonically() -> None:
    text = (
        "policy p plans medicaid effective 2025-01-01 extends   a,b , c\n"
        "rule x: switch off mue J7175,J7176 rule y: switch off addon 96160\n"
        "rule z: switch off pair 96365, 96366 with 96360\n"
    )
    formatted = assert_formats(text)
    assert "  extends   a, b, c\n" in formatted
    assert "rule x:\n  switch off mue J7175, J7176\n" in formatted
    assert "rule y:\n  switch off addon 96160\n" in formatted
    assert "rule z:\n  switch off pair 96365, 96366 with 96360\n" in formatted


@pytest.mark.parametrize("path", sorted(Path("examples").rglob("*.pol")), ids=str)
def test_every_example_policy_formats_to_a_fixed_point_with_the_same_nodes(path: Path) -> None:
    source = read_source(path)
    text = verified(source)
    assert format_text(text) == text
