"""Grading: build -> pod -> ready -> checks -> load -> after-load checks -> one Results.

The host never talks to the candidate's service: the grader does, from inside the pod, and
reports through events (progress) and a results file (the record). The host watches the
candidate's container (exit, OOM) and enforces each phase's wall-time limit.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import platform
import queue
import secrets
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import graders
import runner
from graders.events import parse_event
from runner.challenges import Challenge
from runner.images import GRADER_TAG, RUNTIME_TAGS, BuildResult, Images, stream_build
from runner.results import (
    CapturedOutput,
    CheckOutcome,
    Manifest,
    Resources,
    ResourceSample,
    Results,
    Timings,
    Verdict,
    combine,
    correctness,
    score_skills,
)
from runner.sandbox import Limits, LogTap, Pod, StatsSampler
from runner.submissions import Submission

Listener = Callable[[dict[str, Any]], None]
SUBMISSION_REPO = "assess-sub"
GRACE_S = 15.0  # beyond a phase's own limit, for the grader to notice and report


@dataclass
class RunOptions:
    mode: str = "interviewer"
    seed: int = 1
    skip_load: bool = True
    load_duration_s: float | None = None
    load_workers: int = 0
    docker_runtime: str | None = None
    listener: Listener = field(default=lambda e: None)


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


def grader_archive(challenge: Challenge, plan: dict[str, Any]) -> bytes:
    """The grader's files: our graders package, the challenge (never its solutions), the plan."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        _add_tree(tar, Path(graders.__file__).parent, "assess/lib/graders", {"__pycache__"})
        _add_tree(tar, challenge.root, "assess/challenge", {"solutions", "sidecars", "__pycache__"})
        _add_bytes(tar, "assess/plan.json", json.dumps(plan).encode())
        out = tarfile.TarInfo("assess/out")
        out.type = tarfile.DIRTYPE
        out.mode = 0o755
        tar.addfile(out)
    return buf.getvalue()


def sidecar_archive(challenge: Challenge, path: str) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        _add_tree(tar, challenge.root / path, "sidecar", {"__pycache__"})
    return buf.getvalue()


def make_plan(
    challenge: Challenge,
    opts: RunOptions,
    service_url: str,
    challenge_dir: str,
    results_path: str,
    sidecars: list[dict[str, str]],
) -> dict[str, Any]:
    cfg = challenge.config
    phases = ["ready", "checks", "after_load"]
    load = None
    if cfg.load and not opts.skip_load:
        phases.insert(2, "load")
        load = cfg.load.model_dump()
        if opts.load_duration_s:
            load["duration_s"] = opts.load_duration_s
        load["workers"] = opts.load_workers
    return {
        "service_url": service_url,
        "challenge_dir": challenge_dir,
        "results_path": results_path,
        "mode": _mode(opts),
        "seed": opts.seed,
        "phases": phases,
        "default_points": cfg.scoring.default_points,
        "check_timeout_s": cfg.limits.check_s,
        "ready_timeout_s": cfg.limits.ready_s,
        "sidecars": sidecars,
        "load": load,
    }


def _mode(opts: RunOptions) -> Literal["interviewer", "candidate"]:
    return "candidate" if opts.mode == "candidate" else "interviewer"


