"""Reports that explain lost load points: failures by request name and message, SLOs voided by
the error rate said once, the capacity's failed stage naming the SLO it missed."""

from __future__ import annotations

import io
from dataclasses import replace

from rich.console import Console

from graders.load.failures import MAX_GROUPS, OTHER_MESSAGES, FailureGroups
from graders.load.slo import slo_rows
from graders.protocol import LoadResult, NameStats, Outcome, Slo
from runner.reports import loadview, markdown, terminal
from tests.unit.conftest import make_sample_results, sample_load


def failing_window() -> FailureGroups:
    w = FailureGroups()
    for i in range(376):
        w.add("GET /desks/[id]", "CatchResponseError", f"get desk {i}: no ETag")
    for _ in range(4):
        w.add("POST /bookings", "ConnectionResetError", "[Errno 104] Connection reset\r\n")
    return w


def test_failures_group_by_name_and_message_with_the_first_example() -> None:
    groups = failing_window().result()
    assert [(g.name, g.kind, g.message, g.count) for g in groups] == [
        ("GET /desks/[id]", "CatchResponseError", "get desk #: no ETag", 376),
        ("POST /bookings", "ConnectionResetError", "[Errno #] Connection reset", 4),
    ]
    assert groups[0].example == "get desk 0: no ETag"
    assert "\r" not in groups[1].example


def test_groups_survive_the_wire_and_merge() -> None:
    merged = FailureGroups()
    merged.merge(FailureGroups.from_wire(failing_window().to_wire()))
    merged.merge(failing_window())
    assert [g.count for g in merged.result()] == [752, 8]


def test_a_flood_of_distinct_messages_is_bounded() -> None:
    w = FailureGroups()
    for i in range(MAX_GROUPS + 30):
        w.add("GET /x", "CatchResponseError", f"bad {'ab'[i % 2] * (i + 1)}")
    groups = w.result()
    assert len(groups) == MAX_GROUPS + 1
    assert any(g.message == OTHER_MESSAGES and g.count == 30 for g in groups)


def voided_load() -> LoadResult:
    """376 of 415 requests failed fast: throughput and latency look fine but do not count."""
    base = sample_load()
    measured = replace(
        base.measured,
        rps_offered=150.0,
        achieved_rps=194.8,
        requests=419,
        failures=380,
        error_rate=round(380 / 419, 4),
        p95_ms=1.2,
        p99_ms=2.0,
        failure_groups=failing_window().result(),
        by_name={"GET /desks/[id]": NameStats(415, 376), "POST /bookings": NameStats(4, 4)},
    )
    rows = slo_rows(measured, base.slo)
    return replace(base, measured=measured, slo_rows=rows, slo_met=False, target_rps=150.0)


def test_a_failed_error_rate_voids_the_other_slos_once() -> None:
    rows = loadview.rows(voided_load())
    void = [r for r in rows if r.key == "void"]
    assert len(void) == 1
    assert void[0].measured.startswith("error rate 90.7 % > 1 %")
    assert void[0].met is False
    p95 = next(r for r in rows if r.key == "p95")
    assert (p95.met, p95.measured) == (None, "1.2 ms (void)")  # not "not met": void
    failed = [r for r in rows if r.key == "failure"]
    assert failed[0].figure == "failed: GET /desks/[id]"
    assert failed[0].measured.startswith("376 of 415 · CatchResponseError: get desk #: no ETag")
    assert "(first: get desk 0: no ETag)" in failed[0].measured


def test_every_report_names_the_failures_and_the_void() -> None:
    results = make_sample_results()
    results = results.model_copy(update={"load": voided_load()})
    out = io.StringIO()
    Console(file=out, width=80).print(terminal.render_load(voided_load()))
    md = markdown.render(results)
    from runner.reports import html, junit

    page = html.render(results)
    import xml.etree.ElementTree as ET

    xml = ET.tostring(junit.build(results).getroot(), encoding="unicode")
    for text in (out.getvalue(), md, page):
        assert "SLOs void" in text
        assert "no ETag" in text
    assert "no ETag" in xml


