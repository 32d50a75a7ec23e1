"""Grading: build -> pod -> ready -> checks -> load -> after-load checks -> one Results.

The host never talks to the candidate's service: the grader does, from inside the pod, and
reports through events (progress) and a results file (the record). The host watches the
candidate's container (exit, OOM) and enforces each phase's wall-time limit.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import math
import os
import platform
import queue
import re
import secrets
import subprocess
import sys
import tarfile
import threading
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import graders
import runner
from graders.protocol import (
    MASTER_PORT,
    CounterSpec,
    GraderOutcome,
    LoadPlan,
    LoadResult,
    LoadSample,
    Phase,
    Plan,
    ProtocolError,
    SidecarSpec,
    Slo,
    dumps,
    loads,
)
from runner.challenges import Challenge
from runner.errors import InfraError
from runner.images import GRADER_TAG, RUNTIME_TAGS, BuildResult, Images, stream_build
from runner.outcome import Base, CandidateFacts, assemble_results, decide_verdict, signal_name
from runner.readiness import ClosedPortWatch, WrongPortWatch
from runner.results import (
    CapturedOutput,
    Manifest,
    Resources,
    ResourceSample,
    Results,
    Timings,
    Verdict,
)
from runner.sandbox import Limits, LogTap, OomCounter, Pod, StatsSampler, user_ids
from runner.services import (
    CANDIDATE_PORT,
    MAX_GRACE_S,
    MAX_REQUESTS,
    ServiceController,
    ServiceTarget,
    wait_ready,
)
from runner.stream import EventPump, Listener, Stop, phase_limits, pump_events
from runner.submissions import Submission

SUBMISSION_REPO = "assess-sub"
SIDECAR_CPUS = 0.5


@dataclass
class RunOptions:
    mode: str = "interviewer"
    seed: int = 1
    skip_load: bool = True
    load_duration_s: float | None = None
    load_workers: int = 0
    docker_runtime: str | None = None
    listener: Listener = field(default=lambda e: None)
    select: tuple[str, ...] = ()  # a partial run: these check ids or -k (graders/selection.py)
    keyword: str = ""
    fail_fast: bool = False
    # Ctrl-C during the grading returns a partial Results (verdict interrupted) instead of
    # raising: `assess run` writes its reports, then exits 130. Batches keep raising.
    partial_on_interrupt: bool = False


def _emit(opts: RunOptions, event: str, **data: Any) -> None:
    opts.listener({"event": event, **data})


# -- grader payload -------------------------------------------------------------------------
def _add_tree(tar: tarfile.TarFile, src: Path, arc: str, skip: set[str]) -> None:
    for path in sorted(src.rglob("*")):
        rel = path.relative_to(src)
        if any(part in skip for part in rel.parts) or path.is_symlink():
            continue
        info = tar.gettarinfo(str(path), arcname=f"{arc}/{rel.as_posix()}")
        info.uid = info.gid = 0
        info.mode = 0o755 if path.is_dir() else 0o644
        if path.is_file():
            with open(path, "rb") as fh:
                tar.addfile(info, fh)
        else:
            tar.addfile(info)


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def graders_code_hash() -> str:
    h = hashlib.sha256()
    root = Path(graders.__file__).parent
    for path in sorted(root.rglob("*.py")):
        h.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def grader_archive(challenge: Challenge, plan: Plan) -> bytes:
    """The grader's files: our graders package, the challenge (never its solutions), the plan."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        _add_tree(tar, Path(graders.__file__).parent, "assess/lib/graders", {"__pycache__"})
        _add_tree(tar, challenge.root, "assess/challenge", {"solutions", "sidecars", "__pycache__"})
        _add_bytes(tar, "assess/plan.json", dumps(plan).encode())
        for name in ("assess/out", "assess/in"):
            d = tarfile.TarInfo(name)
            d.type = tarfile.DIRTYPE
            d.mode = 0o755
            tar.addfile(d)
    return buf.getvalue()


