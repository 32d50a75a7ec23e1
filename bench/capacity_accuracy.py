#!/usr/bin/env python3
"""Is assess's capacity the service's? The knee search against an independent generator.

For each service, the same container image in the same pod under the same limits (a pod as a
grading starts it, with the challenge's sandbox: 1 CPU, 128 MiB, 256 pids, read-only root, no
capabilities, no network but the pod's loopback) and the same request (``GET /healthz``, the SLOs of runner/ceiling: p95 <= 150
ms, p99 <= 400 ms, errors <= 1 %):

- **assess**: a real grading (``runner.grading.pipeline.grade``) with the generator-ceiling profile
  (runner/ceiling: one GET, Locust users of the same base class as every challenge's), its
  knee search from the target rate; ``--load-workers`` as ``assess run`` (default auto);
- **hey** (Debian's, paced per connection: ``-c C -q rate/C``, C as assess's users, by the
  same policy: graders.load.capacity.LeanUsers; eight staggered hey processes, see hey_stage) in a container with one CPU sharing the service's network namespace: the same search (graders.load.capacity.search, same grid, same
  resolution, same SLO rows), each stage one ``hey -z`` run;
- **wrk** (Debian's, closed loop, as fast as it goes): the service's raw throughput, latency
  ignored, for scale.

Services: the rest-api reference (Python, stdlib server), a small Go server (runner/ceiling/
responder: fast, so the generator is the limit) and the same Go server burning CPU per request:
350 µs (medium, about 2,500 req/s on one core) and ``--spin-us`` (slow, 1,000 µs by default). The ratio assess / hey is the figure: 0.9-1.1 is the goal
for every service below the generator's ceiling. Both searches land on the same grid (target x
2^(k/8)), so a ratio of 1.00 means the same grid point and 0.92 or 1.09 one grid step apart.

    python bench/capacity_accuracy.py [--services ref,fast,medium,slow] [--spin-us 1000]
    python bench/capacity_accuracy.py --smoke   # the slow service, searches of ~12 s
"""

from __future__ import annotations

import argparse
import io
import math
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

from _common import machine_facts  # bench/ is on sys.path when run as a script

from graders.load.capacity import LeanUsers, SearchParams, search, users_for
from graders.load.slo import meets_all
from graders.protocol import LoadPlan, Slo, Stage
from runner.challenges.registry import Challenge, load_challenge
from runner.commands import run_options
from runner.grading.pipeline import grade, grader_cpus
from runner.grading.pod import Limits, Pod, docker_client
from runner.intake.submission import load_submission

ROOT = Path(__file__).resolve().parent.parent
CEILING = ROOT / "runner" / "ceiling"
SUBMISSIONS = {
    "ref": ROOT / "challenges" / "rest-api" / "solutions" / "reference",
    "fast": CEILING / "responder",
    "medium": CEILING / "responder",
    "slow": CEILING / "responder",
}
MEDIUM_SPIN_US = 350  # medium: about 2,500 req/s on one core, below the generator's ceiling
TOOLS_TAG = "assess-bench/loadtools:1"
TOOLS_DOCKERFILE = (
    "FROM assess/base:bookworm\n"
    "RUN apt-get update && apt-get install -y --no-install-recommends wrk hey "
    "&& rm -rf /var/lib/apt/lists/*\n"
)
LABEL = {"assess-bench": "capacity"}
TOOLS_CPUS = grader_cpus(1)  # on 2 cores: 1.5 (one worker and the master), as assess's
CONNECTIONS = 32  # as runner/ceiling's users
MAX_CONNECTIONS = 800  # as its max_users


def load_avg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def spin_of(service: str, slow_spin_us: int) -> int:
    """CPU per request (µs) the Go responder burns for ``service``: 0 for the fast one."""
    return {"slow": slow_spin_us, "medium": MEDIUM_SPIN_US}.get(service, 0)


def challenge_for(service: str, slow_spin_us: int) -> Challenge:
    base = load_challenge(CEILING)
    spin = spin_of(service, slow_spin_us)
    env = {"SPIN_US": str(spin)} if spin else {}
    return Challenge(base.root, base.config.model_copy(update={"env": env}))


def assess_capacity(
    client: Any, service: str, spin_us: int, workers: str, load_duration: float | None = None
) -> Any:
    challenge = challenge_for(service, spin_us)
    opts = run_options(
        challenge,
        candidate=False,
        skip_load=False,
        load_duration=load_duration,
        seed=1,
        load_workers=workers,
    )
    results = grade(client, challenge, load_submission(SUBMISSIONS[service]), opts)
    if results.load is None:
        sys.exit(f"{service}: no load result ({results.verdict.value}: {results.verdict_detail})")
    return results.load


def tools_image(client: Any) -> None:
    try:
        client.images.get(TOOLS_TAG)
    except Exception:
        client.images.build(
            fileobj=io.BytesIO(TOOLS_DOCKERFILE.encode()), tag=TOOLS_TAG, rm=True, forcerm=True
        )