def test_the_capacity_row_names_the_slo_the_upper_stage_missed() -> None:
    load = sample_load()
    slo = Slo(p95_ms=150, p99_ms=250, max_error_rate=0.01)
    upper = replace(load.steps[-1], p99_ms=200.0)  # step3: 675 offered, p95 690 ms, 4 % errors
    load = replace(
        load,
        slo_met=True,
        capacity_rps=441.7,
        capacity_lower_rps=450.0,
        capacity_upper_rps=675.0,
        capacity_stop="service",
        steps=(*load.steps[:-1], upper),
    )
    assert loadview.stage_missed(upper, slo) == "errors 4.0 % > 1 %"
    p95_only = replace(upper, error_rate=0.0, failures=0)
    assert loadview.stage_missed(p95_only, slo) == "rate 452 req/s < 641 req/s, p95 690 ms > 150 ms"
    text = loadview.capacity_row(load).measured
    assert "achieved at 450 req/s offered" in text
    assert "675 req/s offered missed errors 4.0 % > 1 % (the search's upper bound)" in text


def test_the_score_notes_say_why_load_lost_points() -> None:
    from runner.grading.verdict import load_note

    note = load_note(replace(voided_load(), score=0.0))
    assert note == (
        "load 0/100: at the target rate 150 req/s the SLOs are void (error rate 90.7 % > 1 %); "
        "most failures: GET /desks/[id]: get desk #: no ETag (376)"
    )


def test_a_skipped_load_phase_is_said_with_what_the_score_covers() -> None:
    from tests.unit.test_fail_closed import grade, infos

    r = grade(infos(2), dict.fromkeys(("c0", "c1"), Outcome.PASSED))  # rest-api, no load planned
    assert r.load_requested is False
    assert (
        "load skipped (--skip-load): the score is correctness alone; "
        "a full run weighs load 30 % of the score"
    ) in r.score_notes
    out = io.StringIO()
    Console(file=out, width=80).print(terminal.render(r))
    assert "load skipped (--skip-load)" in out.getvalue().replace("\n│ ", " ")
    assert "load skipped (--skip-load)" in markdown.render(r)


def test_a_crash_before_the_checks_were_listed_counts_them_all() -> None:
    """ "checks 0/49", not "0/0": the check files are read when the grader never listed them."""
    from runner.challenges.checkscan import scan
    from runner.grading.events import Stop
    from runner.grading.verdict import assemble_results, decide_verdict
    from runner.results import Verdict
    from tests.unit.test_fail_closed import BASE, CHALLENGE, plan, pump_of

    pump = pump_of()
    stop = Stop(Verdict.CRASHED, "exited before it was ready")
    verdict, detail = decide_verdict(pump, stop, None)
    r = assemble_results(BASE, plan(), pump, verdict, detail)
    total = len(scan(CHALLENGE.root / "checks"))
    assert total > 40
    assert len(r.checks) == total
    assert {c.outcome for c in r.checks} == {"not_run"}
    out = io.StringIO()
    Console(file=out, width=80).print(terminal.render(r))
    assert f"0/{total}" in out.getvalue()


def test_identical_not_run_reasons_fold_into_one_line() -> None:
    from runner.grading.events import Stop
    from runner.grading.verdict import assemble_results, decide_verdict
    from runner.results import Verdict
    from tests.unit.test_fail_closed import BASE, plan, pump_of

    pump = pump_of()
    why = "the service listens on 9000, the contract is 8080"
    verdict, detail = decide_verdict(pump, Stop(Verdict.NOT_READY, why), None)
    r = assemble_results(BASE, plan(), pump, verdict, detail)
    out = io.StringIO()
    Console(file=out, width=80).print(terminal.render(r))
    text = out.getvalue()
    reason = r.checks[0].message
    assert all(c.message == reason for c in r.checks)
    assert text.count("never became ready") == 1, text  # one line, not 49 blocks
    assert f"{len(r.checks)} checks not run" in text
    md = markdown.render(r)
    assert md.count(reason) == 1
    assert f"{len(r.checks)} checks not run" in md


def test_a_crash_puts_the_service_log_tail_in_the_markdown_summary() -> None:
    from runner.results import CapturedOutput, Verdict

    log = "starting\n" + "x\n" * 30 + 'Traceback (most recent call last):\n  File "app.py"\n'
    log += "KeyError: 'PORT' ```` @someone <img src=x>\n"
    r = make_sample_results(with_load=False, verdict=Verdict.CRASHED).model_copy(
        update={"service_log": CapturedOutput(text=log, total_bytes=len(log))}
    )
    md = markdown.render(r)
    assert "**Service log (tail):**" in md
    assert "KeyError: 'PORT'" in md
    assert "starting" not in md  # the tail only
    block = md.split("**Service log (tail):**")[1]
    fence = block.strip().splitlines()[0].removesuffix("text")
    assert len(fence) > 4  # longer than the service's own run of backticks
    assert block.count(fence) == 2


