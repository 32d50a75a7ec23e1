"""Load scoring, stated once: SLO rows of a stage, and the load score (pure functions).

Used by the load generator (inside the grader) and by tests; no gevent, no Locust here.
"""

from __future__ import annotations

import math

from graders.protocol import CounterSpec, FigureResult, Slo, SloRow, Stage

RATE_TOLERANCE = 0.95  # achieved >= 95% of offered counts as keeping up


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1))
    return round(ordered[k], 2)


def slo_rows(stage: Stage, slo: Slo) -> tuple[SloRow, ...]:
    """The four SLOs of a stage. A stage whose error-rate SLO fails meets none of them: fast
    failures must not buy latency or rate credit."""
    errors_met = stage.requests > 0 and stage.error_rate <= slo.max_error_rate
    rate_met = stage.achieved_rps >= RATE_TOLERANCE * stage.rps_offered
    p95_met = stage.p95_ms is not None and stage.p95_ms <= slo.p95_ms
    p99_met = stage.p99_ms is not None and stage.p99_ms <= slo.p99_ms
    gate = errors_met
    return (
        SloRow(
            "rate",
            "throughput",
            stage.achieved_rps,
            round(RATE_TOLERANCE * stage.rps_offered, 2),
            "req/s",
            ">=",
            gate and rate_met,
        ),
        SloRow("p95", "p95 latency", stage.p95_ms, slo.p95_ms, "ms", "<=", gate and p95_met),
        SloRow("p99", "p99 latency", stage.p99_ms, slo.p99_ms, "ms", "<=", gate and p99_met),
        SloRow("errors", "error rate", stage.error_rate, slo.max_error_rate, "", "<=", errors_met),
    )


def meets_all(stage: Stage, slo: Slo) -> bool:
    return all(row.met for row in slo_rows(stage, slo))


def capacity_credit(capacity: float, target: float, reference: float | None = None) -> float:
    """The share (0-1) of the capacity points that a capacity earns, SLOs at target met.

    Half for meeting the SLOs at the target rate; the other half grows with log2(capacity /
    target) and is full at the reference's capacity on this machine (calibrated), else at
    4 x target. On a log scale each step of the knee search's grid (x2^(1/8), 9 %) is worth
    the same: 1/16 of the variable half without calibration (about 0.9 of 30 points), so a
    capacity that lands one grid step apart in two runs moves the score by under a point
    whenever the full mark lies 4 x target or more above it.
    """
    if target <= 0 or capacity <= 0:
        return 0.0
    full = reference if reference is not None and reference > target else 4 * target
    full = max(full, 2 * target)
    grow = math.log2(max(capacity, target) / target) / math.log2(full / target)
    return 0.5 + 0.5 * min(1.0, grow)


def score(
    rows: tuple[SloRow, ...],
    capacity: float,
    target: float,
    generator_limited: bool,
    saved: float | None = None,
    reference: float | None = None,
) -> float:
    """SLOs at the target rate (70 points, equal shares), capacity (30, see capacity_credit).

    Capacity credit needs every SLO met at the target rate. When every stage the service ran
    met its SLOs and the generator, not the service, ran out (``generator_limited``), the
    capacity points are given in full: the candidate is not penalised for our ceiling; a stage
    that failed an SLO is never turned into credit by saturation.

    With a declared counter (e.g. upstream requests), the share of requests it saved takes 20 of
    those points: SLOs 60, capacity 20, saved 20.
    """
    slo_w, cap_w = (70.0, 30.0) if saved is None else (60.0, 20.0)
    slo_part = slo_w * sum(r.met for r in rows) / len(rows)
    slo_met = all(r.met for r in rows)
    if not slo_met:
        cap_part = 0.0
    elif generator_limited:
        cap_part = cap_w
    else:
        cap_part = cap_w * capacity_credit(capacity, target, reference)
    saved_part = 0.0 if saved is None or not slo_met else 20.0 * max(0.0, min(1.0, saved))
    return round(slo_part + cap_part + saved_part, 2)


def figure_result(
    spec: CounterSpec, before: float | None, after: float | None, requests: int
) -> FigureResult:
    """A reported figure over the measured stage: not measured (None) unless read before and
    after and the stage sent requests; never negative (a sidecar restarted in between)."""
    if before is None or after is None or not requests or after < before:
        return FigureResult(label=spec.label, value=None, requests=requests, per_request=None)
    value = after - before
    return FigureResult(
        label=spec.label, value=value, requests=requests, per_request=round(value / requests, 3)
    )
