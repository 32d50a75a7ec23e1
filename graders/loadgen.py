"""Locust as a library, in its own process: ``python -m graders.loadgen CONFIG.json``.

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

import importlib.util  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import math  # noqa: E402
import random  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import gevent  # noqa: E402
from locust import User, events  # noqa: E402
from locust.env import Environment  # noqa: E402

from graders.events import EventWriter  # noqa: E402
from graders.procnet import local_listeners  # noqa: E402

SATURATION_CPU = 0.90  # share of one core above which the generator, not the service, limits
RATE_TOLERANCE = 0.95  # achieved >= 95% of offered counts as keeping up


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1))
    return round(ordered[k], 2)


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


@dataclass
class Window:
    """Requests of one stage, and per-second buckets for the time series."""

    times: list[float] = field(default_factory=list)
    failures: int = 0
    count: int = 0
    cpu: list[float] = field(default_factory=list)

    def add(self, response_time: float, failed: bool) -> None:
        self.count += 1
        self.times.append(response_time)
        self.failures += failed


def mean_worker_cpu(series: list[dict[str, Any]]) -> list[float]:
    """Each worker's mean CPU (share of a core) over the measured phase."""
    rows = [
        s["workers_cpu"] for s in series if s.get("stage") == "measured" and s.get("workers_cpu")
    ]
    if not rows:
        return []
    width = max(len(r) for r in rows)
    return [round(sum(r[i] for r in rows if i < len(r)) / len(rows), 3) for i in range(width)]


def prepare_user_class(config: dict[str, Any]) -> type[User]:
    load = config["load"]
    user_class = load_user_class(Path(config["challenge_dir"]) / load["locustfile"])
    user_class.host = config["service_url"]
    user_class.wait_time = paced_wait
    for attr, value in (("network_timeout", 5.0), ("connection_timeout", 5.0)):
        setattr(user_class, attr, value)
    return user_class


def load_user_class(path: Path) -> type[User]:
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
    return classes[0]


def stage_summary(name: str, offered: float, seconds: float, w: Window) -> dict[str, Any]:
    achieved = w.count / seconds if seconds > 0 else 0.0
    return {
        "stage": name,
        "rps_offered": round(offered, 2),
        "achieved_rps": round(achieved, 2),
        "requests": w.count,
        "p50_ms": percentile(w.times, 50),
        "p95_ms": percentile(w.times, 95),
        "p99_ms": percentile(w.times, 99),
        "error_rate": round(w.failures / w.count, 4) if w.count else 1.0,
        "generator_cpu": round(sum(w.cpu) / len(w.cpu), 3) if w.cpu else 0.0,
    }


def meets(stage: dict[str, Any], slo: dict[str, float]) -> dict[str, bool]:
    return {
        "rate_met": stage["achieved_rps"] >= RATE_TOLERANCE * stage["rps_offered"],
        "p95_met": stage["p95_ms"] is not None and stage["p95_ms"] <= slo["p95_ms"],
        "p99_met": stage["p99_ms"] is not None and stage["p99_ms"] <= slo["p99_ms"],
        "errors_met": stage["error_rate"] <= slo["max_error_rate"],
    }


def score(
    met: dict[str, bool],
    capacity: float,
    target: float,
    saturated: bool,
    saved: float | None = None,
) -> float:
    """SLOs at the target rate (70 points, equal shares), capacity up to 2x target (30).

    With a declared counter (e.g. upstream requests), the share of requests it saved takes 20 of
    those points: SLOs 60, capacity 20, saved 20.
    """
    slo_w, cap_w = (70.0, 30.0) if saved is None else (60.0, 20.0)
    slo_part = slo_w * sum(met.values()) / len(met)
    cap_part = cap_w if saturated else cap_w * min(1.0, capacity / (2 * target))
    saved_part = 0.0 if saved is None else 20.0 * max(0.0, min(1.0, saved))
    return round(slo_part + cap_part + saved_part, 2)


