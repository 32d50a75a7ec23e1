"""Locust as a library, in its own process: ``python -m graders.load.generator CONFIG.json``.

gevent monkey-patches the process, so this never runs in the process that runs pytest.
Prints events (see :mod:`graders.events`): a ``load_sample`` per second, a ``load_result`` at
the end.

With ``load.workers`` > 0 it runs Locust's distributed mode: a master here and N worker
processes, all in the sandbox's namespace. Workers send their raw per-second windows (response
times, failures, own CPU) to the master, so percentiles are exact in both modes.

Pacing: each user runs its tasks at a fixed interval (users x per-user rate = offered rate),
rather than as fast as the service answers. It is closed-loop per user: a user waits for its
answer, so a service slower than the interval receives fewer requests, which ``achieved_rps``
shows. Latency is Locust's response time: from sending a request to its last byte.
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import hashlib  # noqa: E402
import hmac  # noqa: E402
import importlib.util  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import secrets  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import gevent  # noqa: E402
from locust import User, events  # noqa: E402
from locust.env import Environment  # noqa: E402

from graders.events import EventWriter  # noqa: E402
from graders.load.capacity import (  # noqa: E402
    LAG_SHARE,
    Knee,
    LeanUsers,
    SearchParams,
    capacity_verdict,
    saturated,
    search,
    users_for,
)
from graders.load.failures import FailureGroups, clean_message  # noqa: E402
from graders.load.slo import figure_result, percentile, score, slo_rows  # noqa: E402
from graders.procnet import local_listeners  # noqa: E402
from graders.protocol import (  # noqa: E402
    RECOVER_S,
    CounterResult,
    CounterSpec,
    FigureResult,
    LoadResult,
    LoadResultEvent,
    LoadSample,
    LoadSampleEvent,
    NameStats,
    Plan,
    SloRow,
    Stage,
    TamperedEvent,
    dumps,
    loads,
)

MIN_SAMPLE_S = 0.25  # a shorter window (a stage's tail) is no per-second sample


class Pace:
    """The shared, adjustable per-user interval between task starts."""

    interval_s = 1.0


def paced_wait(user: Any) -> float:
    """Every user's wait_time: start tasks on a fixed schedule, never bursting to catch up."""
    now = time.monotonic()
    last = getattr(user, "_assess_last", None)
    if last is None:  # spread the users over the first interval
        last = now - random.random() * Pace.interval_s
    start = max(last + Pace.interval_s, now)
    user._assess_last = start
    return max(0.0, start - now)


class LagProbe:
    """The generator's own scheduling delay: a greenlet asks for 10 ms of sleep and records
    how late it woke. Requests' timestamps suffer the same delay, so a lag that is a real share
    of the latency SLO means the latency measured is partly ours (the generator limits), even
    when its CPU reads below saturation (a core shared with other work)."""

    TICK_S = 0.01

    def __init__(self) -> None:
        self.lags: list[float] = []
        self.greenlet = gevent.spawn(self._run)

    def _run(self) -> None:
        while True:
            t = time.monotonic()
            gevent.sleep(self.TICK_S)
            self.lags.append(max(0.0, time.monotonic() - t - self.TICK_S) * 1000)

    def take(self) -> float:
        """p95 of the lags since the last call, in ms."""
        lags, self.lags = self.lags, []
        return percentile(lags, 95) or 0.0