# -- the run --------------------------------------------------------------------------------
class _Watch:
    """Phase bookkeeping from the grader's events."""

    def __init__(self, challenge: Challenge, load_s: float) -> None:
        lim = challenge.config.limits
        self.limits = {
            "ready": lim.ready_s,
            "checks": lim.checks_s,
            "load": load_s,
            "after_load": lim.checks_s,
        }
        self.phase = "starting"
        self.phase_start = time.monotonic()
        self.durations: dict[str, float] = {}
        self.events: list[dict[str, Any]] = []
        self.ready: dict[str, Any] | None = None
        self.load: dict[str, Any] | None = None
        self.tampered: str | None = None
        self.phase_log: list[tuple[float, str]] = []  # (wall clock, phase) of each phase start

    def phase_at(self, finished_at: str | None) -> str:
        """The phase running at Docker's ``FinishedAt`` time (the host may notice an exit late)."""
        try:
            stamp, _, frac = str(finished_at).rstrip("Z").partition(".")
            when = datetime.fromisoformat(stamp).replace(tzinfo=UTC).timestamp()
            when += float("0." + frac) if frac.isdigit() else 0.0
        except ValueError:
            return self.phase
        phase = "starting"
        for t, name in self.phase_log:
            if t <= when:
                phase = name
        # Phase starts are stamped when the host reads them, which may be after a fast crash:
        # a check that passed in a later phase proves the service was alive into it.
        rank = {name: i for i, (_, name) in enumerate(self.phase_log)}
        for ev in self.events:
            alive_in = (
                ev.get("phase")
                if ev["event"] == "check" and ev.get("outcome") == "passed"
                else None
            )
            if alive_in in rank and rank[str(alive_in)] > rank.get(phase, -1):
                phase = str(alive_in)
        return phase

    def on(self, ev: dict[str, Any]) -> None:
        self.events.append(ev)
        kind = ev["event"]
        if kind == "phase" and ev.get("state") == "start":
            self.phase, self.phase_start = str(ev["phase"]), time.monotonic()
            self.phase_log.append((time.time(), self.phase))
        elif kind == "phase" and ev.get("state") == "end":
            self.durations[str(ev["phase"])] = time.monotonic() - self.phase_start
        elif kind == "ready":
            self.ready = ev
        elif kind == "load_result":
            self.load = {k: v for k, v in ev.items() if k not in ("event", "t")}
        elif kind == "tampered":
            self.tampered = str(ev.get("message", "a port of the grader was already bound"))

    def overdue(self) -> str | None:
        limit = self.limits.get(self.phase)
        if limit is None:
            return "starting" if time.monotonic() - self.phase_start > 60 else None
        if time.monotonic() - self.phase_start > limit + GRACE_S:
            return self.phase
        return None

    def checks(self) -> list[CheckOutcome]:
        return [
            CheckOutcome.model_validate({k: v for k, v in e.items() if k not in ("event", "t")})
            for e in self.events
            if e["event"] == "check"
        ]


def stamp_sample(ev: dict[str, Any], sampler: StatsSampler) -> dict[str, Any]:
    """Add the candidate's latest CPU seconds and memory to a live load sample."""
    if not sampler.samples:
        return ev
    last = sampler.samples[-1]
    return {**ev, "cpu_s": round(last.cpu_s, 3), "mem_mb": last.mem_mb}


def merge_candidate_usage(load: dict[str, Any], live: list[dict[str, Any]]) -> None:
    """Give each second of the load series the candidate's CPU (% of a core) and memory.

    The grader's series and the live samples the host stamped are the same seconds in the
    same order; the grader cannot see the candidate's cgroup, the host can.
    """
    series = load.get("series") or []
    previous: dict[str, Any] | None = None
    for point, stamped in zip(series, live, strict=False):
        if "cpu_s" not in stamped:
            continue
        point["cpu_s"], point["mem_mb"] = stamped["cpu_s"], stamped["mem_mb"]
        if previous is not None and point["t"] > previous["t"]:
            used = point["cpu_s"] - previous["cpu_s"]
            point["cpu_pct"] = round(max(0.0, 100.0 * used / (point["t"] - previous["t"])), 1)
        previous = point


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


