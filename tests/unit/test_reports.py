"""The HTML, JUnit and Markdown views of a Results object built in code."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import pytest

from runner.reports import html, junit, markdown, write_all
from runner.results import Results, Verdict
from tests.unit.conftest import XSS, make_sample_results

SLO_CASES = 4  # p95, p99, error_rate, rate
VERDICT_CASES = 1


def render_html(results: Results, tmp_path: Path) -> str:
    path = tmp_path / "report.html"
    html.write(results, path)
    return path.read_text(encoding="utf-8")


# ----------------------------------------------------------------------------- HTML


def test_html_shows_verdict_and_score(sample_results: Results, tmp_path: Path) -> None:
    page = render_html(sample_results, tmp_path)
    assert page.startswith("<!DOCTYPE html>")
    assert 'data-verdict="graded"' in page
    assert ">Graded<" in page
    assert f'id="score">{sample_results.score:.1f}<' in page
    assert "Orders API" in page
    for skill in sample_results.skills:
        assert skill.skill in page


def test_html_escapes_attacker_text(sample_results: Results, tmp_path: Path) -> None:
    page = render_html(sample_results, tmp_path)
    assert "<script" not in page.lower()
    assert "&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt;" in page
    assert "<b>not bold</b>" not in page  # from the service log
    assert "&lt;b&gt;not bold&lt;/b&gt;" in page
    assert "\x1b" not in page
    assert "\x00" not in page


def test_html_is_self_contained(sample_results: Results, tmp_path: Path) -> None:
    page = render_html(sample_results, tmp_path)
    assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", page)
    assert "@import" not in page
    assert "<link" not in page


def test_html_has_charts_when_a_series_exists(sample_results: Results, tmp_path: Path) -> None:
    page = render_html(sample_results, tmp_path)
    for chart in ("rps", "latency", "cpu", "memory"):
        assert f'data-chart="{chart}"' in page
    assert page.count("<svg") == 4
    assert "<polyline" in page
    assert "SLOs not met" in page  # p99 310.5 ms over its 250 ms SLO: no capacity credit
    assert "p95 SLO 150 ms" in page


def test_html_has_no_load_charts_without_load(tmp_path: Path) -> None:
    results = make_sample_results(with_load=False)
    page = render_html(results, tmp_path)
    assert 'data-chart="rps"' not in page
    assert 'data-chart="latency"' not in page
    assert 'id="load"' not in page
    # resource charts come from the sandbox's samples, not the load phase
    assert 'data-chart="memory"' in page
    assert results.resources is not None
    bare = results.model_copy(
        update={"resources": results.resources.model_copy(update={"samples": []})}
    )
    assert "<svg" not in render_html(bare, tmp_path)


def test_html_load_with_missing_figures(tmp_path: Path) -> None:
    results = make_sample_results()
    assert results.load is not None
    nothing = replace(
        results.load.measured, requests=0, p50_ms=None, p95_ms=None, p99_ms=None, error_rate=1.0
    )
    results.load = replace(results.load, measured=nothing, series=(), steps=())
    page = render_html(results, tmp_path)
    assert 'id="load"' in page
    assert 'data-chart="rps"' not in page


def test_html_marks_hidden_checks_for_interviewers(sample_results: Results, tmp_path: Path) -> None:
    page = render_html(sample_results, tmp_path)
    assert 'id="check-idempotency_key"' in page
    assert 'id="check-secret_overflow"' in page
    assert page.count('class="tag hidden">hidden<') == 2


def test_html_candidate_mode_omits_hidden_checks(tmp_path: Path) -> None:
    page = render_html(make_sample_results(mode="candidate"), tmp_path)
    assert "idempotency_key" not in page
    assert "secret_overflow" not in page
    assert 'id="check-list_pagination"' in page
    assert "2 hidden checks not listed" in page


def test_html_build_failure_shows_build_log(tmp_path: Path) -> None:
    page = render_html(make_sample_results(verdict=Verdict.BUILD_FAILED), tmp_path)
    assert ">Build failed<" in page
    assert 'id="build-log"' in page
    assert "could not find &lt;pkg&gt;" in page
    assert 'id="build-log"' not in render_html(make_sample_results(), tmp_path)


def test_html_crash_puts_service_log_first(tmp_path: Path) -> None:
    page = render_html(make_sample_results(verdict=Verdict.CRASHED), tmp_path)
    assert page.index('id="service-log"') < page.index('id="checks"')


def test_nice_ticks() -> None:
    assert html.nice_ticks(0, 212) == [0, 50, 100, 150, 200, 250]
    assert html.nice_ticks(0, 0) == [0, 0.2, 0.4, 0.6, 0.8, 1.0]
    ticks = html.nice_ticks(3, 37, 6)
    assert ticks[0] <= 3
    assert ticks[-1] >= 37


def test_line_chart_escapes_labels_and_handles_empty() -> None:
    assert html.line_chart([html.Line("x", [(0, None)], "#000")], title="t", y_unit="u") == ""
    svg = html.line_chart([html.Line("<i>", [(0, 1.0), (1, 2.0)], "#000")], title="<t>", y_unit="u")
    assert svg.startswith("<svg")
    assert "<i>" not in svg
    assert "&lt;i&gt;" in svg


# ----------------------------------------------------------------------------- JUnit


def parse_junit(results: Results, tmp_path: Path) -> ET.Element:
    path = tmp_path / "junit.xml"
    junit.write(results, path)
    root = ET.parse(path).getroot()
    suites = root.findall("testsuite")
    assert len(suites) == 1
    return suites[0]


def test_junit_counts(sample_results: Results, tmp_path: Path) -> None:
    suite = parse_junit(sample_results, tmp_path)
    assert suite.get("name") == "assess.orders"
    cases = suite.findall("testcase")
    assert len(cases) == len(sample_results.checks) + SLO_CASES + VERDICT_CASES
    assert suite.get("tests") == str(len(cases))
    # checks: list_pagination + secret_overflow failed, p99 SLO not met
    assert suite.get("failures") == "3"
    assert suite.get("errors") == "1"
    assert suite.get("skipped") == "1"
    assert len(suite.findall("testcase/failure")) == 3
    props = {p.get("name"): p.get("value") for p in suite.findall("properties/property")}
    assert props["verdict"] == "graded"
    assert float(props["score"] or "nan") == pytest.approx(sample_results.score)


def test_junit_case_names(sample_results: Results, tmp_path: Path) -> None:
    suite = parse_junit(sample_results, tmp_path)
    names = {(c.get("classname"), c.get("name")) for c in suite.findall("testcase")}
    assert ("orders.api", "list_pagination") in names
    assert ("orders.reliability", "idempotency_key") in names
    assert {n for cls, n in names if cls == "orders.slo"} == {"p95", "p99", "error_rate", "rate"}
    assert ("orders.run", "verdict") in names
    failing = suite.find("testcase[@name='list_pagination']/failure")
    assert failing is not None
    assert XSS in (failing.get("message") or "")
    assert suite.find("testcase[@name='verdict']/failure") is None


def test_junit_verdict_case_fails_when_not_graded(tmp_path: Path) -> None:
    suite = parse_junit(
        make_sample_results(with_load=False, verdict=Verdict.BUILD_FAILED), tmp_path
    )
    failure = suite.find("testcase[@name='verdict']/failure")
    assert failure is not None
    assert (failure.get("message") or "").startswith("build_failed")
    assert "could not find <pkg>" in (failure.text or "")
    assert len(suite.findall("testcase")) == 6 + VERDICT_CASES  # no load: no SLO cases


def test_junit_survives_control_characters(tmp_path: Path) -> None:
    results = make_sample_results(verdict=Verdict.CRASHED)
    results.service_log.text = "bad \x00\x01\x1b[31mred\x1b[0m \ufffe bytes\n"
    results.checks[1] = replace(results.checks[1], message="nul \x00 here")
    suite = parse_junit(results, tmp_path)  # parses: invalid XML characters were dropped
    failure = suite.find("testcase[@name='verdict']/failure")
    assert failure is not None
    assert "bad red  bytes" in (failure.text or "")


def test_junit_candidate_mode_omits_hidden(tmp_path: Path) -> None:
    suite = parse_junit(make_sample_results(mode="candidate"), tmp_path)
    names = {c.get("name") for c in suite.findall("testcase")}
    assert "idempotency_key" not in names
    assert "secret_overflow" not in names
    assert len(names) == 4 + SLO_CASES + VERDICT_CASES


# ----------------------------------------------------------------------------- Markdown


def test_markdown_summary(sample_results: Results, tmp_path: Path) -> None:
    path = tmp_path / "summary.md"
    markdown.write(sample_results, path)
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    assert len(lines) < 60
    assert f"{sample_results.score:.1f}/100" in lines[0]
    assert "graded" in lines[0]
    assert "| skill | weight | passed | points | % |" in text
    assert "| api | 2 | 1/3 | 3/6 | 50 |" in text
    row = next(line for line in lines if "list_pagination" in line)
    # candidate text is one code span (literal: no HTML, links or mentions; tests in
    # test_markdown_hostile.py), its own "|" escaped so the table holds
    assert row.endswith('body was <script>alert("pwned")</script> \\| next` |')
    assert row.split(" | ")[-1].startswith("`expected 20 items")
    assert row.count(" | ") == 3
    assert "create_order" not in text  # only checks not passed are listed
    assert "| p99 latency | 310.5 ms | ≤ 250 ms | ❌ |" in text
    assert "none: the SLOs were not met at the target rate" in text
    assert "total 63.0s" in lines[-1]


def test_markdown_truncates_long_messages() -> None:
    results = make_sample_results(with_load=False)
    results.checks[1] = replace(results.checks[1], message="x" * 1000)
    text = markdown.render(results)
    row = next(line for line in text.splitlines() if "list_pagination" in line)
    assert "x" * 200 not in row
    assert "x" * 199 + "…" in row
    assert "### Load" not in text


def test_markdown_candidate_mode(tmp_path: Path) -> None:
    text = markdown.render(make_sample_results(mode="candidate"))
    assert "secret_overflow" not in text
    assert "2 hidden checks not listed." in text


def test_write_all_uses_every_writer(sample_results: Results, tmp_path: Path) -> None:
    kinds = ("json", "html", "junit", "markdown")
    written = write_all(sample_results, {k: tmp_path / f"out.{k}" for k in kinds})
    assert len(written) == len(kinds)
    assert all(p.stat().st_size > 0 for p in written)
