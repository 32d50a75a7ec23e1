"""The knee search: the highest offered rate at which a service meets every SLO (pure logic).

The load generator hands :func:`search` one seam, ``run_stage(rate) -> Stage``, which runs one
stage at that offered rate; tests hand it a fake. The search:

1. steps up geometrically from the rate already met (``factor``, x2 by default) until a stage
   misses an SLO, the generator saturates, or the budget would be overrun by the next stage; a
   first failure in this phase is run once more before it is believed (one noisy second must
   not halve a capacity);
2. bisects, geometrically, between the last passing and the first failing rate until they are
   within ``resolution`` (10 %) of each other, or the budget runs out.

Rates lie on a fixed grid (start x 2^(k/8) with the defaults), so two runs of a stable service
land on the same rate or a neighbouring one: the figure is quantised by construction.

``stop`` says what ended the search: ``service`` (a stage missed an SLO), ``generator`` (the
stage that ended it had the generator saturated, by CPU or by its own lag: what lies above is
unknown) or ``budget``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

from graders.protocol import LoadPlan, Slo, Stage
from graders.slo import meets_all

StopReason = Literal["service", "generator", "budget"]
SATURATION_CPU = 0.90  # share of one core above which the generator, not the service, limits
LAG_SHARE = 0.20  # generator lag above this share of the p95 SLO: the generator limits


@dataclass(frozen=True)
class SearchParams:
    factor: float = 2.0
    resolution: float = 0.10  # stop bisecting when upper / lower <= 1 + resolution
    budget_s: float = 60.0  # wall time of the whole search
    stage_s: float = 5.0  # wall time of one stage (what the budget check assumes)
    saturation_cpu: float = SATURATION_CPU
    max_stages: int = 10
    lag_limit_ms: float | None = None  # the generator's own lag above which it limits


@dataclass(frozen=True)
class Knee:
    lower_rps: float  # highest offered rate that met every SLO (the start if none above did)
    upper_rps: float | None  # lowest offered rate that missed one (None: none missed)
    capacity_rps: float  # achieved rate at lower_rps
    stop: StopReason
    steps: tuple[Stage, ...]
    elapsed_s: float

    @property
    def resolved(self) -> bool:
        return self.upper_rps is not None and self.stop != "budget"


def saturated(stage: Stage, params: SearchParams) -> bool:
    """The generator limits: its CPU at saturation, or its own scheduling lag a real share of
    the latency SLO (a core it shares with other work: CPU reads low, requests wait anyway)."""
    lagging = (
        params.lag_limit_ms is not None
        and stage.generator_lag_ms is not None
        and stage.generator_lag_ms >= params.lag_limit_ms
    )
    return stage.generator_cpu >= params.saturation_cpu or lagging


def search(
    run_stage: Callable[[float], Stage],
    start_rps: float,
    start_achieved: float,
    slo: Slo,
    params: SearchParams = SearchParams(),
    clock: Callable[[], float] = time.monotonic,
) -> Knee:
    """The knee above ``start_rps`` (a rate already met, with ``start_achieved`` achieved)."""
    t0 = clock()
    steps: list[Stage] = []
    lower, lower_achieved = start_rps, start_achieved
    upper: float | None = None
    stop: StopReason | None = None

    def fits() -> bool:
        within = clock() - t0 + params.stage_s <= params.budget_s
        return within and len(steps) < params.max_stages

    def attempt(rate: float, label: str) -> tuple[bool, Stage]:
        stage = run_stage(rate)
        ok = meets_all(stage, slo)
        stage = replace(stage, stage=label, ok=ok)
        steps.append(stage)
        return ok, stage

    # 1. geometric steps up
    rate = start_rps
    while stop is None:
        if not fits():
            stop = "budget"
            break
        rate *= params.factor
        ok, stage = attempt(rate, f"step{len(steps) + 1}")
        if not ok and not saturated(stage, params) and fits():
            ok, stage = attempt(rate, f"step{len(steps) + 1} (again)")
        if ok:
            lower, lower_achieved = rate, stage.achieved_rps
            if saturated(stage, params):
                stop = "generator"
        else:
            upper = rate
            stop = "generator" if saturated(stage, params) else "service"

    # 2. bisection between the last passing and the first failing rate
    while upper is not None and upper / lower > 1 + params.resolution:
        if not fits():
            stop = "budget"
            break
        rate = math.sqrt(lower * upper)
        ok, stage = attempt(rate, f"bisect{len(steps) + 1}")
        if ok:
            lower, lower_achieved = rate, stage.achieved_rps
            if saturated(stage, params):
                stop = "generator"
                break
        else:
            upper = rate
            stop = "generator" if saturated(stage, params) else "service"
    return Knee(
        lower_rps=round(lower, 2),
        upper_rps=None if upper is None else round(upper, 2),
        capacity_rps=round(lower_achieved, 2),
        stop=stop,
        steps=tuple(steps),
        elapsed_s=round(clock() - t0, 2),
    )


@dataclass(frozen=True)
class CapacityVerdict:
    """What a load result says about capacity, and what the score may credit."""

    capacity: float  # achieved rate at ``lower`` (0: SLOs missed at the target rate)
    lower: float  # the offered rate credited: on the search's grid, so quantised
    stop: StopReason | Literal[""]  # "": no search ran
    saturated: bool  # the generator saturated somewhere
    lower_bound: bool  # the service may take more than the figure says
    generator_limited: bool  # the figure is the generator's (or within the margin of it)


def capacity_verdict(
    load: LoadPlan, measured: Stage, slo_met: bool, knee: Knee | None
) -> CapacityVerdict:
    """Never penalise a service for our ceiling (every stage it ran met its SLOs and the
    generator ran out, or it reached within ``ceiling_margin`` of the measured ceiling: full
    capacity credit), and never reward one for it (a failed stage is never credited)."""
    params = SearchParams(lag_limit_ms=LAG_SHARE * load.slo.p95_ms)
    measured_saturated = saturated(measured, params)
    if not slo_met:
        return CapacityVerdict(0.0, 0.0, "", measured_saturated, False, False)
    if knee is None:
        stop: StopReason | Literal[""] = "generator" if measured_saturated else ""
        return CapacityVerdict(
            measured.achieved_rps,
            load.target_rps,
            stop,
            measured_saturated,
            True,
            measured_saturated,
        )
    ceiling = load.generator_ceiling_rps
    near_ceiling = ceiling is not None and knee.capacity_rps >= (1 - load.ceiling_margin) * ceiling
    ran_out = knee.stop == "generator" and knee.upper_rps is None
    return CapacityVerdict(
        capacity=knee.capacity_rps,
        lower=knee.lower_rps,
        stop=knee.stop,
        saturated=any(saturated(s, params) for s in knee.steps),
        lower_bound=knee.upper_rps is None or knee.stop != "service" or near_ceiling,
        generator_limited=ran_out or near_ceiling,
    )
