"""The knee search at its seam: a fake stage runner (rate -> Stage) and a fake clock."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import replace

import pytest

from graders.load.capacity import (
    Knee,
    LeanUsers,
    SearchParams,
    capacity_verdict,
    missed_only_rate,
    search,
    users_for,
)
from graders.load.slo import capacity_credit, meets_all, score, slo_rows
from graders.protocol import LoadPlan, Slo, Stage

SLO = Slo(p95_ms=150, p99_ms=400, max_error_rate=0.01)
TARGET = 150.0


def stage(rate: float, *, ok: bool, cpu: float = 0.3) -> Stage:
    """A stage as a service that keeps up (fast) or not (slow, behind) would produce it."""
    return Stage(
        stage="capacity",
        rps_offered=rate,
        achieved_rps=rate if ok else 0.7 * rate,
        requests=int(rate * 4),
        failures=0,
        p50_ms=2.0 if ok else 400.0,
        p95_ms=5.0 if ok else 900.0,
        p99_ms=9.0 if ok else 1200.0,
        error_rate=0.0,
        generator_cpu=cpu,
    )


class Clock:
    """A stage takes its stated time; nothing else does."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def run(
    service: Callable[[float], Stage], params: SearchParams | None = None
) -> tuple[Knee, list[float]]:
    params = params or SearchParams()
    clock, rates = Clock(), []

    def run_stage(rate: float) -> Stage:
        rates.append(rate)
        clock.now += params.stage_s
        return service(rate)

    return search(run_stage, TARGET, TARGET, SLO, params, clock), rates


def test_a_monotone_service_is_bracketed_to_the_resolution() -> None:
    knee, rates = run(lambda r: stage(r, ok=r <= 1000))
    assert knee.stop == "service"
    assert knee.upper_rps is not None
    assert knee.lower_rps <= 1000 < knee.upper_rps
    assert knee.upper_rps / knee.lower_rps <= 1.1  # the stated resolution
    assert knee.lower_rps >= 1000 / 1.1
    assert knee.capacity_rps == knee.lower_rps  # achieved at the highest passing rate
    # geometric up (150 -> 300 -> 600 -> 1200, the failure confirmed once), then bisection
    assert rates[:5] == [300, 600, 1200, 1200, pytest.approx(600 * 2**0.5)]
    assert all(s.ok is not None for s in knee.steps)
    assert [s.stage for s in knee.steps][:4] == ["step1", "step2", "step3", "step4 (again)"]


def test_rates_lie_on_a_fixed_grid_so_close_knees_give_the_same_figure() -> None:
    a, _ = run(lambda r: stage(r, ok=r <= 940))
    b, _ = run(lambda r: stage(r, ok=r <= 1000))  # 6 % more, in the same grid cell
    assert a.lower_rps == b.lower_rps == pytest.approx(150 * 2 ** (21 / 8), abs=0.01)


def test_a_noisy_service_is_not_halved_by_one_bad_stage() -> None:
    rng = random.Random(7)
    bad = iter([False])  # the first stage at 600 req/s has a hiccup, the rest is +-5 % noise

    def noisy(rate: float) -> Stage:
        if rate == 600 and next(bad, True) is False:
            return stage(rate, ok=False)
        return stage(rate, ok=rate <= 1000 * rng.uniform(0.95, 1.05))

    knee, _ = run(noisy)
    assert knee.stop == "service"
    assert 1000 / 1.1 / 1.05 <= knee.lower_rps <= 1050


def test_a_generator_that_saturates_ends_the_search_without_credit_above_it() -> None:
    # the service never fails; the generator saturates from 1200 req/s on
    knee, rates = run(lambda r: stage(r, ok=True, cpu=0.95 if r >= 1200 else 0.5))
    assert knee.stop == "generator"
    assert knee.upper_rps is None
    assert knee.lower_rps == 1200
    assert rates == [300, 600, 1200]  # nothing above a saturated stage is tried
    plan = LoadPlan(target_rps=TARGET, slo=SLO)
    verdict = capacity_verdict(plan, stage(TARGET, ok=True), True, knee)
    assert verdict.generator_limited
    assert verdict.lower_bound


def test_a_failure_under_a_saturated_generator_is_never_credited() -> None:
    # fails (late answers) where the generator is saturated: the credit stays below
    knee, _ = run(lambda r: stage(r, ok=r < 1200, cpu=0.95 if r >= 1200 else 0.5))
    assert knee.stop == "generator"
    assert knee.lower_rps < 1200
    plan = LoadPlan(target_rps=TARGET, slo=SLO)
    verdict = capacity_verdict(plan, stage(TARGET, ok=True), True, knee)
    assert not verdict.generator_limited  # a stage failed: no full credit for our ceiling
    assert verdict.lower == knee.lower_rps


