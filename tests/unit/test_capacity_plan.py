"""Capacity around the search: workers on free cores, the phase limit, stored ceilings and
references, and the capacity row every report shows."""

from __future__ import annotations

import json
from dataclasses import fields, replace
from pathlib import Path

import pytest

from graders.protocol import LoadPlan, Slo
from runner.challenges import calibration
from runner.challenges.registry import Load, Registry
from runner.grading.events import phase_limits
from runner.grading.pipeline import (
    RunOptions,
    auto_load_workers,
    capacity_budget,
    grader_cpus,
    load_plan,
    make_plan,
)
from runner.reports.loadview import capacity_row
from tests.unit.conftest import sample_load

HOST = {"cpu_model": "Test CPU", "cores": 2, "memory_mb": 4096}


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ASSESS_HOME", str(tmp_path))
    return tmp_path


def test_auto_workers_take_the_cores_the_sandbox_leaves(monkeypatch: pytest.MonkeyPatch) -> None:
    rest = Registry().get("rest-api")  # a 1-CPU candidate, no sidecar
    cache = Registry().get("cache")  # a 1-CPU candidate and a 0.5-CPU sidecar
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    assert auto_load_workers(rest) == 1
    assert auto_load_workers(cache) == 0  # half a core is not a worker: one local generator
    monkeypatch.setattr("os.cpu_count", lambda: 16)
    assert auto_load_workers(rest) == 8  # capped
    assert grader_cpus(0) == 1.0
    assert grader_cpus(3) == 3.5


def test_the_phase_limit_covers_the_whole_search() -> None:
    plan = LoadPlan(target_rps=100, slo=Slo(100, 200), capacity_budget_s=90, max_steps=30)
    startup = 30.0
    fixed = plan.warmup_s + plan.duration_s + startup
    assert plan.time_budget_s() >= fixed + 90 + plan.step_s  # a stage may start near 90 s
    assert replace(plan, max_steps=4).time_budget_s() < fixed + 90  # 4 stages: far less
    assert replace(plan, max_steps=0).time_budget_s() == fixed  # no search
    rest = Registry().get("rest-api")
    p = make_plan(rest, RunOptions(skip_load=False), "http://x", "/c", "/r", ())
    assert p.load is not None
    assert phase_limits(rest, p)["load"] >= p.load.time_budget_s()


def test_the_ceiling_is_stored_per_host_and_worker_count(home: Path) -> None:
    assert calibration.stored_ceiling(HOST, 1) is None
    calibration.save_ceiling(HOST, 1, 4300.0, {"stop": "generator"})
    assert calibration.stored_ceiling(HOST, 1) == 4300.0
    assert calibration.stored_ceiling(HOST, 0) is None  # another worker count: not measured
    assert calibration.stored_ceiling({**HOST, "cores": 16}, 1) is None  # another machine


def test_only_a_knee_calibration_sets_the_full_mark(home: Path) -> None:
    rest = Registry().get("rest-api")
    path = calibration.path_for(rest, HOST)
    path.parent.mkdir(parents=True)
    old = {"host_key": "x", "figures": {"capacity_rps": 505.0}}  # the fixed step-up's cap
    path.write_text(json.dumps(old))
    assert calibration.reference_capacity(rest, HOST) is None
    path.write_text(json.dumps({**old, "method": "knee", "capacity_lower_rps": 1556.2}))
    assert calibration.reference_capacity(rest, HOST) == 1556.2


def test_the_capacity_row_says_what_ended_the_search() -> None:
    base = replace(
        sample_load(),
        capacity_rps=1733.0,
        capacity_lower_rps=1556.2,
        capacity_upper_rps=1697.1,
        capacity_stop="service",
        capacity_is_lower_bound=False,
        generator_saturated=False,
        generator_ceiling_rps=4300.0,
        reference_capacity_rps=1556.2,
        slo_met=True,
    )
    row = capacity_row(base)
    assert row.measured.startswith("1,733 req/s")
    # not a contradiction: the capacity is the rate achieved at the highest offered rate that
    # met every SLO; the search's upper bound is an offered rate
    assert "achieved at 1,556 req/s offered" in row.measured
    assert "1,697 req/s offered missed an SLO (the search's upper bound)" in row.measured
    assert "generator ceiling 4,300 req/s" in row.measured
    assert row.target == "full marks at the reference's 1,556 req/s"
    limited = replace(base, generator_limited=True, capacity_is_lower_bound=True)
    assert capacity_row(limited).measured.startswith("at least 1,733 req/s (generator limit)")
    budget = replace(base, capacity_stop="budget", capacity_is_lower_bound=True)
    assert "the search's time budget ran out" in capacity_row(budget).measured
    assert capacity_row(replace(base, reference_capacity_rps=None)).target == (
        "full marks at 800 req/s"
    )


def test_a_shortened_measured_phase_shortens_the_search() -> None:
    assert capacity_budget(60, 5, None) == 60
    assert capacity_budget(60, 5, 3) == 12  # --load-duration 3: two stages
    assert capacity_budget(60, 5, 10) == 40
    assert capacity_budget(60, 5, 60) == 60  # never longer than configured


def test_load_workers_take_auto_a_number_or_fail(monkeypatch: pytest.MonkeyPatch) -> None:
    from runner.commands import run_options
    from runner.errors import UsageError

    rest = Registry().get("rest-api")
    monkeypatch.setattr("os.cpu_count", lambda: 4)

    def workers(value: int | str) -> int:
        opts = run_options(
            rest, candidate=False, skip_load=False, load_duration=None, seed=1, load_workers=value
        )
        return int(opts.load_workers)

    assert workers("auto") == 3
    assert workers("2") == 2
    assert workers(0) == 0
    with pytest.raises(UsageError, match="auto or a number"):
        workers("many")
    with pytest.raises(UsageError, match="between 0 and 8"):
        workers("9")


def test_every_load_key_of_a_challenge_is_a_load_plan_field() -> None:
    """load_plan maps ``[load]`` onto LoadPlan by name: a key added to one and not the other
    fails here, not in the middle of a grading."""
    plan_fields = {f.name for f in fields(LoadPlan)}
    assert set(Load.model_fields) - plan_fields == set()
    for challenge in Registry().all():
        if challenge.config.load is not None:
            plan = load_plan(challenge, RunOptions(skip_load=False))
            assert plan.target_rps == challenge.config.load.target_rps
            assert plan.slo == Slo(**challenge.config.load.slo.model_dump())