def sidecar_archive(challenge: Challenge, path: str) -> bytes:
    """A sidecar's files, with our graders package beside them (graders.sidecar: the bounded
    HTTP server and token check every sidecar shares; importable from the script's folder)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        _add_tree(tar, challenge.root / path, "sidecar", {"__pycache__"})
        _add_tree(tar, Path(graders.__file__).parent, "sidecar/graders", {"__pycache__"})
    return buf.getvalue()


def make_plan(
    challenge: Challenge,
    opts: RunOptions,
    service_url: str,
    challenge_dir: str,
    results_path: str,
    sidecars: tuple[SidecarSpec, ...],
) -> Plan:
    cfg = challenge.config
    phases = [Phase.READY, Phase.CHECKS, Phase.AFTER_LOAD]
    load = None
    if cfg.load and not opts.skip_load:
        phases.insert(2, Phase.LOAD)
        c = cfg.load
        from runner import calibration

        host = host_fingerprint()
        load = LoadPlan(
            target_rps=c.target_rps,
            slo=Slo(c.slo.p95_ms, c.slo.p99_ms, c.slo.max_error_rate),
            locustfile=c.locustfile,
            users=c.users,
            max_users=c.max_users,
            warmup_s=c.warmup_s,
            duration_s=opts.load_duration_s or c.duration_s,
            step_factor=c.step_factor,
            max_steps=c.max_steps,
            step_s=c.step_s,
            capacity_budget_s=capacity_budget(c.capacity_budget_s, c.step_s, opts.load_duration_s),
            capacity_resolution=c.capacity_resolution,
            reference_capacity_rps=calibration.reference_capacity(challenge, host),
            generator_ceiling_rps=calibration.stored_ceiling(host, opts.load_workers),
            counter=CounterSpec(**c.counter.model_dump()) if c.counter else None,
            rate_of=c.rate_of,
            latency_of=c.latency_of,
            workers=opts.load_workers,
            secret=secrets.token_hex(16),
        )
    return Plan(
        service_url=service_url,
        challenge_dir=challenge_dir,
        results_path=results_path,
        mode=_mode(opts),
        seed=opts.seed,
        phases=tuple(phases),
        default_points=cfg.scoring.default_points,
        check_timeout_s=cfg.limits.check_s,
        ready_timeout_s=cfg.limits.ready_s,
        checks_timeout_s=cfg.limits.checks_s,
        sidecars=sidecars,
        load=load,
        select=opts.select,
        keyword=opts.keyword,
        fail_fast=opts.fail_fast,
    )


def capacity_budget(configured: float, step_s: float, load_duration_s: float | None) -> float:
    """The knee search's budget; a shortened measured phase (``--load-duration``, tests)
    shortens it too, to 4x that duration, but never below two stages."""
    if load_duration_s is None:
        return configured
    return min(configured, max(2 * (step_s + 1), 4 * load_duration_s))


def grader_cpus(workers: int) -> float:
    """A core per worker and half of one for the master (which merges windows); one core for
    the single local generator. Never more than the machine has."""
    cores = float(os.cpu_count() or 1)
    return min(cores, workers + 0.5) if workers else 1.0


def auto_load_workers(challenge: Challenge) -> int:
    """One Locust worker per whole core the candidate and its sidecars leave free (0: none
    free, one local generator). 2 cores, a 1-CPU candidate: 1."""
    given = challenge.config.sandbox.cpus + SIDECAR_CPUS * len(challenge.config.sidecars)
    return max(0, min(8, math.floor((os.cpu_count() or 1) - given)))


def _mode(opts: RunOptions) -> Literal["interviewer", "candidate"]:
    return "candidate" if opts.mode == "candidate" else "interviewer"


def stamp_sample(sample: LoadSample, sampler: StatsSampler) -> LoadSample:
    """Add the candidate's latest CPU seconds and memory to a live load sample."""
    if not sampler.samples:
        return sample
    last = sampler.samples[-1]
    return replace(sample, cpu_s=round(last.cpu_s, 3), mem_mb=last.mem_mb)