def _signal_name(code: int | None) -> str | None:
    import signal

    if code is None or code <= 128:
        return None
    try:
        return signal.Signals(code - 128).name
    except ValueError:
        return None


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
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    t0 = time.monotonic()
    cfg = challenge.config
    images = Images(client, progress=lambda s: _emit(opts, "images", line=s))
    _emit(opts, "phase", phase="images", state="start")
    grader_image = images.ensure_grader()
    _emit(opts, "phase", phase="build", state="start")
    build = build_submission(client, images, challenge, submission, opts)
    ok, cand_image, build_log, build_s = build.ok, build.image_id, build.log_tail, build.seconds
    _emit(opts, "phase", phase="build", state="end", ok=ok, seconds=round(build_s, 2))
    pod = Pod(client, runtime=opts.docker_runtime)
    manifest = Manifest(
        assess_version=runner.__version__,
        run_id=pod.run_id,
        started_at=started_at,
        challenge_version=cfg.version,
        seed=opts.seed,
        candidate_image=cand_image,
        grader_image=grader_image,
        grader_code_sha256=graders_code_hash(),
        tools=tool_versions(client),
        host=host_fingerprint(),
    )
    base: dict[str, Any] = {
        "challenge": challenge.id,
        "challenge_title": cfg.title,
        "submission": str(submission.root),
        "mode": _mode(opts),
        "manifest": manifest,
    }
    if not ok or cand_image is None:
        return Results(
            **base,
            verdict=Verdict.BUILD_FAILED,
            verdict_detail=build.reason or "the image did not build (see the build log)",
            score=0.0,
            build_log_tail=build_log,
            timings=Timings(build_s=round(build_s, 3), total_s=round(time.monotonic() - t0, 3)),
        )
    sb = cfg.sandbox
    limits = Limits(cpus=sb.cpus, memory_mb=sb.memory_mb, pids=sb.pids, tmpfs_mb=sb.tmpfs_mb)
    load_s = cfg.limits.load_s
    with pod:
        return _run_pod(
            pod,
            challenge,
            opts,
            cand_image,
            grader_image,
            limits,
            load_s,
            base,
            build_s,
            build_log,
            t0,
        )


# Ports the grader's tools may bind (Locust's master, in distributed mode): never the candidate's.
GRADER_PORTS = frozenset({5557, 5558})


def _impersonation(pod: Pod, sidecars: list[dict[str, str]]) -> str | None:
    """A message if the candidate listens on a port of the grader or of a sidecar.

    Our helpers run as root in their containers and the candidate never does, so a listener
    owned by another uid on one of those ports is the candidate posing as them.
    """
    reserved = set(GRADER_PORTS)
    for s in sidecars:
        reserved |= {int(s["port"]), int(s["control_port"])}
    try:
        listeners = pod.listeners()
    except Exception:  # the holder is gone: the exit is reported elsewhere
        return None
    taken = sorted(p for p in reserved if listeners.get(p, set()) - {0})
    if not taken:
        return None
    return (
        f"the service listens on port {', '.join(map(str, taken))}, reserved for the grader "
        "and the challenge's sidecars (impersonation)"
    )


def _start_sidecars(pod: Pod, challenge: Challenge, opts: RunOptions) -> list[dict[str, str]]:
    specs = []
    for sc in challenge.config.sidecars:
        token = secrets.token_hex(16)
        env = {
            "PORT": str(sc.port),
            "CONTROL_PORT": str(sc.control_port),
            "ASSESS_CONTROL_TOKEN": token,
            **sc.env,
        }
        pod.start_helper(
            f"sidecar-{sc.name}",
            GRADER_TAG,
            command=list(sc.command),
            archive=sidecar_archive(challenge, sc.path),
            env=env,
            cpus=0.5,
            memory_mb=256,
        )
        specs.append(
            {
                "name": sc.name,
                "url": f"http://127.0.0.1:{sc.control_port}",
                "token": token,
                "port": str(sc.port),
                "control_port": str(sc.control_port),
            }
        )
    deadline = time.monotonic() + 20
    wanted = {int(s["port"]) for s in specs} | {int(s["control_port"]) for s in specs}
    while wanted and not wanted <= pod.listening_ports():
        if time.monotonic() > deadline:
            from runner.errors import InfraError

            raise InfraError(f"challenge sidecars did not listen on {sorted(wanted)} within 20 s")
        time.sleep(0.1)
    _emit(opts, "sidecars", names=[s["name"] for s in specs])
    return specs


