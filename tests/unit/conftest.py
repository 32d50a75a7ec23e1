"""Unit fixtures: a Results object built in code, as a graded run with a load phase would give."""

from __future__ import annotations

import math
from typing import Any

import pytest

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


def sample_load(seconds: int = 30) -> dict[str, Any]:
    series = []
    cpu = 0.0
    for t in range(1, seconds + 1):
        ramp = min(1.0, t / 5)
        cpu += 0.35 * ramp
        series.append(
            {
                "t": float(t),
                "rps": round(200 * ramp + 6 * math.sin(t), 1),
                "p50_ms": round(18 + 3 * math.sin(t / 3), 1),
                "p95_ms": round(60 + 25 * ramp + 12 * math.sin(t / 2), 1),
                "errors": 1 if t % 11 == 0 else 0,
                "users": 20,
                "cpu_s": round(cpu, 2),
                "mem_mb": 40 + t,
            }
        )
    series[12]["p95_ms"] = None  # a gap: no requests finished in that second
    return {
        "target_rps": 200,
        "achieved_rps": 196.4,
        "p50_ms": 18.2,
        "p95_ms": 84.9,
        "p99_ms": 310.5,
        "error_rate": 0.0015,
        "capacity_rps": 450.0,
        "generator_saturated": True,
        "slo_met": False,
        "rate_met": True,
        "p95_met": True,
        "p99_met": False,
        "errors_met": True,
        "slo": {"p95_ms": 150, "p99_ms": 250, "max_error_rate": 0.01},
        "score": 72.5,
        "series": series,
        "steps": [
            {
                "rps_offered": 300,
                "achieved_rps": 298.1,
                "p95_ms": 95.0,
                "error_rate": 0.0,
                "ok": True,
            },
            {
                "rps_offered": 450,
                "achieved_rps": 441.7,
                "p95_ms": 140.2,
                "error_rate": 0.002,
                "ok": True,
            },
            {
                "rps_offered": 675,
                "achieved_rps": 452.3,
                "p95_ms": 690.0,
                "error_rate": 0.04,
                "ok": False,
            },
        ],
    }


def make_sample_results(
    *, with_load: bool = True, mode: str = "interviewer", verdict: Verdict = Verdict.GRADED
) -> Results:
    checks = [
        CheckOutcome(
            id="create_order",
            title="POST /orders creates an order and returns 201.",
            skill="api",
            outcome="passed",
            points=3,
            max_points=3,
            hidden=False,
            duration_s=0.012,
        ),
        CheckOutcome(
            id="list_pagination",
            title="GET /orders paginates with a stable cursor.",
            skill="api",
            outcome="failed",
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
            outcome="passed",
            points=2,
            max_points=2,
            hidden=True,
            duration_s=0.051,
        ),
        CheckOutcome(
            id="secret_overflow",
            title="Rejects absurd quantities.",
            skill="api",
            outcome="failed",
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
            outcome="error",
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
            outcome="skipped",
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