def read_counter(config: dict[str, Any]) -> float | None:
    """The declared sidecar figure, or None if there is none or it cannot be read."""
    counter = config["load"].get("counter")
    if not counter:
        return None
    sidecar = next((s for s in config.get("sidecars", []) if s["name"] == counter["sidecar"]), None)
    if sidecar is None:
        return None
    import requests

    try:
        r = requests.get(
            sidecar["url"] + counter["path"],
            timeout=5,
            headers={"Authorization": f"Bearer {sidecar.get('token', '')}"},
        )
        return float(r.json()[counter["field"]])
    except (requests.RequestException, ValueError, KeyError, TypeError):
        return None


def run(config: dict[str, Any], writer: EventWriter) -> dict[str, Any]:
    load = config["load"]
    users = int(load["users"])
    target = float(load["target_rps"])
    slo = load["slo"]
    user_class = prepare_user_class(config)
    random.seed(int(config.get("seed", 1)))
    workers = int(load.get("workers", 0) or 0)

    window = Window()
    worker_cpu: dict[str, float] = {}

    def on_request(response_time: float, exception: Any = None, **_: Any) -> None:
        window.add(float(response_time), exception is not None)

    env = Environment(user_classes=[user_class], events=events)
    procs: list[Any] = []
    if workers:
        port = int(load.get("master_port", MASTER_PORT))
        if port in local_listeners():
            writer.emit(
                "tampered",
                message=f"port {port} (the load generator's) was already "
                "bound inside the sandbox before the grader started it",
            )
            raise SystemExit(3)
        runner: Any = env.create_master_runner("127.0.0.1", port)

        def on_window(msg: Any, **_: Any) -> None:
            data = msg.data
            window.times += data["times"]
            window.count += len(data["times"])
            window.failures += data["failures"]
            worker_cpu[msg.node_id] = data["cpu"]

        runner.register_message("assess_window", on_window)
        procs = spawn_workers(config, workers)
        deadline = time.monotonic() + 30
        while len(runner.clients.ready) < workers:
            if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                raise SystemExit(f"only {len(runner.clients.ready)} of {workers} workers joined")
            gevent.sleep(0.1)
    else:
        events.request.add_listener(on_request)  # type: ignore[no-untyped-call]
        runner = env.create_local_runner()
    series: list[dict[str, Any]] = []
    t0 = time.monotonic()

    def set_pace(interval: float) -> None:
        Pace.interval_s = interval
        if workers:
            runner.send_message("assess_pace", interval)

    def run_stage(name: str, rps: float, seconds: float) -> dict[str, Any]:
        nonlocal window
        set_pace(users / rps)
        stage_window = Window()
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            window = Window()
            cpu0, wall0 = time.process_time(), time.monotonic()
            gevent.sleep(min(1.0, max(0.0, end - time.monotonic())))
            wall = time.monotonic() - wall0
            cpu = (time.process_time() - cpu0) / wall if wall > 0 else 0.0
            if workers:  # the generator is as saturated as its busiest worker
                cpu = max([cpu, *worker_cpu.values()])
            sample = {
                "t": round(time.monotonic() - t0, 2),
                "stage": name,
                "rps": round(window.count / wall, 2) if wall > 0 else 0.0,
                "p50_ms": percentile(window.times, 50),
                "p95_ms": percentile(window.times, 95),
                "errors": window.failures,
                "users": runner.user_count,
                "generator_cpu": round(cpu, 3),
                **({"workers_cpu": [round(c, 3) for c in worker_cpu.values()]} if workers else {}),
            }
            series.append(sample)
            writer.emit("load_sample", **sample)
            stage_window.times += window.times
            stage_window.count += window.count
            stage_window.failures += window.failures
            stage_window.cpu.append(cpu)
        return stage_summary(name, rps, seconds, stage_window)

    set_pace(users / target)
    runner.start(users, spawn_rate=max(users, 1))
    try:
        if float(load.get("warmup_s", 0)) > 0:
            run_stage("warmup", target, float(load["warmup_s"]))
        before = read_counter(config)
        measured = run_stage("measured", target, float(load["duration_s"]))
        after = read_counter(config)
        counted: dict[str, Any] = {}
        saved = None
        if before is not None and after is not None and measured["requests"]:
            saved = round(1.0 - (after - before) / measured["requests"], 4)
            counted = {
                "counter": {
                    "label": load["counter"]["label"],
                    "value": after - before,
                    "requests": measured["requests"],
                    "saved": saved,
                }
            }
        met = meets(measured, slo)
        saturated = measured["generator_cpu"] >= SATURATION_CPU
        steps: list[dict[str, Any]] = []
        capacity = measured["achieved_rps"] if all(met.values()) else 0.0
        if all(met.values()):
            rps = target
            for k in range(int(load.get("max_steps", 0))):
                rps *= float(load.get("step_factor", 1.5))
                step = run_stage(f"step{k + 1}", rps, float(load.get("step_s", 5)))
                step_ok = all(meets(step, slo).values())
                steps.append({**step, "ok": step_ok})
                if step["generator_cpu"] >= SATURATION_CPU:
                    saturated = True
                if not step_ok:
                    break
                capacity = step["achieved_rps"]
                if saturated:
                    break
    finally:
        runner.quit()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except Exception:
                proc.kill()
    return {
        **measured,
        "target_rps": target,
        "users": users,
        "slo": slo,
        **met,
        "slo_met": all(met.values()),
        "capacity_rps": round(capacity, 2),
        # every step met the SLOs: the schedule ended before the service did
        "capacity_is_lower_bound": saturated or (bool(steps) and all(s["ok"] for s in steps)),
        "generator_saturated": saturated,
        "steps": steps,
        "series": series,
        "score": score(met, capacity, target, saturated, saved),
        **counted,
        "seed": int(config.get("seed", 1)),
        "workers": workers,
        "workers_cpu": mean_worker_cpu(series) if workers else [],
        "duration_s": float(load["duration_s"]),
    }