def merge_candidate_usage(load: LoadResult, live: list[LoadSample]) -> LoadResult:
    """Give each second of the load series the candidate's CPU (% of a core) and memory.

    The grader's series and the live samples the host stamped are the same seconds in the
    same order; the grader cannot see the candidate's cgroup, the host can.
    """
    series = []
    previous: LoadSample | None = None
    for point, stamped in zip(load.series, live, strict=False):
        if stamped.cpu_s is None:
            series.append(point)
            continue
        point = replace(point, cpu_s=stamped.cpu_s, mem_mb=stamped.mem_mb)
        if previous is not None and previous.cpu_s is not None and point.t > previous.t:
            used = stamped.cpu_s - previous.cpu_s
            point = replace(
                point, cpu_pct=round(max(0.0, 100.0 * used / (point.t - previous.t)), 1)
            )
        series.append(point)
        previous = point
    series += load.series[len(series) :]
    return replace(load, series=tuple(series))


def _follow(container: Any, sink: queue.Queue[str | None]) -> None:
    buf = b""
    try:
        for chunk in container.logs(stream=True, follow=True, stdout=True, stderr=False):
            buf += chunk
            *lines, buf = buf.split(b"\n")
            for line in lines:
                sink.put(line.decode("utf-8", "replace"))
    except Exception:
        pass
    finally:
        if buf:
            sink.put(buf.decode("utf-8", "replace"))
        sink.put(None)


def host_fingerprint() -> dict[str, Any]:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_mb = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem_mb = int(line.split()[1]) // 1024
    except OSError:
        pass
    return {
        "cpu_model": cpu,
        "cores": os.cpu_count() or 0,
        "memory_mb": mem_mb,
        "os": platform.platform(),
        "machine": platform.machine(),
    }


def tool_versions(client: Any | None) -> dict[str, str]:
    import importlib.metadata as md

    tools = {"python": platform.python_version()}
    for name in ("pytest", "locust", "docker"):
        with contextlib.suppress(md.PackageNotFoundError):
            tools[name] = md.version(name)
    if client is not None:
        with contextlib.suppress(Exception):
            tools["docker_engine"] = str(client.version().get("Version", "?"))
    return tools


def build_submission(
    client: Any,
    images: Images,
    challenge: Challenge,
    submission: Submission,
    opts: RunOptions,
) -> BuildResult:
    """Build (or reuse) the submission's image."""
    import docker.errors

    start = time.monotonic()
    if submission.kind == "preset":
        images.ensure_runtime(submission.runtime)
    digest = submission.content_hash(RUNTIME_TAGS)
    tag = f"{SUBMISSION_REPO}/{challenge.id}:{digest[:16]}"
    try:
        image = client.images.get(tag)
        if (image.labels or {}).get("assess.inputs") == digest:
            _emit(opts, "build", state="cached", tag=tag)
            return BuildResult(
                True,
                str(image.id),
                ["(image reused: the submission is unchanged)"],
                0.0,
                cached=True,
            )
    except docker.errors.ImageNotFound:
        pass
    result = stream_build(
        client,
        submission.context_tar(RUNTIME_TAGS),
        tag=tag,
        dockerfile=submission.dockerfile_name,
        labels={"assess.inputs": digest, "assess.kind": "submission"},
        timeout_s=challenge.config.limits.build_s,
        progress=lambda line: _emit(opts, "build_log", line=line),
    )
    return replace(result, seconds=time.monotonic() - start)