def test_the_ci_summary_shows_the_threshold_first_and_never_heads_a_failure_green() -> None:
    from runner.reports.markdown import ci_annotations

    r = make_sample_results(with_load=False).model_copy(
        update={"score": 85.0, "critical_failed": ["no_double_booking"]}
    )
    failing = markdown.render(r, fail_under=90)
    head = failing.splitlines()
    assert head[0].startswith("## 🔴")  # 85 alone would be green
    assert head[2] == "**❌ fails --fail-under 90: score 85.0**"
    passing = markdown.render(r, fail_under=80).splitlines()
    assert passing[0].startswith("## 🟢")
    assert passing[2] == "**✅ passes --fail-under 80 (score 85.0)**"
    assert "fail-under" not in markdown.render(r)
    notes = ci_annotations(r, 90)
    assert notes[0] == "::error title=assess " + r.challenge + "::fails --fail-under 90: score 85.0"
    assert notes[1].startswith("::error title=assess critical check::no_double_booking did not")
    assert ci_annotations(r, 80) == notes[1:]


def test_an_uncalibrated_capacity_that_cost_points_is_said_with_the_fix() -> None:
    from runner.grading.verdict import uncalibrated_note

    load = replace(sample_load(), slo_met=True, capacity_rps=258.0, target_rps=100.0)
    assert uncalibrated_note(load, "realtime") == (
        "capacity 258 req/s judged against 4 x target (400 req/s) because this machine is not "
        "calibrated for realtime: run `assess calibrate realtime` to judge it against the "
        "reference's capacity here"
    )
    assert uncalibrated_note(replace(load, capacity_rps=450.0), "realtime") == ""
    assert uncalibrated_note(replace(load, generator_limited=True), "realtime") == ""


def test_identical_failures_fold_too_but_distinct_ones_stay() -> None:
    from graders.protocol import CheckResult
    from runner.results import Verdict

    refused = "GET /x: connection failed (ConnectionRefusedError: [Errno 111] Connection refused)"
    checks = [
        CheckResult(f"c{i}", f"check {i}", "basics", Outcome.FAILED, 0.0, 1.0, message=refused)
        for i in range(5)
    ] + [CheckResult("odd", "odd", "basics", Outcome.FAILED, 0.0, 1.0, message="wrong body")]
    r = make_sample_results(with_load=False, verdict=Verdict.CRASHED).model_copy(
        update={"checks": checks}
    )
    out = io.StringIO()
    Console(file=out, width=100).print(terminal.render(r))
    text = out.getvalue()
    assert text.count("Connection refused") == 1
    assert "5 checks failed" in text
    assert "wrong body" in text
    md = markdown.render(r)
    assert md.count("Connection refused") == 1
    assert "5 checks failed" in md


def test_reported_figures_are_per_request_and_never_scored() -> None:
    """[[load.figures]] (the data challenge's statements per request): read before and after the
    measured stage, shown per request in every report; unreadable, or a sidecar restarted in
    between (the figure went down), is 'not measured', never a figure; the load score ignores
    them."""
    from graders.load.slo import figure_result
    from graders.protocol import CounterSpec

    spec = CounterSpec(sidecar="db", path="/control/stats", field="total", label="statements")
    ok = figure_result(spec, 1000.0, 1600.0, 200)
    assert (ok.value, ok.per_request) == (600.0, 3.0)
    for before, after, requests in ((None, 5.0, 10), (5.0, None, 10), (5.0, 1.0, 10), (1, 5, 0)):
        assert figure_result(spec, before, after, requests).per_request is None
    gone = figure_result(spec, None, 3.0, 200)
    load = replace(sample_load(), figures=(ok, gone))
    assert load.score == sample_load().score
    out = io.StringIO()
    Console(file=out, width=80).print(terminal.render_load(load))
    text = out.getvalue()
    results = make_sample_results().model_copy(update={"load": load})
    md = markdown.render(results)
    for shown in (text, md):
        assert "statements per request" in shown
        assert "not measured" in shown