def test_the_budget_ends_the_search_and_says_so() -> None:
    params = SearchParams(budget_s=16.0, stage_s=5.0)
    knee, rates = run(lambda r: stage(r, ok=True), params)
    assert knee.stop == "budget"
    assert len(rates) == 3  # a fourth stage would end past 16 s: it is not started
    assert knee.elapsed_s <= params.budget_s
    assert knee.lower_rps == 1200
    assert knee.upper_rps is None


def test_the_budget_can_cut_the_bisection_short() -> None:
    params = SearchParams(budget_s=26.0, stage_s=5.0)
    knee, _ = run(lambda r: stage(r, ok=r <= 1000), params)
    assert knee.stop == "budget"
    assert knee.upper_rps is not None
    assert knee.upper_rps / knee.lower_rps > 1.1
    assert not knee.resolved


def test_a_capacity_near_the_measured_ceiling_is_the_generators() -> None:
    knee, _ = run(lambda r: stage(r, ok=r <= 1000))
    plan = LoadPlan(target_rps=TARGET, slo=SLO, generator_ceiling_rps=1050.0)
    verdict = capacity_verdict(plan, stage(TARGET, ok=True), True, knee)
    assert verdict.generator_limited
    assert verdict.lower_bound
    far = LoadPlan(target_rps=TARGET, slo=SLO, generator_ceiling_rps=5000.0)
    assert not capacity_verdict(far, stage(TARGET, ok=True), True, knee).generator_limited


def test_missed_slos_at_target_give_no_capacity() -> None:
    plan = LoadPlan(target_rps=TARGET, slo=SLO)
    verdict = capacity_verdict(plan, stage(TARGET, ok=False), False, None)
    assert verdict.capacity == 0.0
    assert not verdict.generator_limited


def test_capacity_credit_follows_the_reference_when_calibrated() -> None:
    assert capacity_credit(TARGET, TARGET) == 0.5  # SLOs met at the target: half
    assert capacity_credit(4 * TARGET, TARGET) == 1.0  # uncalibrated: full at 4 x target
    assert capacity_credit(1200, TARGET, reference=2400) == pytest.approx(0.5 + 0.5 * 3 / 4)
    assert capacity_credit(2400, TARGET, reference=2400) == 1.0
    assert capacity_credit(9999, TARGET, reference=2400) == 1.0  # beyond: the figure ranks
    rows = slo_rows(stage(TARGET, ok=True), SLO)
    assert score(rows, 2400, TARGET, False, reference=2400) == 100.0
    assert score(rows, 600, TARGET, False, reference=2400) == 70 + 30 * 0.75


def test_one_grid_step_moves_the_score_by_at_most_a_point() -> None:
    rows = slo_rows(stage(TARGET, ok=True), SLO)
    step = 2 ** (1 / 8)
    for reference in (None, 4 * TARGET, 16 * TARGET):
        rate = TARGET
        while rate < 20 * TARGET:
            a = score(rows, rate, TARGET, False, reference=reference)
            b = score(rows, rate * step, TARGET, False, reference=reference)
            assert 0 <= b - a <= 1.0
            rate *= step


def test_a_lagging_generator_limits_even_at_low_cpu() -> None:
    # a core shared with other work: the generator's CPU reads 40 %, its own lag is 30 ms
    def lagging(rate: float) -> Stage:
        st = stage(rate, ok=rate <= 1000, cpu=0.4)
        return replace(st, generator_lag_ms=30.0 if rate >= 900 else 1.0)

    params = SearchParams(lag_limit_ms=15.0)
    knee, rates = run(lagging, params)
    assert knee.stop == "generator"
    assert rates.count(1200) == 1  # a lagging failure is not run again
    assert knee.lower_rps < 1000  # never credited above what passed
    plain, _ = run(lagging)  # without the lag limit it reads as the service's knee
    assert plain.stop == "service"


