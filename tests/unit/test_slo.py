"""Load scoring: failures buy nothing, saturation never turns a failed stage into credit."""

from __future__ import annotations

from graders.load.slo import percentile, score, slo_rows
from graders.protocol import Slo, Stage

SLO = Slo(p95_ms=150, p99_ms=400, max_error_rate=0.01)


def stage(
    err: float, p95: float | None = 2.0, achieved: float = 150.0, requests: int = 1500
) -> Stage:
    return Stage(
        stage="measured",
        rps_offered=150,
        achieved_rps=achieved,
        requests=requests,
        failures=int(requests * err),
        p50_ms=1.0,
        p95_ms=p95,
        p99_ms=p95,
        error_rate=err,
        generator_cpu=0.95,
    )


def test_a_service_that_answers_everything_with_500_meets_no_slo() -> None:
    # Fast failures: latency over successes is None, and the failed error SLO gates the rest.
    rows = slo_rows(stage(1.0, p95=None), SLO)
    assert not any(r.met for r in rows)
    assert score(rows, 0.0, 150, generator_limited=False) == 0.0
    # Even with fast successes among the failures, an error-rate miss meets nothing.
    rows = slo_rows(stage(0.5, p95=1.0), SLO)
    assert not any(r.met for r in rows)


def test_nothing_measured_is_all_errors() -> None:
    rows = slo_rows(stage(0.0, p95=None, achieved=0.0, requests=0), SLO)
    assert not any(r.met for r in rows)


def test_saturation_never_pays_for_a_failed_stage() -> None:
    failing = slo_rows(stage(0.0, p95=900.0), SLO)  # p95 over its SLO, generator saturated
    assert score(failing, 500.0, 150, generator_limited=True) == 35.0  # 2 of 4 SLOs, no capacity
    passing = slo_rows(stage(0.0), SLO)
    assert score(passing, 150.0, 150, generator_limited=True) == 100.0
    assert score(passing, 150.0, 150, generator_limited=False) == 85.0


def test_percentiles() -> None:
    assert percentile([], 95) is None
    assert percentile([float(i) for i in range(1, 101)], 95) == 95.0