def _run_pod(
    pod: Pod,
    challenge: Challenge,
    opts: RunOptions,
    cand_image: str,
    grader_image: str,
    limits: Limits,
    load_s: float,
    base: dict[str, Any],
    build_s: float,
    build_log: str,
    t0: float,
) -> Results:
    cfg = challenge.config
    pod.start_holder()
    sidecars = _start_sidecars(pod, challenge, opts)
    env = {"PORT": "8080", **cfg.env}
    _emit(opts, "phase", phase="start", state="start")
    candidate = pod.start_candidate(cand_image, env, limits)
    candidate_started = time.monotonic()
    log_tap = LogTap(candidate).start()
    sampler = StatsSampler(candidate)
    sampler.start_thread()
    plan = make_plan(
        challenge,
        opts,
        "http://127.0.0.1:8080",
        "/assess/challenge",
        "/assess/out/grader.json",
        sidecars,
    )
    grader_cpus = max(1.0, float(opts.load_workers or 1))
    grader = pod.start_helper(
        "grader",
        grader_image,
        command=["python", "-m", "graders.main", "/assess/plan.json"],
        archive=grader_archive(challenge, plan),
        env={"ASSESS_SEED": str(opts.seed)},
        cpus=grader_cpus,
        memory_mb=1024,
    )
    lines: queue.Queue[str | None] = queue.Queue()
    threading.Thread(target=_follow, args=(grader, lines), daemon=True).start()
    watch = _Watch(challenge, load_s)
    verdict, detail = Verdict.GRADED, ""
    crash_state: dict[str, Any] | None = None
    next_state_poll = 0.0
    while True:
        try:
            line = lines.get(timeout=0.5)
        except queue.Empty:
            line = ""
        if line is None:
            break
        ev = parse_event(line) if line else None
        if ev is not None:
            if ev["event"] == "load_sample":
                ev = stamp_sample(ev, sampler)
            elif ev["event"] == "ready" and ev.get("ok"):
                # from the candidate's start (the grader's own clock starts later)
                ev = {**ev, "ready_s": round(time.monotonic() - candidate_started, 3)}
            watch.on(ev)
            opts.listener(ev)
            if (ev["event"] == "ready" and ev.get("ok")) or (
                ev["event"] == "phase" and ev.get("state") == "start" and ev["phase"] != "ready"
            ):
                watch.tampered = watch.tampered or _impersonation(pod, sidecars)
            if watch.tampered:
                verdict, detail = Verdict.TAMPERED, watch.tampered
                break
        if crash_state is None and time.monotonic() >= next_state_poll:
            next_state_poll = time.monotonic() + 0.25
            state = pod.state("candidate")
            if state.get("Status") in ("exited", "dead", "removed"):
                crash_state = state
                _emit(
                    opts,
                    "candidate_exit",
                    phase=watch.phase,
                    exit_code=state.get("ExitCode"),
                    oom=state.get("OOMKilled", False),
                )
                if watch.ready is None or watch.phase in ("ready", "starting"):
                    break  # nothing left to grade: stop at once
        overdue = watch.overdue()
        if overdue:
            verdict = Verdict.TIMEOUT
            detail = (
                f"the {overdue} phase exceeded its limit of {watch.limits.get(overdue, 60):g} s"
            )
            break
    sampler.stop()
    final = _fetch_results(grader)
    cand_state = crash_state or pod.state("candidate")
    service_log = log_tap.finish()
    checks = watch.checks()
    if final is not None:
        checks = [CheckOutcome.model_validate(c) for c in final.get("checks", [])] or checks
        watch.load = final.get("load") or watch.load
    if watch.load:
        merge_candidate_usage(watch.load, [e for e in watch.events if e["event"] == "load_sample"])
    oom = bool(cand_state.get("OOMKilled"))
    exit_code = cand_state.get("ExitCode") if cand_state.get("Status") == "exited" else None
    if verdict == Verdict.GRADED:
        if oom:
            verdict = Verdict.RESOURCE_LIMIT
            detail = (
                f"memory: the OOM killer stopped the service at its {limits.memory_mb} MiB limit"
            )
        elif crash_state is not None:
            verdict = Verdict.CRASHED
            sig = _signal_name(exit_code)
            detail = (
                f"the service exited with code {exit_code}{f' ({sig})' if sig else ''} "
                f"during the {watch.phase_at(crash_state.get('FinishedAt'))} phase"
            )
        elif watch.ready is not None and not watch.ready.get("ok"):
            verdict, detail = Verdict.NOT_READY, str(watch.ready.get("message"))
        elif watch.ready is None:
            verdict, detail = Verdict.ERROR, "the grader stopped before reporting readiness"
    if verdict == Verdict.CRASHED and watch.ready is None:
        detail += " (before it was ready)"
    skills = score_skills(checks, cfg.skills)
    correct = correctness(skills)
    load_score = watch.load.get("score") if watch.load else None
    resources = Resources(
        cpus=limits.cpus,
        memory_limit_mb=limits.memory_mb,
        pids_limit=limits.pids,
        cpu_s=round(sampler.cpu_s, 3),
        peak_memory_mb=round(sampler.peak_mem_mb, 2),
        peak_pids=sampler.peak_pids,
        oom_killed=oom,
        exit_code=exit_code,
        signal=_signal_name(exit_code),
        samples=[
            ResourceSample(t=s.t, cpu_s=round(s.cpu_s, 3), mem_mb=s.mem_mb, pids=s.pids)
            for s in sampler.samples
        ],
    )
    d = watch.durations
    return Results(
        **base,
        verdict=verdict,
        verdict_detail=detail,
        score=combine(correct, load_score, cfg.scoring.correctness_weight, cfg.scoring.load_weight),
        correctness_score=correct,
        load_score=load_score,
        checks=checks,
        skills=skills,
        timings=Timings(
            build_s=round(build_s, 3),
            ready_s=round(float(watch.ready.get("ready_s", 0)) if watch.ready else 0.0, 3),
            checks_s=round(d.get("checks", 0.0) + d.get("after_load", 0.0), 3),
            load_s=round(d.get("load", 0.0), 3),
            total_s=round(time.monotonic() - t0, 3),
        ),
        resources=resources,
        build_log_tail=build_log,
        service_log=CapturedOutput(
            text=service_log.text,
            total_bytes=service_log.total_bytes,
            dropped_bytes=service_log.dropped_bytes,
        ),
        load=watch.load,
    )