class Window:
    """Requests of one second or one stage: counts, latencies of successes, failures by kind.

    ``rate_of`` and ``latency_of`` select the request names the achieved rate and the latency
    percentiles are taken from (None: every request); failures of any name count as errors.
    """

    def __init__(self, rate_of: str | None = None, latency_of: str | None = None) -> None:
        self.rate_of, self.latency_of = rate_of, latency_of
        self.times: list[float] = []  # successful requests of latency_of
        self.count = 0  # every request
        self.rated = 0  # requests of rate_of
        self.failures = 0
        self.failures_by_kind: dict[str, int] = {}
        self.names: dict[str, list[Any]] = {}  # name -> [requests, failures, success times]
        self.groups = FailureGroups()  # by request name and message
        self.cpu: list[float] = []
        self.lag_ms: list[float] = []

    def add(self, name: str, response_time: float, failure: str | None, message: str = "") -> None:
        self.count += 1
        per = self.names.setdefault(name, [0, 0, []])
        per[0] += 1
        if self.rate_of is None or name == self.rate_of:
            self.rated += 1
        if failure is not None:
            self.failures += 1
            per[1] += 1
            self.failures_by_kind[failure] = self.failures_by_kind.get(failure, 0) + 1
            self.groups.add(name, failure, message)
            return
        per[2].append(response_time)
        if self.latency_of is None or name == self.latency_of:
            self.times.append(response_time)

    def merge(self, other: Window) -> None:
        self.groups.merge(other.groups)
        self.count += other.count
        self.rated += other.rated
        self.failures += other.failures
        self.times += other.times
        for kind, n in other.failures_by_kind.items():
            self.failures_by_kind[kind] = self.failures_by_kind.get(kind, 0) + n
        for name, (n, f, times) in other.names.items():
            per = self.names.setdefault(name, [0, 0, []])
            per[0] += n
            per[1] += f
            per[2] += times

    def to_wire(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "rated": self.rated,
            "failures": self.failures,
            "times": self.times,
            "failures_by_kind": self.failures_by_kind,
            "names": self.names,
            "groups": self.groups.to_wire(),
        }

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Window:
        w = cls()
        w.count, w.rated, w.failures = int(data["count"]), int(data["rated"]), int(data["failures"])
        w.times = [float(x) for x in data["times"]]
        w.failures_by_kind = {str(k): int(v) for k, v in data["failures_by_kind"].items()}
        w.names = {
            str(k): [int(v[0]), int(v[1]), [float(x) for x in v[2]]]
            for k, v in data["names"].items()
        }
        w.groups = FailureGroups.from_wire(data.get("groups"))
        return w


def request_listener(current: Any) -> Any:
    """Locust's request-event listener, adding each request to ``current()`` (the window of the
    running second, which the caller swaps)."""

    def on_request(
        request_type: str = "",
        name: str = "",
        response_time: float = 0.0,
        exception: Any = None,
        **_: Any,
    ) -> None:
        current().add(
            str(name),
            float(response_time or 0.0),
            failure_kind(exception),
            "" if exception is None else clean_message(exception),
        )

    return on_request


def failure_kind(exception: Any) -> str | None:
    if exception is None:
        return None
    return type(exception).__name__


def mean_worker_cpu(series: list[LoadSample]) -> tuple[float, ...]:
    """Each worker's mean CPU (share of a core) over the measured phase."""
    rows = [s.workers_cpu for s in series if s.stage == "measured" and s.workers_cpu]
    if not rows:
        return ()
    width = max(len(r) for r in rows)
    return tuple(round(sum(r[i] for r in rows if i < len(r)) / len(rows), 3) for i in range(width))


def prepare_user_class(plan: Plan) -> tuple[type[User], Any]:
    """The locustfile's user class (host and pacing set) and its module."""
    assert plan.load is not None
    user_class, module = load_user_class(Path(plan.challenge_dir) / plan.load.locustfile)
    user_class.host = plan.service_url
    user_class.wait_time = paced_wait
    # The seam a locustfile uses to reach the challenge's sidecars (as the checks' `sidecars`
    # fixture does): name -> {"url", "token"} of each control endpoint.
    user_class.assess_sidecars = {  # type: ignore[attr-defined]
        s.name: {"url": s.url, "token": s.token} for s in plan.sidecars
    }
    for attr, value in (("network_timeout", 5.0), ("connection_timeout", 5.0)):
        setattr(user_class, attr, value)
    return user_class, module