def test_users_cover_the_rate_at_the_slo_or_lean_at_the_last_latency() -> None:
    plan = LoadPlan(target_rps=500, slo=SLO, users=32, max_users=800)
    # no latency known: each user's interval is the p95 SLO (2,000 x 0.15 s)
    assert users_for(plan, 2000) == 300
    # lean: 3 x the last passing p95 (10 ms -> 30 ms; at least 20 ms): 2,000 x 0.03 s
    assert users_for(plan, 2000, latency_ms=10.0) == 60
    assert users_for(plan, 2000, latency_ms=1.0) == 40
    assert users_for(plan, 2000, latency_ms=40.0) == 240
    # never more than the SLO's count, never fewer than the profile's, never above max_users
    assert users_for(plan, 2000, latency_ms=100.0) == 300
    assert users_for(plan, 100, latency_ms=1.0) == 32
    assert users_for(plan, 10_000) == 800
    # a profile without max_users keeps its own count
    fixed = LoadPlan(target_rps=150, slo=SLO, users=20)
    assert users_for(fixed, 4000) == users_for(fixed, 4000, latency_ms=3.0) == 20


def test_only_a_rate_shortfall_with_every_other_slo_met_calls_for_more_users() -> None:
    short = replace(stage(1000, ok=True), achieved_rps=700.0)
    assert missed_only_rate(short, SLO)
    assert not missed_only_rate(stage(1000, ok=True), SLO)  # met everything
    assert not missed_only_rate(stage(1000, ok=False), SLO)  # slow as well: the service's
    failing = replace(short, failures=160, error_rate=0.04)
    assert not missed_only_rate(failing, SLO)


def test_lean_users_run_again_with_the_full_count_when_only_the_rate_was_missed() -> None:
    """A service that keeps up only with enough users (its latency rises to 100 ms at 2,000
    req/s): the lean stage misses the rate, the rerun with the SLO's count passes, and every
    later stage at that rate or above starts with the full count."""
    plan = LoadPlan(target_rps=500, slo=SLO, users=32, max_users=800)
    runs: list[tuple[float, int]] = []

    def service(rps: float) -> Callable[[int], Stage]:
        def run_with(users: int) -> Stage:
            runs.append((rps, users))
            latency_s = 0.005 if rps < 2000 else 0.1
            achieved = min(rps, users / latency_s)  # closed loop: users / latency at most
            return replace(
                stage(rps, ok=True),
                achieved_rps=achieved,
                p95_ms=latency_s * 1000,
                p99_ms=latency_s * 1000,
            )

        return run_with

    lean = LeanUsers(plan)
    lean.saw(stage(500, ok=True))  # the measured stage: p95 5 ms
    assert lean.stage(1000, service(1000)).achieved_rps == 1000
    assert runs == [(1000, 32)]  # 1,000 x 20 ms, but never below the profile's 32
    assert lean.stage(2000, service(2000)).achieved_rps == 2000
    assert runs[1:] == [(2000, 40), (2000, 300)]  # lean missed the rate; full kept up
    lean.stage(2400, service(2400))
    assert runs[3:] == [(2400, 360)]  # at or above that rate: full from the start
    # a miss that is not only the rate (too slow) is the service's: no rerun
    slow = LeanUsers(plan)
    slow.saw(stage(500, ok=True))
    assert not meets_all(slow.stage(1000, lambda n: stage(1000, ok=False)), SLO)
    assert slow.lean_below == math.inf


def test_the_generator_backs_off_after_a_failed_stage_and_the_budget_counts_it() -> None:
    """A service that collapses under overload and stays collapsed until it drains: without a
    back-off every stage after the first failure fails (the wreckage of the one before)."""
    params = SearchParams(budget_s=60, stage_s=5, recover_s=2)

    def collapsing(with_recover: bool) -> tuple[Knee, list[str]]:
        clock, log = Clock(), []
        state = {"collapsed": False}

        def run_stage(rate: float) -> Stage:
            clock.now += params.stage_s
            log.append(f"stage {rate:g}")
            if rate > 3000:
                state["collapsed"] = True
            return stage(rate, ok=rate <= 3000 and not state["collapsed"])

        def recover() -> None:
            clock.now += params.recover_s
            log.append("recover")
            state["collapsed"] = False

        knee = search(
            run_stage, TARGET, TARGET, SLO, params, clock, recover if with_recover else None
        )
        return knee, log

    knee, log = collapsing(with_recover=True)
    assert 3000 / 1.1 <= knee.lower_rps <= 3000
    # every failed stage but a last one is followed by the back-off, and only those
    failed = [f"stage {s.rps_offered:g}" for s in knee.steps if s.ok is False]
    assert [log[i - 1] for i, e in enumerate(log) if e == "recover"] == failed[
        : log.count("recover")
    ]
    wrecked, _ = collapsing(with_recover=False)
    assert wrecked.lower_rps < knee.lower_rps  # stuck at the last step below the first failure
    assert knee.elapsed_s <= params.budget_s