def grade(
    client: Any,
    challenge: Challenge,
    submission: Submission,
    opts: RunOptions,
) -> Results:
    """Build the submission, grade it in a pod, return the one Results."""
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    t0 = time.monotonic()
    cfg = challenge.config
    images = Images(client, progress=lambda s: _emit(opts, "images", line=s))
    _emit(opts, "phase", phase="images", state="start")
    grader_image = images.ensure_grader()
    own_images = sidecar_images(images, challenge)
    _emit(opts, "phase", phase="build", state="start")
    build = build_submission(client, images, challenge, submission, opts)
    _emit(opts, "phase", phase="build", state="end", ok=build.ok, seconds=round(build.seconds, 2))
    pod = Pod(client, runtime=opts.docker_runtime)
    manifest = Manifest(
        assess_version=runner.__version__,
        run_id=pod.run_id,
        started_at=started_at,
        challenge_version=cfg.version,
        seed=opts.seed,
        candidate_image=build.image_id,
        grader_image=grader_image,
        grader_code_sha256=graders_code_hash(),
        tools=tool_versions(client),
        host=host_fingerprint(),
    )
    base = Base(
        challenge=challenge,
        submission=str(submission.root),
        mode=_mode(opts),
        manifest=manifest,
        build_s=build.seconds,
        build_log=build.log_tail,
        t0=t0,
    )
    if not build.ok or build.image_id is None:
        return Results(
            **base.fields(),
            # a base image this machine lacks is not the candidate's fault: our side, exit 3
            verdict=Verdict.ERROR if build.missing_base else Verdict.BUILD_FAILED,
            verdict_detail=build.reason or "the image did not build (see the build log)",
            score=0.0,
            load_requested=bool(cfg.load and not opts.skip_load),
            timings=Timings(
                build_s=round(build.seconds, 3), total_s=round(time.monotonic() - t0, 3)
            ),
        )
    sb = cfg.sandbox
    limits = Limits(cpus=sb.cpus, memory_mb=sb.memory_mb, pids=sb.pids, tmpfs_mb=sb.tmpfs_mb)
    if cfg.kind == "tests":  # the submission is a test suite: graded by the mutants it kills
        from runner.mutation import grade_suite

        return grade_suite(client, challenge, opts, build.image_id, limits, base)
    with pod:
        return _run_pod(
            pod, challenge, opts, build.image_id, grader_image, limits, base, own_images
        )


INTERRUPTED_DETAIL = "interrupted (Ctrl-C): the checks run so far are kept, the rest not run"

# Ports the grader's tools may bind (Locust's master, in distributed mode): never the candidate's.
GRADER_PORTS = frozenset({MASTER_PORT, MASTER_PORT + 1})


def reserved_ports(sidecars: tuple[SidecarSpec, ...]) -> dict[int, str]:
    """Port -> the role that alone may listen on it."""
    reserved = dict.fromkeys(GRADER_PORTS, "grader")
    for s in sidecars:
        reserved[s.port] = f"sidecar-{s.name}"
        if s.control_port:
            reserved[s.control_port] = f"sidecar-{s.name}"
    return reserved


def sidecar_images(images: Images, challenge: Challenge) -> dict[str, str]:
    """Name -> image of each sidecar with its own Dockerfile (built when missing or changed)."""
    return {
        sc.name: images.ensure_sidecar(
            challenge.id, sc.name, challenge.root / sc.path, sc.dockerfile
        )
        for sc in challenge.config.sidecars
        if sc.dockerfile
    }


def sidecar_targets(challenge: Challenge) -> dict[str, ServiceTarget]:
    return {
        sc.name: ServiceTarget(
            f"sidecar-{sc.name}",
            sc.port,
            sc.ready_s,
            tuple(sc.ready_cmd),
            (sc.control_port,) if sc.control_port else (),
        )
        for sc in challenge.config.sidecars
    }


