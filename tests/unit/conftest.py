"""Unit fixtures: a Results object built in code, as a graded run with a load phase would give."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from graders.load.slo import slo_rows
from graders.protocol import LoadResult, LoadSample, Outcome, Slo, Stage
from runner.results import (
    CapturedOutput,
    CheckOutcome,
    Manifest,
    Resources,
    ResourceSample,
    Results,
    Timings,
    Verdict,
    combine,
    correctness,
    score_skills,
)

XSS = '<script>alert("pwned")</script>'
WEIGHTS = {"api": 2.0, "reliability": 1.5, "concurrency": 1.0}


def _stage(name: str, offered: float, achieved: float, p95: float | None, err: float) -> Stage:
    return Stage(
        stage=name,
        rps_offered=offered,
        achieved_rps=achieved,
        requests=int(achieved * 10),
        failures=int(achieved * 10 * err),
        p50_ms=18.2,
        p95_ms=p95,
        p99_ms=310.5,
        error_rate=err,
        generator_cpu=0.93,
    )


def sample_load(seconds: int = 30) -> LoadResult:
    series = []
    cpu = 0.0
    for t in range(1, seconds + 1):
        ramp = min(1.0, t / 5)
        cpu += 0.35 * ramp
        series.append(
            LoadSample(
                t=float(t),
                stage="measured",
                rps=round(200 * ramp + 6 * math.sin(t), 1),
                p50_ms=round(18 + 3 * math.sin(t / 3), 1),
                p95_ms=None if t == 13 else round(60 + 25 * ramp + 12 * math.sin(t / 2), 1),
                errors=1 if t % 11 == 0 else 0,
                users=20,
                generator_cpu=0.5,
                cpu_s=round(cpu, 2),
                mem_mb=40 + t,
            )
        )
    slo = Slo(p95_ms=150, p99_ms=250, max_error_rate=0.01)
    measured = _stage("measured", 200, 196.4, 84.9, 0.0015)
    rows = slo_rows(measured, slo)
    return LoadResult(
        measured=measured,
        target_rps=200,
        users=20,
        slo=slo,
        slo_rows=rows,
        slo_met=all(r.met for r in rows),
        capacity_rps=0.0,
        capacity_is_lower_bound=False,
        generator_saturated=True,
        score=72.5,
        series=tuple(series),
        steps=(
            replace(_stage("step1", 300, 298.1, 95.0, 0.0), ok=True),
            replace(_stage("step2", 450, 441.7, 140.2, 0.002), ok=True),
            replace(_stage("step3", 675, 452.3, 690.0, 0.04), ok=False),
        ),
    )


def make_sample_results(
    *, with_load: bool = True, mode: str = "interviewer", verdict: Verdict = Verdict.GRADED
) -> Results:
    checks = [
        CheckOutcome(
            id="create_order",
            title="POST /orders creates an order and returns 201.",
            skill="api",
            outcome=Outcome.PASSED,
            points=3,
            max_points=3,
            hidden=False,
            duration_s=0.012,
        ),
        CheckOutcome(
            id="list_pagination",
            title="GET /orders paginates with a stable cursor.",
            skill="api",
            outcome=Outcome.FAILED,
            points=0,
            max_points=2,
            hidden=False,
            message=f"expected 20 items on page 2, got 0; body was {XSS} | next",
            duration_s=0.034,
        ),
        CheckOutcome(
            id="idempotency_key",
            title="Retries with the same Idempotency-Key are safe.",
            skill="reliability",
            outcome=Outcome.PASSED,
            points=2,
            max_points=2,
            hidden=True,
            duration_s=0.051,
        ),
        CheckOutcome(
            id="secret_overflow",
            title="Rejects absurd quantities.",
            skill="api",
            outcome=Outcome.FAILED,
            points=0,
            max_points=1,
            hidden=True,
            message="quantity 2**64 accepted\x1b[31m (status 201)\x00",
            duration_s=0.004,
        ),
        CheckOutcome(
            id="concurrent_stock",
            title="Concurrent orders never oversell stock.",
            skill="concurrency",
            outcome=Outcome.ERROR,
            points=0,
            max_points=3,
            hidden=False,
            message="Traceback (most recent call last):\n  ConnectionResetError: peer",
            duration_s=1.5,
        ),
        CheckOutcome(
            id="consistent_after_load",
            title="Totals add up after the load test.",
            skill="reliability",
            outcome=Outcome.SKIPPED,
            points=0,
            max_points=1,
            hidden=False,
            message="no load phase",
            phase="after_load",
        ),
    ]
    skills = score_skills(checks, WEIGHTS)
    correct = correctness(skills)
    load = sample_load() if with_load else None
    load_score = 72.5 if with_load else None
    samples = [
        ResourceSample(
            t=float(t), cpu_s=round(0.3 * t + 0.01 * t * t, 3), mem_mb=30 + 2 * t, pids=4
        )
        for t in range(0, 40, 2)
    ]
    return Results(
        challenge="orders",
        challenge_title="Orders API",
        submission="/subs/alice",
        mode=mode,  # type: ignore[arg-type]
        verdict=verdict,
        verdict_detail="" if verdict == Verdict.GRADED else "exit code 2",
        score=combine(correct, load_score, 0.7, 0.3),
        correctness_score=correct,
        load_score=load_score,
        checks=checks,
        skills=skills,
        timings=Timings(
            build_s=12.3,
            ready_s=1.1,
            checks_s=4.2,
            load_s=45.0 if with_load else 0,
            total_s=63.0 if with_load else 18.0,
        ),
        resources=Resources(
            cpus=1.0,
            memory_limit_mb=256,
            pids_limit=128,
            cpu_s=23.4,
            peak_memory_mb=110.2,
            peak_pids=4,
            samples=samples,
        ),
        build_log_tail="Step 1/4 : FROM python:3.11-slim\nERROR: could not find <pkg>",
        service_log=CapturedOutput(
            text="listening on :8080\n<b>not bold</b> GET /orders 200\n\x1b[32mok\x1b[0m\n",
            total_bytes=70,
            dropped_bytes=0,
        ),
        load=load,
        manifest=Manifest(
            assess_version="0.1.0",
            run_id="20260101-120000-abcdef",
            started_at="2026-01-01T12:00:00+00:00",
            challenge_version="1.2.0",
            seed=7,
            candidate_image="sha256:" + "a" * 64,
            grader_image="sha256:" + "b" * 64,
            grader_code_sha256="c" * 64,
            tools={"python": "3.11.7", "locust": "2.47.0"},
            host={"cpu_model": "Test CPU", "cores": 4, "memory_mb": 8192},
        ),
    )


@pytest.fixture
def sample_results() -> Results:
    return make_sample_results()