def load_user_class(path: Path) -> tuple[type[User], Any]:
    spec = importlib.util.spec_from_file_location("assess_locustfile", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules["assess_locustfile"] = module
    spec.loader.exec_module(module)
    classes = [
        v
        for v in vars(module).values()
        if isinstance(v, type)
        and issubclass(v, User)
        and v.__module__ == module.__name__
        and not getattr(v, "abstract", False)
    ]
    if len(classes) != 1:
        raise SystemExit(f"{path}: define exactly one Locust User class (found {len(classes)})")
    return classes[0], module


def read_gauges(module: Any) -> dict[str, float]:
    """The locustfile's ``assess_gauges()`` (e.g. open WebSocket connections), if it has one."""
    fn = getattr(module, "assess_gauges", None)
    if fn is None:
        return {}
    try:
        return {str(k): float(v) for k, v in dict(fn()).items()}
    except Exception:
        return {}


def stage_summary(name: str, offered: float, seconds: float, w: Window) -> Stage:
    """A stage's figures. Latency is over successful requests; nothing measured is all errors."""
    achieved = w.rated / seconds if seconds > 0 else 0.0
    return Stage(
        stage=name,
        rps_offered=round(offered, 2),
        achieved_rps=round(achieved, 2),
        requests=w.count,
        failures=w.failures,
        p50_ms=percentile(w.times, 50),
        p95_ms=percentile(w.times, 95),
        p99_ms=percentile(w.times, 99),
        error_rate=round(w.failures / w.count, 4) if w.count else 1.0,
        generator_cpu=round(sum(w.cpu) / len(w.cpu), 3) if w.cpu else 0.0,
        generator_lag_ms=round(sum(w.lag_ms) / len(w.lag_ms), 2) if w.lag_ms else None,
        failures_by_kind=dict(w.failures_by_kind),
        failure_groups=w.groups.result(),
        by_name={
            n: NameStats(
                requests=v[0],
                failures=v[1],
                p50_ms=percentile(v[2], 50),
                p95_ms=percentile(v[2], 95),
                p99_ms=percentile(v[2], 99),
            )
            for n, v in sorted(w.names.items())
        },
    )


def read_counter(plan: Plan) -> float | None:
    """The declared sidecar counter, or None if there is none or it cannot be read."""
    assert plan.load is not None
    return read_figure(plan, plan.load.counter)


def read_figure(plan: Plan, counter: CounterSpec | None) -> float | None:
    """A sidecar figure (through its control port, with its token), or None if there is none
    or it cannot be read."""
    if counter is None:
        return None
    sidecar = next((s for s in plan.sidecars if s.name == counter.sidecar), None)
    if sidecar is None:
        return None
    import requests

    try:
        r = requests.get(
            sidecar.url + counter.path,
            timeout=5,
            headers={"Authorization": f"Bearer {sidecar.token}"},
        )
        return float(r.json()[counter.field])
    except (requests.RequestException, ValueError, KeyError, TypeError):
        return None


class Tampered(Exception):
    """Something other than our workers spoke to the load generator's master."""


def sign(secret: str, node: str, seq: int, body: str) -> str:
    return hmac.new(secret.encode(), f"{node}\n{seq}\n{body}".encode(), hashlib.sha256).hexdigest()


class WorkerAuth:
    """Verifies workers' windows: signed with the run's secret (which only the grader's own
    processes hold), one sequence per node, never more nodes than workers we started."""

    def __init__(self, secret: str, workers: int) -> None:
        self.secret, self.workers = secret, workers
        self.seq: dict[str, int] = {}

    def verify(self, data: Any) -> tuple[str, Window, float, dict[str, float]]:
        if not isinstance(data, dict):
            raise Tampered("a load-generator message that is not a signed window")
        node, seq, body, sig = data.get("node"), data.get("seq"), data.get("body"), data.get("sig")
        if not (isinstance(node, str) and isinstance(seq, int) and isinstance(body, str)):
            raise Tampered("a load-generator message that is not a signed window")
        if not isinstance(sig, str) or not hmac.compare_digest(
            sig, sign(self.secret, node, seq, body)
        ):
            raise Tampered("a load-generator window with a bad signature (a forged worker)")
        if seq <= self.seq.get(node, -1):
            raise Tampered("a replayed load-generator window")
        if node not in self.seq and len(self.seq) >= self.workers:
            raise Tampered("more load-generator workers than the grader started")
        self.seq[node] = seq
        payload = json.loads(body)
        gauges = {str(k): float(v) for k, v in payload.get("gauges", {}).items()}
        gauges["__lag_ms"] = float(payload.get("lag_ms", 0.0))
        return node, Window.from_wire(payload["window"]), float(payload["cpu"]), gauges


class LoadGenerator:
    """One load phase, run the way Locust's own runners are: connect the workers (or run
    locally), run a stage at a rate, back off after a failed one, measure at the target, search
    the capacity above it, and build the result. Its back-off (``RECOVER_S``) and stage slack
    are graders.protocol's constants, the ones ``LoadPlan.time_budget_s`` budgets for."""

    def __init__(self, plan: Plan, writer: EventWriter) -> None:
        load = plan.load
        assert load is not None
        self.plan, self.load, self.writer = plan, load, writer
        self.user_class, self.module = prepare_user_class(plan)
        random.seed(plan.seed)
        self.workers = load.workers
        self.window = self.new_window()
        self.worker_cpu: dict[str, float] = {}
        self.worker_lag: dict[str, float] = {}
        self.worker_gauges: dict[str, dict[str, float]] = {}
        self.probe = LagProbe()
        self.tampered: list[str] = []
        self.env = Environment(user_classes=[self.user_class], events=events)
        self.procs: list[Any] = []
        self.runner: Any = self.connect_workers() if self.workers else self.run_locally()
        self.series: list[LoadSample] = []
        self.t0 = time.monotonic()
        self.peak_gauges: dict[str, float] = {}
        self.figures: tuple[FigureResult, ...] = ()
        self.running_users = load.users

    def new_window(self) -> Window:
        return Window(self.load.rate_of, self.load.latency_of)

    # -- the runners --------------------------------------------------------------------------
    def run_locally(self) -> Any:
        on_request = request_listener(lambda: self.window)
        events.request.add_listener(on_request)  # type: ignore[no-untyped-call]
        return self.env.create_local_runner()

    def connect_workers(self) -> Any:
        """A master on the plan's port, ``workers`` worker processes signed with the run's
        secret; every window a worker sends is verified before it is merged."""
        load, workers = self.load, self.workers
        port = load.master_port
        if port in local_listeners():
            raise Tampered(
                f"port {port} (the load generator's) was already bound inside the sandbox "
                "before the grader started it"
            )
        runner: Any = self.env.create_master_runner("127.0.0.1", port)
        auth = WorkerAuth(load.secret, workers)

        def on_window(msg: Any, **_: Any) -> None:
            try:
                node, w, cpu, gauges = auth.verify(msg.data)
            except (Tampered, ValueError, KeyError, TypeError) as exc:
                self.tampered.append(
                    str(exc) if isinstance(exc, Tampered) else "a malformed window"
                )
                return
            self.window.merge(w)
            self.worker_cpu[node] = cpu
            self.worker_lag[node] = gauges.pop("__lag_ms", 0.0)
            self.worker_gauges[node] = gauges

        runner.register_message("assess_window", on_window)
        self.procs = spawn_workers(self.plan, workers)
        deadline = time.monotonic() + 30
        while len(runner.clients.ready) < workers:
            if len(runner.clients) > workers:
                raise Tampered("more clients joined the load generator than the grader started")
            if time.monotonic() > deadline or any(p.poll() is not None for p in self.procs):
                raise SystemExit(f"only {len(runner.clients.ready)} of {workers} workers joined")
            gevent.sleep(0.1)
        return runner

    def stop(self) -> None:
        self.runner.quit()
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except Exception:
                proc.kill()

    # -- pacing -------------------------------------------------------------------------------
    def set_pace(self, interval: float) -> None:
        Pace.interval_s = interval
        if self.workers:
            self.runner.send_message("assess_pace", interval)

    def gauges_now(self) -> dict[str, float]:
        if not self.workers:
            return read_gauges(self.module)
        total: dict[str, float] = {}
        for g in self.worker_gauges.values():
            for k, v in g.items():
                total[k] = total.get(k, 0.0) + v
        return total

    def back_off(self) -> None:
        """RECOVER_S at a request per user per second: the service drains what a failed stage
        piled up. Interchangeable users (``max_users``) shrink to the profile's count, the
        others stop and hang up; a fixed profile keeps its users (they own data or hold
        WebSockets: no churn), only slowed."""
        users = self.load.users
        if self.load.max_users > users and self.running_users > users:
            self.runner.start(users, spawn_rate=4 * self.running_users)
            self.running_users = users
        self.set_pace(1.0)
        gevent.sleep(RECOVER_S)

    # -- stages -------------------------------------------------------------------------------
    def run_stage(self, name: str, rps: float, seconds: float, settle_s: float = 0.0) -> Stage:
        return self.run_stage_with(name, rps, seconds, settle_s, users_for(self.load, rps))

    def run_stage_with(
        self, name: str, rps: float, seconds: float, settle_s: float, wanted: int
    ) -> Stage:
        """A stage at ``rps`` with ``wanted`` users; its first ``settle_s`` seconds run (and
        are sampled) but do not count: the service's queues adapt to the new rate there."""
        if wanted != self.running_users:
            # Locust starts and stops users at spawn_rate: at ``wanted`` per second, 800 users
            # going down to 119 took 6 s, every one of them paced for 119 (a 7x overload that
            # failed every stage after it). Within a quarter of a second, up or down.
            spawn_rate = 4 * max(wanted, self.running_users)
            self.running_users = wanted
            self.runner.start(wanted, spawn_rate=spawn_rate)
        self.set_pace(self.running_users / rps)
        stage_window = self.new_window()
        counted_from = time.monotonic() + settle_s
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.window = self.new_window()
            cpu0, wall0 = time.process_time(), time.monotonic()
            gevent.sleep(min(1.0, max(0.0, end - time.monotonic())))
            self.check_workers()
            wall = time.monotonic() - wall0
            cpu = (time.process_time() - cpu0) / wall if wall > 0 else 0.0
            sample, cpu, lag = self.sample(name, wall, cpu)
            counted = wall0 >= counted_from - 0.05
            if wall < MIN_SAMPLE_S:  # a stage's last sliver: its requests count, not its rates
                if counted:
                    stage_window.merge(self.window)
                continue
            self.series.append(sample)
            self.writer.emit(LoadSampleEvent(sample))
            if counted:
                stage_window.merge(self.window)
                stage_window.cpu.append(cpu)
                stage_window.lag_ms.append(lag)
        return stage_summary(name, rps, seconds - settle_s, stage_window)

    def check_workers(self) -> None:
        if self.tampered:
            raise Tampered(self.tampered[0])
        if self.workers and len(self.runner.clients) > self.workers:
            raise Tampered("more clients joined the load generator than the grader started")

    def sample(self, name: str, wall: float, cpu: float) -> tuple[LoadSample, float, float]:
        """The last second as a sample; the generator is as saturated as its busiest worker."""
        lag = self.probe.take()
        if self.workers:
            cpu = max([cpu, *self.worker_cpu.values()])
            lag = max([lag, *self.worker_lag.values()])
        gauges = self.gauges_now()
        if name == "measured":
            for k, v in gauges.items():
                self.peak_gauges[k] = max(self.peak_gauges.get(k, 0.0), v)
        window = self.window
        sample = LoadSample(
            t=round(time.monotonic() - self.t0, 2),
            stage=name,
            rps=round(window.rated / wall, 2) if wall > 0 else 0.0,
            p50_ms=percentile(window.times, 50),
            p95_ms=percentile(window.times, 95),
            errors=window.failures,
            users=int(self.runner.user_count),
            generator_cpu=round(cpu, 3),
            workers_cpu=tuple(round(c, 3) for c in self.worker_cpu.values())
            if self.workers
            else (),
            gauges=gauges,
        )
        return sample, cpu, lag

    # -- the phase ----------------------------------------------------------------------------
    def run(self) -> LoadResult:
        load = self.load
        self.set_pace(load.users / load.target_rps)
        self.runner.start(load.users, spawn_rate=max(load.users, 1))
        try:
            measured, counter, saved = self.measure()
            rows = slo_rows(measured, load.slo)
            slo_met = all(r.met for r in rows)
            knee = self.search_capacity(measured) if slo_met else None
        finally:
            self.stop()
        return self.result(measured, rows, slo_met, knee, counter, saved)

    def measure(self) -> tuple[Stage, CounterResult | None, float | None]:
        """Warm-up, then the measured stage at the target, with the sidecar counter around it."""
        load, plan = self.load, self.plan
        if load.warmup_s > 0:
            self.run_stage("warmup", load.target_rps, load.warmup_s)
        before = read_counter(plan)
        figures_before = [read_figure(plan, f) for f in load.figures]
        measured = self.run_stage("measured", load.target_rps, load.duration_s)
        after = read_counter(plan)
        self.figures = tuple(
            figure_result(spec, b, read_figure(plan, spec), measured.requests)
            for spec, b in zip(load.figures, figures_before, strict=True)
        )
        counter = None
        saved = None
        if load.counter is not None:
            # Declared but unreadable, or nothing measured: nothing saved (fail closed).
            saved = 0.0
            if before is not None and after is not None and measured.requests:
                saved = round(max(0.0, 1.0 - (after - before) / measured.requests), 4)
                counter = CounterResult(
                    label=load.counter.label,
                    value=after - before,
                    requests=measured.requests,
                    saved=saved,
                )
        return measured, counter, saved

    def search_capacity(self, measured: Stage) -> Knee | None:
        """The knee search above the target, when the target met its SLOs and left room."""
        load = self.load
        params = SearchParams(
            factor=load.step_factor,
            resolution=load.capacity_resolution,
            budget_s=load.capacity_budget_s,
            stage_s=load.step_s + 0.5,  # a stage's own overhead: pacing, merging
            recover_s=RECOVER_S,
            lag_limit_ms=LAG_SHARE * load.slo.p95_ms,
            max_stages=load.max_steps,
        )
        if saturated(measured, params) or load.max_steps <= 0:
            return None
        settle = min(load.settle_s, load.step_s / 2)
        lean = LeanUsers(load)
        lean.saw(measured)
        return search(
            lambda rps: lean.stage(
                rps, lambda n: self.run_stage_with("capacity", rps, load.step_s, settle, n)
            ),
            load.target_rps,
            measured.achieved_rps,
            load.slo,
            params,
            recover=self.back_off,
        )

    def result(
        self,
        measured: Stage,
        rows: tuple[SloRow, ...],
        slo_met: bool,
        knee: Knee | None,
        counter: CounterResult | None,
        saved: float | None,
    ) -> LoadResult:
        load, workers, series = self.load, self.workers, self.series
        verdict = capacity_verdict(load, measured, slo_met, knee)
        return LoadResult(
            measured=measured,
            target_rps=load.target_rps,
            users=load.users,
            slo=load.slo,
            slo_rows=rows,
            slo_met=slo_met,
            capacity_rps=verdict.capacity,
            capacity_is_lower_bound=verdict.lower_bound,
            generator_saturated=verdict.saturated,
            score=score(
                rows,
                verdict.lower,
                load.target_rps,
                verdict.generator_limited,
                saved,
                load.reference_capacity_rps,
            ),
            steps=knee.steps if knee else (),
            series=tuple(series),
            counter=counter,
            figures=self.figures,
            gauges=self.peak_gauges,
            rate_of=load.rate_of,
            latency_of=load.latency_of,
            seed=self.plan.seed,
            workers=workers,
            workers_cpu=mean_worker_cpu(series) if workers else (),
            duration_s=load.duration_s,
            capacity_lower_rps=verdict.lower,
            capacity_upper_rps=knee.upper_rps if knee else None,
            capacity_stop=verdict.stop,
            capacity_search_s=knee.elapsed_s if knee else 0.0,
            generator_ceiling_rps=load.generator_ceiling_rps,
            generator_limited=verdict.generator_limited,
            reference_capacity_rps=load.reference_capacity_rps,
        )


def run(plan: Plan, writer: EventWriter) -> LoadResult:
    return LoadGenerator(plan, writer).run()


def spawn_workers(plan: Plan, n: int) -> list[Any]:
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
        fh.write(dumps(plan))
    os.chmod(fh.name, 0o600)
    bootstrap = (
        "from gevent import monkey; monkey.patch_all(); import runpy; "
        "runpy.run_module('graders.load.generator', run_name='__main__')"
    )
    return [
        subprocess.Popen(
            [sys.executable, "-c", bootstrap, "--worker", fh.name], stdout=subprocess.DEVNULL
        )
        for _ in range(n)
    ]


def worker_main(plan: Plan) -> int:
    """A distributed-mode worker: runs users, ships each second's window, signed, to the master."""
    load = plan.load
    assert load is not None
    user_class, module = prepare_user_class(plan)
    window = Window(load.rate_of, load.latency_of)

    on_request = request_listener(lambda: window)

    events.request.add_listener(on_request)  # type: ignore[no-untyped-call]
    env = Environment(user_classes=[user_class], events=events)
    runner = env.create_worker_runner("127.0.0.1", load.master_port)
    node = secrets.token_hex(8)

    def on_pace(msg: Any, **_: Any) -> None:
        Pace.interval_s = float(msg.data)

    runner.register_message("assess_pace", on_pace)

    probe = LagProbe()

    def ship() -> None:
        nonlocal window
        seq = 0
        while True:
            cpu0, wall0 = time.process_time(), time.monotonic()
            gevent.sleep(1.0)
            current, window = window, Window(load.rate_of, load.latency_of)
            cpu = (time.process_time() - cpu0) / max(time.monotonic() - wall0, 1e-6)
            body = json.dumps(
                {
                    "window": current.to_wire(),
                    "cpu": round(cpu, 3),
                    "lag_ms": probe.take(),
                    "gauges": read_gauges(module),
                }
            )
            runner.send_message(
                "assess_window",
                {"node": node, "seq": seq, "body": body, "sig": sign(load.secret, node, seq, body)},
            )
            seq += 1

    gevent.spawn(ship)
    runner.greenlet.join()
    return 0


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    if argv and argv[0] == "--worker":
        return worker_main(loads(Plan, Path(argv[1]).read_text()))
    plan = loads(Plan, Path(argv[0]).read_text())
    writer = EventWriter(sys.stdout)
    try:
        result = run(plan, writer)
    except Tampered as exc:
        writer.emit(TamperedEvent(message=f"load generator: {exc}"))
        return 3
    writer.emit(LoadResultEvent(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
