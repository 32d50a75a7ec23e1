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

from graders.load.slo import meets_all, slo_rows
from graders.protocol import LoadPlan, Slo, Stage

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
    recover_s: float = 0.0  # wall time of ``recover`` (see search), when a stage failed


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
    recover: Callable[[], None] | None = None,
) -> Knee:
    """The knee above ``start_rps`` (a rate already met, with ``start_achieved`` achieved).

    ``recover`` runs between a stage that missed an SLO and the next one (the generator backs
    off for ``params.recover_s``): a service that collapsed under overload drains its queues
    first, so every stage measures that rate, not the previous stage's wreckage."""
    t0 = clock()
    steps: list[Stage] = []
    lower, lower_achieved = start_rps, start_achieved
    upper: float | None = None
    stop: StopReason | None = None

    def failed_last() -> bool:
        return recover is not None and bool(steps) and steps[-1].ok is False

    def fits() -> bool:
        cost = params.stage_s + (params.recover_s if failed_last() else 0.0)
        within = clock() - t0 + cost <= params.budget_s
        return within and len(steps) < params.max_stages

    def attempt(rate: float, label: str) -> tuple[bool, Stage]:
        if recover is not None and failed_last():
            recover()
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


LEAN_HEADROOM = 3.0  # lean users assume latency up to this multiple of the last passing p95
LEAN_FLOOR_MS = 20.0  # ... and never below this much


def users_for(load: LoadPlan, rps: float, latency_ms: float | None = None) -> int:
    """Users for a stage at ``rps``: the profile's, or with ``max_users`` set, enough for the
    rate (a user waits for its answer, so too few users cap the rate at users / latency: a
    figure of the generator, not of the service). Never more than ``max_users``.

    Without ``latency_ms``: enough that each user's interval is the p95 SLO, so any service
    answering within its SLO keeps up. With it (the p95 of the last stage that met every SLO):
    lean, enough for ``LEAN_HEADROOM`` times that latency (at least ``LEAN_FLOOR_MS``), capped
    by the SLO's count. Lean matters: users hold a keep-alive connection each, and 300 of them
    at 2,000 req/s against a 5 ms service measure how many connections (threads, pids) it holds
    open, not the rate it serves. A lean stage that misses only the rate runs again with the
    full count (LeanUsers), so leanness never costs a service its rate."""
    if load.max_users <= load.users:
        return int(load.users)
    budget_ms = load.slo.p95_ms
    if latency_ms is not None:
        budget_ms = min(budget_ms, max(LEAN_FLOOR_MS, LEAN_HEADROOM * latency_ms))
    need = math.ceil(rps * budget_ms / 1000)
    return int(min(load.max_users, max(load.users, need)))


def missed_only_rate(stage: Stage, slo: Slo) -> bool:
    """Every SLO met but the rate: the signature of too few closed-loop users (or a service
    at its knee, which the rerun with more users then shows)."""
    rows = {r.key: r.met for r in slo_rows(stage, slo)}
    return not rows["rate"] and all(met for key, met in rows.items() if key != "rate")


@dataclass
class LeanUsers:
    """Users per capacity stage: lean (see users_for) from the last passing stage's latency;
    a lean stage that missed only its rate runs again with the SLO's full count, and every
    later stage at that rate or above runs the full count from the start (an extra stage only
    where leanness may have been ours; the stage table keeps the rerun, the per-second series
    shows both, users included)."""

    load: LoadPlan
    hint_ms: float | None = None  # p95 of the last stage that met every SLO
    lean_below: float = math.inf

    def saw(self, stage: Stage) -> None:
        if meets_all(stage, self.load.slo) and stage.p95_ms is not None:
            self.hint_ms = stage.p95_ms

    def stage(self, rps: float, run_with: Callable[[int], Stage]) -> Stage:
        """The stage at ``rps``; ``run_with(users)`` runs it with that many users."""
        full = users_for(self.load, rps)
        lean = full if rps >= self.lean_below else users_for(self.load, rps, self.hint_ms)
        stage = run_with(lean)
        if lean < full and missed_only_rate(stage, self.load.slo):
            self.lean_below = rps
            stage = run_with(full)
        self.saw(stage)
        return stage
