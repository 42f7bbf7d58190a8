"""Tests for policyc.diagnostics: the exact printed form of a diagnostic and of a PolicyError."""

from __future__ import annotations

import pytest

from policyc.diagnostics import Diagnostic, DiagnosticSink, PolicyError, Severity
from policyc.source import SourceFile, Span

TEXT = (
    "policy p\n  plans all\n  effective 2025-01-01\nrule r: addon 99602 requires per_deim on the same day\n"
)
SOURCE = SourceFile("policies/p.pol", TEXT)


def span_of(word: str, text: str = TEXT) -> Span:
    start = text.index(word)
    return Span(start, start + len(word))


def test_render_has_location_gutter_source_line_caret_and_help() -> None:
    diagnostic = Diagnostic(
        "POL201", "unknown code set `per_deim`", SOURCE, span_of("per_deim"), "did you mean `per_diem`?"
    )
    assert diagnostic.render() == (
        "policies/p.pol:4:30: error[POL201]: unknown code set `per_deim`\n"
        "  |\n"
        "4 | rule r: addon 99602 requires per_deim on the same day\n"
        "  |                              ^^^^^^^^\n"
        "  = help: did you mean `per_diem`?"
    )


def test_render_without_help_has_no_help_line() -> None:
    diagnostic = Diagnostic("POL212", "rule `r` has no action", SOURCE, span_of("r:"))
    assert diagnostic.render() == (
        "policies/p.pol:4:6: error[POL212]: rule `r` has no action\n"
        "  |\n"
        "4 | rule r: addon 99602 requires per_deim on the same day\n"
        "  |      ^^"
    )


def test_caret_is_at_least_one_wide_for_an_empty_span() -> None:
    start = TEXT.index("plans")
    rendered = Diagnostic("POL101", "x", SOURCE, Span(start, start)).render()
    assert rendered.splitlines()[3] == "  |   ^"


def test_caret_of_a_span_running_past_its_line_stops_at_the_line_end() -> None:
    start = TEXT.index("effective")
    rendered = Diagnostic("POL211", "x", SOURCE, Span(start, len(TEXT))).render()
    assert rendered.splitlines()[2:4] == [
        "3 |   effective 2025-01-01",
        "  |   " + "^" * len("effective 2025-01-01"),
    ]


def test_two_digit_line_numbers_widen_the_gutter() -> None:
    text = "\n" * 11 + "rule r deny\n"
    source = SourceFile("x.pol", text)
    start = text.index("deny")
    rendered = Diagnostic("POL212", "m", source, Span(start, start + 4), "fix it").render()
    assert rendered.splitlines() == [
        "x.pol:12:8: error[POL212]: m",
        "   |",
        "12 | rule r deny",
        "   |        ^^^^",
        "   = help: fix it",
    ]


def test_warning_prints_its_severity() -> None:
    rendered = Diagnostic("POL299", "m", SOURCE, span_of("plans"), severity=Severity.WARNING).render()
    assert rendered.splitlines()[0] == "policies/p.pol:2:3: warning[POL299]: m"


def test_crlf_source_line_is_printed_without_carriage_return() -> None:
    text = "policy p\r\n  plans al\r\n"
    source = SourceFile("p.pol", text)
    start = text.index(" al") + 1
    rendered = Diagnostic("POL101", "unexpected `al`", source, Span(start, start + 2)).render()
    assert rendered.splitlines() == [
        "p.pol:2:9: error[POL101]: unexpected `al`",
        "  |",
        "2 |   plans al",
        "  |         ^^",
    ]


def test_render_of_an_empty_file_is_the_head_and_help_only() -> None:
    diagnostic = Diagnostic(
        "POL001", "the file cannot be read", SourceFile("gone.pol", ""), Span(0, 0), "check the path"
    )
    assert (
        diagnostic.render()
        == "gone.pol:1:1: error[POL001]: the file cannot be read\n  = help: check the path"
    )


def make(code: str, word: str, severity: Severity = Severity.ERROR) -> Diagnostic:
    return Diagnostic(code, f"about {word}", SOURCE, span_of(word), severity=severity)


def test_policy_error_sorts_diagnostics_by_position() -> None:
    late, early, middle = make("POL201", "per_deim"), make("POL210", "plans"), make("POL211", "effective")
    error = PolicyError([late, early, middle])
    assert error.diagnostics == [early, middle, late]


def test_policy_error_breaks_position_ties_by_code() -> None:
    second, first = make("POL209", "per_deim"), make("POL201", "per_deim")
    assert [d.code for d in PolicyError([second, first]).diagnostics] == ["POL201", "POL209"]


def test_policy_error_render_joins_diagnostics_and_ends_with_the_count() -> None:
    one, two = make("POL210", "plans"), make("POL201", "per_deim")
    error = PolicyError([two, one])
    assert error.render() == one.render() + "\n\n" + two.render() + "\n\n2 errors: nothing was compiled"
    assert str(error) == error.render()


def test_policy_error_counts_the_files_when_there_are_several() -> None:
    other = Diagnostic("POL210", "m", SourceFile("a.pol", TEXT), span_of("plans"))
    error = PolicyError([make("POL210", "plans"), other])
    assert [d.source.name for d in error.diagnostics] == ["a.pol", "policies/p.pol"]
    assert error.render().endswith("\n\n2 errors in 2 files: nothing was compiled")


def test_policy_error_with_one_error_says_error() -> None:
    error = PolicyError([make("POL210", "plans")])
    assert error.render().endswith("\n\n1 error: nothing was compiled")


def test_policy_error_count_leaves_out_warnings() -> None:
    error = PolicyError([make("POL210", "plans"), make("POL299", "effective", Severity.WARNING)])
    assert error.render().endswith("\n\n1 error: nothing was compiled")
    assert len(error.diagnostics) == 2


def test_sink_collects_and_raises_only_for_errors() -> None:
    sink = DiagnosticSink(SOURCE)
    sink.warning("POL299", span_of("plans"), "just a warning")
    assert not sink.has_errors
    sink.raise_if_errors()  # a warning alone does not stop the compiler
    sink.error("POL201", span_of("per_deim"), "unknown", "help")
    assert sink.has_errors
    with pytest.raises(PolicyError) as raised:
        sink.raise_if_errors()
    assert [d.code for d in raised.value.diagnostics] == ["POL299", "POL201"]


def test_caret_stays_under_the_span_on_a_tab_indented_line() -> None:
    text = "policy p\n\t\tdeny CO107\n"
    start = text.index("CO107")
    rendered = Diagnostic(
        "POL101", "unexpected `CO107`", SourceFile("t.pol", text), Span(start, start + 5)
    ).render()
    source_line, caret_line = rendered.splitlines()[2:4]
    shown = source_line.split(" | ", 1)[1].expandtabs()
    carets = caret_line.split(" | ", 1)[1].expandtabs()
    assert carets.index("^") == shown.index("CO107")
