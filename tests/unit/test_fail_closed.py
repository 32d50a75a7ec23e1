"""Failing closed: what was not measured earns nothing, and cutting a run short never raises the
score. The host's verdict and results assembly are driven here with real grader events."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from graders.protocol import (
    CheckEvent,
    CheckInfo,
    CheckResult,
    DoneEvent,
    ErrorEvent,
    LoadPlan,
    LoadResultEvent,
    Outcome,
    Plan,
    PlannedEvent,
    ReadyEvent,
    Slo,
    encode_event,
)
from runner.batch.jobs import Row, rank_key
from runner.challenges.registry import load_challenge
from runner.commands import exit_code_for
from runner.errors import ExitCode
from runner.grading.events import EventPump, Stop
from runner.grading.verdict import Base, CandidateFacts, assemble_results, decide_verdict
from runner.results import CRITICAL_CAP, Manifest, Resources, Results, Verdict
from tests.conftest import ROOT
from tests.unit.conftest import sample_load

CHALLENGE = load_challenge(ROOT / "challenges" / "rest-api")  # correctness 0.7, load 0.3
BASE = Base(
    challenge=CHALLENGE,
    submission="sub",
    mode="interviewer",
    manifest=Manifest(
        assess_version="0", run_id="r", started_at="t", challenge_version="0.1.0", seed=1
    ),
)


def plan(with_load: bool = False) -> Plan:
    load = LoadPlan(target_rps=10, slo=Slo(100, 200)) if with_load else None
    return Plan(service_url="http://127.0.0.1:8080", challenge_dir="c", results_path="r", load=load)


def infos(n: int, critical: int = -1) -> list[CheckInfo]:
    return [
        CheckInfo(f"c{i}", f"check {i}", "basics", 1.0, critical=i == critical) for i in range(n)
    ]


def pump_of(*events: Any) -> EventPump:
    pump = EventPump({}, lambda e: None)
    for ev in events:
        pump.feed(encode_event(ev, 0))
    return pump


def grade(
    checks: list[CheckInfo],
    outcomes: dict[str, Outcome],
    *,
    stop: Stop | None = None,
    done: bool = True,
    with_load: bool = False,
    load_done: bool = True,
    extra: tuple[Any, ...] = (),
    cand: CandidateFacts | None = None,
) -> Results:
    events: list[Any] = [PlannedEvent(tuple(checks)), ReadyEvent(True, 0.1)]
    events += [
        CheckEvent(CheckResult.from_info(c, outcomes[c.id])) for c in checks if c.id in outcomes
    ]
    if with_load and load_done:
        events.append(LoadResultEvent(replace(sample_load(3), score=60.0)))
    events += list(extra)
    if done:
        events.append(DoneEvent())
    pump = pump_of(*events)
    verdict, detail = decide_verdict(pump, stop, cand)
    return assemble_results(BASE, plan(with_load), pump, verdict, detail)


def test_a_check_that_never_ran_is_listed_and_earns_nothing() -> None:
    checks = infos(4)
    r = grade(
        checks,
        {"c0": Outcome.PASSED, "c1": Outcome.PASSED},
        stop=Stop(Verdict.TIMEOUT, "the checks phase exceeded its limit of 30 s"),
        done=False,
    )
    assert r.verdict == Verdict.TIMEOUT
    assert [c.outcome for c in r.checks] == ["passed", "passed", "not_run", "not_run"]
    assert "exceeded its limit" in r.checks[2].message
    assert r.score == 50.0
    assert r.not_run == 2
    assert any("2 checks not run" in n for n in r.score_notes)


def test_a_grader_that_stops_without_done_is_an_error_not_graded() -> None:
    r = grade(infos(2), {"c0": Outcome.PASSED, "c1": Outcome.PASSED}, done=False)
    assert r.verdict == Verdict.ERROR
    assert exit_code_for(r, None)[0] == ExitCode.INFRA


def test_a_grader_error_event_makes_the_verdict_error() -> None:
    r = grade(infos(1), {"c0": Outcome.PASSED}, extra=(ErrorEvent("locustfile broken", "load"),))
    assert (r.verdict, r.verdict_detail) == (Verdict.ERROR, "locustfile broken")
    assert r.grader_errors == ["locustfile broken"]


def test_no_planned_checks_is_an_error() -> None:
    pump = pump_of(ReadyEvent(True, 0.1), DoneEvent())
    assert decide_verdict(pump, None, None)[0] == Verdict.ERROR


def test_a_requested_load_phase_without_result_scores_zero_and_says_why() -> None:
    with_result = grade(infos(2), dict.fromkeys(("c0", "c1"), Outcome.PASSED), with_load=True)
    without = grade(
        infos(2),
        dict.fromkeys(("c0", "c1"), Outcome.PASSED),
        with_load=True,
        load_done=False,
        extra=(ErrorEvent("the load generator produced no result after 40 s", "load"),),
    )
    assert with_result.load_score == 60.0
    assert with_result.verdict == Verdict.GRADED
    assert without.load_score == 0.0
    assert without.load is None
    assert "produced no result" in without.load_missing
    assert without.score < with_result.score
    assert any("load scored 0" in n for n in without.score_notes)


def test_a_failed_critical_check_caps_the_score() -> None:
    checks = infos(10, critical=3)
    outcomes = {c.id: Outcome.PASSED for c in checks}
    outcomes["c3"] = Outcome.FAILED
    r = grade(checks, outcomes)
    assert r.score == CRITICAL_CAP
    assert r.critical_failed == ["c3"]
    assert r.correctness_score == 90.0


def test_a_service_at_its_pids_limit_is_told_so() -> None:
    pump = pump_of(PlannedEvent(tuple(infos(1))), ReadyEvent(True, 0.1), DoneEvent())
    verdict, detail = decide_verdict(pump, None, None)

    def notes(peak: int) -> list[str]:
        res = Resources(cpus=1.0, memory_limit_mb=512, pids_limit=256, peak_pids=peak)
        return assemble_results(BASE, plan(), pump, verdict, detail, resources=res).score_notes

    assert any("used 251 of its 256 processes and threads" in n for n in notes(251))
    assert not any("pids" in n for n in notes(200))


def test_tampering_scores_zero() -> None:
    r = grade(infos(1), {"c0": Outcome.PASSED}, stop=Stop(Verdict.TAMPERED, "port taken"))
    assert (r.verdict, r.score) == (Verdict.TAMPERED, 0.0)


def test_an_exit_during_the_last_check_is_a_crash() -> None:
    cand = CandidateFacts(state={"Status": "exited", "ExitCode": 1}, exited_in="after_load")
    r = grade(infos(1), {"c0": Outcome.PASSED}, cand=cand)
    assert r.verdict == Verdict.CRASHED
    assert "after_load" in r.verdict_detail


def test_a_child_killed_by_the_oom_killer_is_a_resource_limit() -> None:
    cand = CandidateFacts(state={"Status": "running", "OOMKilled": False}, oom_kills=2)
    r = grade(infos(1), {"c0": Outcome.PASSED}, cand=cand)
    assert r.verdict == Verdict.RESOURCE_LIMIT
    assert "2 processes" in r.verdict_detail


def test_fail_under_fails_every_verdict_but_graded() -> None:
    r = grade(infos(1), {"c0": Outcome.PASSED})
    assert exit_code_for(r, 50)[0] == ExitCode.OK
    timed_out = r.model_copy(update={"verdict": Verdict.TIMEOUT})
    code, why = exit_code_for(timed_out, 50)
    assert code == ExitCode.BELOW_THRESHOLD
    assert "timeout" in why
    assert exit_code_for(timed_out, None)[0] == ExitCode.OK


def test_batch_ranks_non_graded_runs_last() -> None:
    rows = [Row("a", "timeout", 100.0), Row("b", "graded", 40.0), Row("c", "error", 99.0)]
    assert [r.name for r in sorted(rows, key=rank_key)] == ["b", "a", "c"]


outcome_st = st.sampled_from([Outcome.PASSED, Outcome.FAILED, Outcome.ERROR])


@settings(max_examples=200, deadline=None)
@given(
    n=st.integers(1, 12),
    data=st.data(),
    with_load=st.booleans(),
)
def test_cutting_any_phase_short_never_raises_the_score(
    n: int, data: st.DataObject, with_load: bool
) -> None:
    critical = data.draw(st.integers(-1, n - 1))
    checks = infos(n, critical)
    full = {c.id: data.draw(outcome_st) for c in checks}
    finished = grade(checks, full, with_load=with_load)
    # The same service, stopped at any point: a prefix of its checks reported, and the load
    # phase done or not, for any reason the host may stop.
    cut = data.draw(st.integers(0, n))
    reason = data.draw(
        st.sampled_from(
            [
                Stop(Verdict.TIMEOUT, "the checks phase exceeded its limit"),
                Stop(Verdict.ERROR, "interrupted"),
                None,
            ]
        )
    )
    load_done = with_load and cut == n and data.draw(st.booleans())
    shortened = grade(
        checks,
        {c.id: full[c.id] for c in checks[:cut]},
        stop=reason,
        done=False,
        with_load=with_load,
        load_done=load_done,
    )
    assert shortened.score <= finished.score
    assert len(shortened.checks) == len(finished.checks) == n
    assert shortened.verdict != Verdict.GRADED