def _start_sidecars(
    pod: Pod, challenge: Challenge, opts: RunOptions, own_images: dict[str, str]
) -> tuple[SidecarSpec, ...]:
    specs = []
    for sc in challenge.config.sidecars:
        token = secrets.token_hex(16)
        env = {
            "PORT": str(sc.port),
            "CONTROL_PORT": str(sc.control_port),
            "ASSESS_CONTROL_TOKEN": token,
            **sc.env,
        }
        own = own_images.get(sc.name)
        pod.start_helper(
            f"sidecar-{sc.name}",
            own or GRADER_TAG,
            command=list(sc.command),
            archive=None if own else sidecar_archive(challenge, sc.path),
            env=env,
            cpus=sc.cpus,
            memory_mb=sc.memory,
            pids=sc.pids,
            user=sc.user,
            tmpfs=dict(sc.tmpfs),
        )
        if own and not pod.host_view:
            # The uid rule (no host view) takes uid 0 for ours: a sidecar running as another
            # user must be known as ours too, or its own port would read as the candidate's.
            with contextlib.suppress(Exception):
                pod.helper_uids.add(user_ids(pod.client, own, sc.user)[0])
        specs.append(
            SidecarSpec(
                name=sc.name,
                url=f"http://127.0.0.1:{sc.control_port}" if sc.control_port else "",
                token=token,
                port=sc.port,
                control_port=sc.control_port,
            )
        )
    targets = sidecar_targets(challenge)
    start = time.monotonic()
    for sc in challenge.config.sidecars:
        target = targets[sc.name]
        why = wait_ready(pod, target, start + target.ready_s)
        if why is not None:
            raise InfraError(f"challenge sidecar {sc.name!r}: {why}")
    _emit(opts, "sidecars", names=[s.name for s in specs])
    return tuple(specs)