MASTER_PORT = 5557


def spawn_workers(config: dict[str, Any], n: int) -> list[Any]:
    import subprocess
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
        json.dump(config, fh)
    bootstrap = (
        "from gevent import monkey; monkey.patch_all(); import runpy; "
        "runpy.run_module('graders.loadgen', run_name='__main__')"
    )
    return [
        subprocess.Popen(
            [sys.executable, "-c", bootstrap, "--worker", fh.name], stdout=subprocess.DEVNULL
        )
        for _ in range(n)
    ]


def worker_main(config: dict[str, Any]) -> int:
    """A distributed-mode worker: runs users, ships each second's window to the master."""
    load = config["load"]
    user_class = prepare_user_class(config)
    window = Window()

    def on_request(response_time: float, exception: Any = None, **_: Any) -> None:
        window.add(float(response_time), exception is not None)

    events.request.add_listener(on_request)  # type: ignore[no-untyped-call]
    env = Environment(user_classes=[user_class], events=events)
    runner = env.create_worker_runner("127.0.0.1", int(load.get("master_port", MASTER_PORT)))

    def on_pace(msg: Any, **_: Any) -> None:
        Pace.interval_s = float(msg.data)

    runner.register_message("assess_pace", on_pace)

    def ship() -> None:
        nonlocal window
        while True:
            cpu0, wall0 = time.process_time(), time.monotonic()
            gevent.sleep(1.0)
            current, window = window, Window()
            cpu = (time.process_time() - cpu0) / max(time.monotonic() - wall0, 1e-6)
            runner.send_message(
                "assess_window",
                {"times": current.times, "failures": current.failures, "cpu": round(cpu, 3)},
            )

    gevent.spawn(ship)
    runner.greenlet.join()
    return 0


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    if argv and argv[0] == "--worker":
        return worker_main(json.loads(Path(argv[1]).read_text()))
    config = json.loads(Path(argv[0]).read_text())
    writer = EventWriter(sys.stdout)
    result = run(config, writer)
    writer.emit("load_result", **result)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