def start_service(client: Any, image: str, service: str, spin_us: int) -> Pod:
    """The service as a grading runs it: a pod (holder + candidate) with the challenge's own
    limits (CPU, memory, pids, tmpfs, user, capabilities), so only the generator differs."""
    sb = challenge_for(service, spin_us).config.sandbox
    limits = Limits(cpus=sb.cpus, memory_mb=sb.memory_mb, pids=sb.pids, tmpfs_mb=sb.tmpfs_mb)
    env = {"PORT": "8080", **challenge_for(service, spin_us).config.env}
    pod = Pod(client)
    try:
        pod.start_holder()
        pod.start_candidate(image, env, limits)
    except BaseException:
        pod.teardown()
        raise
    return pod


def in_tools(client: Any, pod: Pod, cmd: list[str], timeout: float) -> str:
    box = client.containers.run(
        TOOLS_TAG,
        cmd,
        detach=True,
        network_mode=pod.netns,
        nano_cpus=int(TOOLS_CPUS * 1e9),  # as assess's generator: grading.grader_cpus(1)
        labels={**LABEL, **pod.labels("bench-tool")},  # `assess gc` removes it after a kill
    )
    try:
        box.wait(timeout=timeout)
        return str(box.logs().decode(errors="replace"))
    finally:
        box.remove(force=True)


def wait_ready(client: Any, pod: Pod) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        out = in_tools(
            client, pod, ["hey", "-n", "1", "-c", "1", "http://127.0.0.1:8080/healthz"], 20
        )
        if "[200]" in out:
            return
        time.sleep(0.5)
    sys.exit("service never answered /healthz")


HEY_GROUPS = 8  # hey processes per stage, their starts staggered across one interval


def hey_stage(client: Any, pod: Pod, rate: float, seconds: float, conns: int) -> Stage:
    """One stage of ``conns`` connections at ``rate`` (as assess's users, by the same policy:
    graders.load.capacity.LeanUsers; hey is closed-loop per connection, so too few would cap the
    rate at connections / latency).

    hey paces each connection with its own ticker, all started together: every connection
    fires in the same instant, a burst of ``conns`` requests per interval, where Locust's users
    are spread over the interval. A service near its knee queues a burst, and hey's p95 then
    measures the burst (150 ms against Locust's 25 ms on the same slow service at the same
    rate). So the stage runs ``HEY_GROUPS`` hey processes of ``conns / HEY_GROUPS``
    connections each, their starts staggered across one interval: bursts of an eighth. Counts
    add up exactly; p95 and p99 are the mean of the groups' (equal rates, so equal weights: an
    approximation of the merged percentile)."""
    groups = max(1, min(HEY_GROUPS, conns))
    per_group = math.ceil(conns / groups)
    per_conn = rate / (per_group * groups)
    interval = 1 / per_conn
    script = " ".join(
        f"(sleep {i * interval / groups:.4f}; hey -z {seconds:g}s -c {per_group} "
        f"-q {per_conn:.3f} http://127.0.0.1:8080/healthz) &"
        for i in range(groups)
    )
    out = in_tools(client, pod, ["sh", "-c", script + " wait"], seconds + 30)

    def mean_of(pattern: str) -> float | None:
        found = [float(x) for x in re.findall(pattern, out)]
        return sum(found) / len(found) if len(found) == groups else None

    ok = sum(int(n) for n in re.findall(r"\[200\]\s+(\d+) responses", out))
    other = sum(int(n) for c, n in re.findall(r"\[(\d+)\]\s+(\d+) responses", out) if c != "200")
    errors = sum(int(n) for n in re.findall(r"\[(\d+)\]\s+Get ", out))
    errors += other
    total = ok + errors
    p95, p99 = mean_of(r"95% in ([\d.]+) secs"), mean_of(r"99% in ([\d.]+) secs")
    return Stage(
        stage="hey",
        rps_offered=rate,
        achieved_rps=round(ok / seconds, 2),
        requests=total,
        failures=errors,
        p50_ms=None,
        p95_ms=None if p95 is None else round(1000 * p95, 2),
        p99_ms=None if p99 is None else round(1000 * p99, 2),
        error_rate=round(errors / total, 4) if total else 1.0,
        generator_cpu=0.0,
    )


def hey_capacity(
    client: Any, pod: Pod, target: float, slo: Slo, step_s: float, budget_s: float = 150
) -> Any:
    plan = LoadPlan(target_rps=target, slo=slo, users=CONNECTIONS, max_users=MAX_CONNECTIONS)
    first = hey_stage(client, pod, target, step_s, users_for(plan, target))
    if not meets_all(first, slo):
        return None
    lean = LeanUsers(plan)
    lean.saw(first)
    params = SearchParams(budget_s=budget_s, stage_s=step_s + 2, max_stages=12)
    return search(
        lambda r: lean.stage(r, lambda n: hey_stage(client, pod, r, step_s, n)),
        target,
        target,
        slo,
        params,
    )