def _fetch_results(grader: Any) -> dict[str, Any] | None:
    """The grader's results file, read out of its container (the candidate cannot reach it)."""
    with contextlib.suppress(Exception):
        grader.kill()
    try:
        stream, _ = grader.get_archive("/assess/out/grader.json")
        data = b"".join(stream)
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            member = tar.next()
            fh = tar.extractfile(member) if member else None
            value = json.loads(fh.read()) if fh else None
        return value if isinstance(value, dict) else None
    except Exception:
        return None


# -- --url mode: the same grading code, on the host ------------------------------------------
def grade_url(challenge: Challenge, url: str, opts: RunOptions, workdir: Path) -> Results:
    """Grade a service already running on this machine (loopback only)."""
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    t0 = time.monotonic()
    cfg = challenge.config
    results_path = workdir / "grader.json"
    plan = make_plan(challenge, opts, url.rstrip("/"), str(challenge.root), str(results_path), [])
    plan_path = workdir / "plan.json"
    plan_path.write_text(json.dumps(plan))
    watch = _Watch(challenge, cfg.limits.load_s)
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
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            ev = parse_event(line)
            if ev is not None:
                watch.on(ev)
                opts.listener(ev)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    checks = watch.checks()
    if results_path.is_file():
        final = json.loads(results_path.read_text())
        checks = [CheckOutcome.model_validate(c) for c in final.get("checks", [])] or checks
        watch.load = final.get("load") or watch.load
    verdict, detail = Verdict.GRADED, ""
    if watch.ready is not None and not watch.ready.get("ok"):
        verdict, detail = Verdict.NOT_READY, str(watch.ready.get("message"))
    skills = score_skills(checks, cfg.skills)
    correct = correctness(skills)
    load_score = watch.load.get("score") if watch.load else None
    d = watch.durations
    return Results(
        challenge=challenge.id,
        challenge_title=cfg.title,
        submission=url,
        mode=_mode(opts),
        verdict=verdict,
        verdict_detail=detail,
        score=combine(correct, load_score, cfg.scoring.correctness_weight, cfg.scoring.load_weight),
        correctness_score=correct,
        load_score=load_score,
        checks=checks,
        skills=skills,
        timings=Timings(
            ready_s=float(watch.ready.get("ready_s", 0)) if watch.ready else 0.0,
            checks_s=round(d.get("checks", 0.0) + d.get("after_load", 0.0), 3),
            load_s=round(d.get("load", 0.0), 3),
            total_s=round(time.monotonic() - t0, 3),
        ),
        load=watch.load,
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
    )