def _run_pod(
    pod: Pod,
    challenge: Challenge,
    opts: RunOptions,
    cand_image: str,
    grader_image: str,
    limits: Limits,
    base: Base,
    own_images: dict[str, str] | None = None,
) -> Results:
    cfg = challenge.config
    pod.start_holder()
    sidecars = _start_sidecars(pod, challenge, opts, own_images or {})
    reserved = reserved_ports(sidecars)
    env = {"PORT": "8080", **cfg.env}
    _emit(opts, "phase", phase="start", state="start")
    candidate = pod.start_candidate(cand_image, env, limits)
    candidate_started = time.monotonic()
    oom = OomCounter(pod.client, candidate).start()
    log_tap = LogTap(candidate).start()
    sampler = StatsSampler(candidate)
    sampler.start_thread()
    plan = replace(
        make_plan(
            challenge,
            opts,
            "http://127.0.0.1:8080",
            "/assess/challenge",
            "/assess/out/grader.json",
            sidecars,
        ),
        log_dir="/assess/in",
        services=("candidate", *(s.name for s in sidecars)),
        service_secret=secrets.token_hex(16),
        max_service_requests=MAX_REQUESTS,
        # the longest action: a full grace, a kill, the slowest readiness, and slack
        service_wait_s=max([cfg.limits.ready_s, *(sc.ready_s for sc in cfg.sidecars)])
        + MAX_GRACE_S
        + 30.0,
    )
    grader = pod.start_helper(
        "grader",
        grader_image,
        command=["python", "-m", "graders.main", "/assess/plan.json"],
        archive=grader_archive(challenge, plan),
        env={"ASSESS_SEED": str(opts.seed)},
        cpus=grader_cpus(opts.load_workers),
        memory_mb=1024,
    )
    lines: queue.Queue[str | None] = queue.Queue()
    threading.Thread(target=_follow, args=(grader, lines), daemon=True).start()

    pump = EventPump(
        phase_limits(challenge, plan), opts.listener, stamp=lambda s: stamp_sample(s, sampler)
    )
    pump.on_log_request = lambda token: hand_over_log(grader, log_tap, plan.log_dir, token)

    def started(role: str, since: float) -> None:
        if role == "candidate":  # its log and stats streams ended with the old process
            log_tap.resume(since)
            sampler.resume()

    controller = ServiceController(
        pod,
        grader,
        plan.log_dir,
        plan.service_secret,
        {
            "candidate": ServiceTarget("candidate", CANDIDATE_PORT, cfg.limits.ready_s),
            **sidecar_targets(challenge),
        },
        t0=base.t0,
        on_started=started,
        listener=opts.listener,
    )
    pump.on_service_request = controller.handle
    cand = CandidateFacts(limits=limits)
    next_poll = next_port_look = 0.0
    # a quarter of the readiness budget (2-8 s): a service idling on the wrong port is told
    # long before ready_s, one still waiting a moment for something is not cut short
    port_watch = WrongPortWatch(CANDIDATE_PORT, settle_s=min(8.0, max(2.0, cfg.limits.ready_s / 4)))

    def tick() -> Stop | None:
        nonlocal next_poll, next_port_look
        if time.monotonic() < next_poll:
            return None
        next_poll = time.monotonic() + 0.25
        problem = pod.integrity(reserved)
        if problem is not None:
            verdict = Verdict.TAMPERED if problem.kind == "tampered" else Verdict.ERROR
            return Stop(verdict, problem.message)
        if pump.ready is None and time.monotonic() >= next_port_look:
            next_port_look = time.monotonic() + 1.0
            with contextlib.suppress(Exception):  # an unreadable table: the ready wait decides
                wrong = port_watch.look(
                    pod.listener_owners(),
                    list(sampler.samples),
                    time.monotonic() - sampler.start,
                )
                if wrong:
                    return Stop(Verdict.NOT_READY, wrong)
        state = pod.state("candidate")
        if "candidate" in pod.down:
            return None  # a check stopped it on purpose: not a crash
        if cand.exited_in is None and state.get("Status") in ("exited", "dead", "removed"):
            cand.state = state
            cand.exited_in = pump.phase_at(state.get("FinishedAt"))
            _emit(
                opts,
                "candidate_exit",
                phase=cand.exited_in,
                exit_code=state.get("ExitCode"),
                oom=state.get("OOMKilled", False),
            )
            if pump.ready is None or not pump.ready.ok:
                return Stop(Verdict.CRASHED, "exited before it was ready")
        return None

    try:
        stop = pump_events(lines, pump, tick)
    except KeyboardInterrupt:  # Ctrl-C: a partial report of what ran; the pod is still removed
        if not opts.partial_on_interrupt:
            raise
        stop = Stop(Verdict.INTERRUPTED, INTERRUPTED_DETAIL)
    if stop is None:
        stop = tick_final(pod, reserved)
    sampler.stop()
    pump.absorb(_fetch_results(grader))
    # The last word on the candidate: an exit during the last check is still an exit.
    final_state = pod.state("candidate")
    stopped_on_purpose = "candidate" in pod.down
    if (
        cand.exited_in is None
        and not stopped_on_purpose
        and final_state.get("Status") in ("exited", "dead", "removed")
    ):
        cand.exited_in = pump.phase_at(final_state.get("FinishedAt"))
    cand.state = final_state if cand.exited_in is None or not cand.state else cand.state
    oom.stop()
    cand.oom_kills = oom.count
    if pump.load is not None:
        pump.load = merge_candidate_usage(pump.load, pump.samples)
    if stop is not None and stop.verdict == Verdict.CRASHED:
        stop = None  # decided from the candidate's facts below
    verdict, detail = decide_verdict(pump, stop, cand)
    exit_code = cand.exit_code
    resources = Resources(
        cpus=limits.cpus,
        memory_limit_mb=limits.memory_mb,
        pids_limit=limits.pids,
        cpu_s=round(sampler.cpu_s, 3),
        peak_memory_mb=round(sampler.peak_mem_mb, 2),
        peak_pids=sampler.peak_pids,
        oom_killed=bool(cand.state.get("OOMKilled")),
        oom_kills=cand.oom_kills,
        exit_code=exit_code,
        signal=signal_name(exit_code),
        samples=[
            ResourceSample(t=s.t, cpu_s=round(s.cpu_s, 3), mem_mb=s.mem_mb, pids=s.pids)
            for s in sampler.samples
        ],
    )
    service_log = log_tap.finish()
    if pump.ready is not None and pump.ready.ok and pump.ready_at is not None:
        # from the candidate's start (the grader's own clock starts later)
        pump.ready = replace(pump.ready, ready_s=round(pump.ready_at - candidate_started, 3))
    results = assemble_results(
        base,
        plan,
        pump,
        verdict,
        detail,
        resources=resources,
        service_actions=controller.actions,
        service_log=CapturedOutput(
            text=service_log.text,
            total_bytes=service_log.total_bytes,
            dropped_bytes=service_log.dropped_bytes,
        ),
    )
    # What the integrity watch could not make certain: said, never scored (runner.attribution)
    notes = [f"integrity: {n}" for n in pod.integrity_notes]
    return results.model_copy(update={"score_notes": [*results.score_notes, *notes]})