def wrk_max(client: Any, pod: Pod) -> float:
    out = in_tools(
        client,
        pod,
        ["wrk", "-t1", f"-c{CONNECTIONS}", "-d5s", "http://127.0.0.1:8080/healthz"],
        40,
    )
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    return float(m.group(1)) if m else 0.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--services", default="ref,fast,medium,slow")
    ap.add_argument("--spin-us", type=int, default=1000)
    ap.add_argument("--load-workers", default="auto")
    ap.add_argument("--stages", action="store_true", help="print every stage of both searches")
    ap.add_argument(
        "--smoke", action="store_true", help="the slow service, short searches (CI: it runs)"
    )
    args = ap.parse_args()
    load_duration, hey_budget = (2.0, 12.0) if args.smoke else (None, 150.0)
    if args.smoke:
        args.services = "slow"
    machine_facts()
    client = docker_client()
    tools_image(client)
    cfg = load_challenge(CEILING).config.load
    assert cfg is not None
    slo = Slo(cfg.slo.p95_ms, cfg.slo.p99_ms, cfg.slo.max_error_rate)
    print(
        f"request GET /healthz · SLO p95 <= {slo.p95_ms:g} ms, p99 <= {slo.p99_ms:g} ms, "
        f"errors <= {100 * slo.max_error_rate:g} % · from {cfg.target_rps:g} req/s, x"
        f"{cfg.step_factor:g} then bisection to {100 * cfg.capacity_resolution:g} % · "
        f"stages {cfg.step_s:g} s · service 1 CPU · hey {CONNECTIONS}-{MAX_CONNECTIONS} connections (as assess: lean, SLO count on a rate miss), wrk {CONNECTIONS}, tools {TOOLS_CPUS:g} CPUs"
    )
    header = (
        f"{'service':8} {'assess':>9} {'(achvd)':>9} {'stop':>9} {'ceiling':>8} "
        f"{'hey':>9} {'(achvd)':>9} {'stop':>9} {'ratio':>6} {'wrk max':>9}  load avg"
    )
    print("figures:")
    print(header)
    tables: list[tuple[str, tuple[Stage, ...]]] = []
    for service in args.services.split(","):
        load = assess_capacity(client, service, args.spin_us, args.load_workers, load_duration)
        image = image_of(client, service)
        pod = start_service(client, image, service, args.spin_us)
        try:
            wait_ready(client, pod)
            knee = hey_capacity(client, pod, cfg.target_rps, slo, cfg.step_s, hey_budget)
            wrk = wrk_max(client, pod)
        finally:
            pod.teardown()
        tables.append((f"{service} assess", (load.measured, *load.steps)))
        tables.append((f"{service} hey", knee.steps if knee else ()))
        a = load.capacity_lower_rps if load.slo_met else 0.0
        h = knee.lower_rps if knee else 0.0
        ratio = f"{a / h:.2f}" if h else "-"
        ceiling = f"{load.generator_ceiling_rps:,.0f}" if load.generator_ceiling_rps else "-"
        stop = load.capacity_stop + ("*" if load.generator_limited else "")
        print(
            f"{service:8} {a:9,.0f} {load.capacity_rps:9,.0f} {stop:>9} {ceiling:>8} "
            f"{h:9,.0f} {knee.capacity_rps if knee else 0:9,.0f} "
            f"{knee.stop if knee else '-':>9} {ratio:>6} {wrk:9,.0f}  {load_avg()}",
            flush=True,
        )
    print("* assess reads this capacity as the generator's (at least X)")
    print(f"load at end: {load_avg()}")
    if args.stages:
        for name, steps in tables:
            print(f"\n{name}: stage  offered  achieved  p95 ms  p99 ms  errors  gen cpu  ok")
            for s in steps:
                print(
                    f"  {s.stage:14} {s.rps_offered:8,.0f} {s.achieved_rps:9,.0f} "
                    f"{s.p95_ms or 0:7.1f} {s.p99_ms or 0:7.1f} {100 * s.error_rate:6.2f}% "
                    f"{s.generator_cpu:7.2f}  {s.ok}"
                )


def image_of(client: Any, service: str) -> str:
    """The image the grading just built (cached by content, so the same one)."""
    from runner.grading.build import build_submission
    from runner.grading.images import Images
    from runner.grading.pipeline import RunOptions

    challenge = challenge_for(service, 0)
    build = build_submission(
        client, Images(client), challenge, load_submission(SUBMISSIONS[service]), RunOptions()
    )
    if not build.ok or build.image_id is None:
        sys.exit(f"{service}: did not build: {build.reason}")
    return build.image_id


if __name__ == "__main__":
    main()