LOG_TOKEN = re.compile(r"^[0-9a-f]{16}$")


def hand_over_log(grader: Any, log_tap: LogTap, log_dir: str, token: str) -> None:
    """Write the service's recent output into the grader, then a marker that it is complete."""
    if not LOG_TOKEN.fullmatch(token):
        return  # our plugin makes these; anything else is not a path we write
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        _add_bytes(tar, f"{token}.log", log_tap.recent_bytes())
        _add_bytes(tar, f"{token}.done", b"")
    with contextlib.suppress(Exception):  # the grader is gone: its check fails on its deadline
        grader.put_archive(log_dir, buf.getvalue())


def tick_final(pod: Pod, reserved: dict[int, str]) -> Stop | None:
    """One last integrity look after the grader finished (a squatter that came late)."""
    problem = pod.integrity(reserved)
    if problem is None:
        return None
    return Stop(Verdict.TAMPERED if problem.kind == "tampered" else Verdict.ERROR, problem.message)


def _fetch_results(grader: Any) -> GraderOutcome | None:
    """The grader's results file, read out of its container (the candidate cannot reach it)."""
    with contextlib.suppress(Exception):
        grader.kill()
    try:
        stream, _ = grader.get_archive("/assess/out/grader.json")
        data = b"".join(stream)
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            member = tar.next()
            fh = tar.extractfile(member) if member else None
            return loads(GraderOutcome, fh.read().decode()) if fh else None
    except Exception:
        return None


# -- --url mode: the same grading code, on the host ------------------------------------------
def grade_url(
    challenge: Challenge,
    url: str,
    opts: RunOptions,
    workdir: Path,
    sidecars: tuple[SidecarSpec, ...] = (),
) -> Results:
    """Grade a service already running on this machine (loopback only), with the same steps,
    phase limits and deadlines as in the pod; ``sidecars``: the challenge's, already running on
    loopback (runner.hostsidecars), driven through their control URLs and tokens."""
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    t0 = time.monotonic()
    cfg = challenge.config
    results_path = workdir / "grader.json"
    plan = make_plan(
        challenge, opts, url.rstrip("/"), str(challenge.root), str(results_path), sidecars
    )
    plan_path = workdir / "plan.json"
    plan_path.write_text(dumps(plan))
    plan_path.chmod(0o600)
    env = {
        **os.environ,
        "ASSESS_SEED": str(opts.seed),
        "PYTHONPATH": str(Path(graders.__file__).parent.parent),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "graders.main", str(plan_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    lines: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    pump = EventPump(phase_limits(challenge, plan), opts.listener)
    closed = ClosedPortWatch(url)
    next_look = 0.0

    def tick() -> Stop | None:
        nonlocal next_look
        if pump.ready is not None or time.monotonic() < next_look:
            return None
        next_look = time.monotonic() + 1.0
        why = closed.look()
        return Stop(Verdict.NOT_READY, why) if why else None

    try:
        stop = pump_events(lines, pump, tick)
    except KeyboardInterrupt:
        if not opts.partial_on_interrupt:
            raise
        stop = Stop(Verdict.INTERRUPTED, INTERRUPTED_DETAIL)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        reader.join(5)
        if proc.stdout is not None:
            proc.stdout.close()
    final = None
    if results_path.is_file():
        with contextlib.suppress(ProtocolError):
            final = loads(GraderOutcome, results_path.read_text())
    pump.absorb(final)
    verdict, detail = decide_verdict(pump, stop, None)
    base = Base(
        challenge=challenge,
        submission=url,
        mode=_mode(opts),
        manifest=Manifest(
            assess_version=runner.__version__,
            run_id="url",
            started_at=started_at,
            challenge_version=cfg.version,
            seed=opts.seed,
            grader_code_sha256=graders_code_hash(),
            tools=tool_versions(None),
            host=host_fingerprint(),
        ),
        t0=t0,
    )
    return assemble_results(base, plan, pump, verdict, detail)
