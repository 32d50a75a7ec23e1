"""Grading: build -> pod -> ready -> checks -> load -> after-load checks -> one Results.

The host never talks to the candidate's service: the grader does, from inside the pod, and
reports through events (progress) and a results file (the record). The host watches the
candidate's container (exit, OOM) and enforces each phase's wall-time limit.
"""

from __future__ import annotations

import contextlib
import math
import os
import queue
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Callable
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
from runner.challenges import calibration
from runner.challenges.registry import Challenge
from runner.errors import InfraError
from runner.grading.build import build_submission
from runner.grading.events import EventPump, Listener, Stop, emit, phase_limits, pump_events
from runner.grading.host import host_fingerprint, tool_versions
from runner.grading.images import GRADER_TAG, Images
from runner.grading.payload import (
    fetch_results,
    grader_archive,
    graders_code_hash,
    hand_over_log,
    sidecar_archive,
)
from runner.grading.pod import Limits, OomCounter, Pod
from runner.grading.readiness import ClosedPortWatch, WrongPortWatch
from runner.grading.services import (
    CANDIDATE_PORT,
    MAX_GRACE_S,
    MAX_REQUESTS,
    ServiceController,
    ServiceTarget,
    wait_ready,
)
from runner.grading.users import user_ids
from runner.grading.verdict import (
    Base,
    CandidateFacts,
    assemble_results,
    decide_verdict,
    signal_name,
)
from runner.grading.watchers import CapturedLog, LogTap, StatsSampler
from runner.intake.submission import Submission
from runner.results import (
    CapturedOutput,
    Manifest,
    Resources,
    ResourceSample,
    Results,
    Timings,
    Verdict,
)

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
    emit(opts.listener, event, **data)


# -- grader payload -------------------------------------------------------------------------


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
        load = load_plan(challenge, opts)
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


def load_plan(challenge: Challenge, opts: RunOptions) -> LoadPlan:
    """The load phase's plan from the challenge's ``[load]`` by one mapping: every key there is a
    LoadPlan field of the same name (a unit test holds the two in step); then what this run and
    this host decide (a shortened phase, the calibrated figures, workers, the run's secret)."""
    c = challenge.config.load
    assert c is not None
    host = host_fingerprint()
    keys = c.model_dump(exclude={"slo", "counter", "figures"})
    keys.update(
        duration_s=opts.load_duration_s or c.duration_s,
        capacity_budget_s=capacity_budget(c.capacity_budget_s, c.step_s, opts.load_duration_s),
    )
    return LoadPlan(
        **keys,
        slo=Slo(**c.slo.model_dump()),
        counter=CounterSpec(**c.counter.model_dump()) if c.counter else None,
        figures=tuple(CounterSpec(**f.model_dump()) for f in c.figures),
        reference_capacity_rps=calibration.reference_capacity(challenge, host),
        generator_ceiling_rps=calibration.stored_ceiling(host, opts.load_workers),
        workers=opts.load_workers,
        secret=secrets.token_hex(16),
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
    manifest = _manifest(
        challenge,
        opts,
        run_id=pod.run_id,
        started_at=started_at,
        client=client,
        candidate_image=build.image_id,
        grader_image=grader_image,
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
    if cfg.kind == "tests":  # the submission is a test suite: graded by the mutants it kills
        # imported here: mutation builds on this module (build_submission, _emit)
        from runner.grading.mutation import grade_suite

        return grade_suite(client, challenge, opts, build.image_id, pod_limits(challenge), base)
    with pod:
        return PodGrading(
            pod,
            challenge,
            opts,
            base,
            candidate_image=build.image_id,
            grader_image=grader_image,
            own_images=own_images,
        ).run()


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


def compare_with_calibration(challenge: Challenge, results: Results) -> Results:
    """The load figures beside the calibrated reference's on this host, when both exist: every
    grading (a run, a batch job, --url) carries the same comparison."""
    if results.load is None:
        return results
    record = calibration.stored(challenge, results.manifest.host)
    if record is not None:
        results.calibration = calibration.compare(results.load, record)
    return results


def pod_limits(challenge: Challenge) -> Limits:
    """The candidate's container limits, from the challenge's [sandbox]."""
    sb = challenge.config.sandbox
    return Limits(cpus=sb.cpus, memory_mb=sb.memory_mb, pids=sb.pids, tmpfs_mb=sb.tmpfs_mb)


class PodGrading:
    """One submission graded in its pod, as named steps (the caller owns the pod's teardown).

    ``run`` reads as the grading does: start the pod (holder, sidecars), start the candidate
    with its watchers (OOM counter, log tap, stats sampler: entered on one ExitStack, so every
    exit path stops them), start the grader with the plan, watch its events and the pod, collect
    the grader's record and the candidate's last state, decide the verdict, assemble Results.
    """

    sidecars: tuple[SidecarSpec, ...]
    reserved: dict[int, str]
    candidate: Any
    candidate_started: float
    log_tap: LogTap
    sampler: StatsSampler
    plan: Plan
    grader: Any
    lines: queue.Queue[str | None]
    pump: EventPump
    controller: ServiceController
    service_log: CapturedLog

    def __init__(
        self,
        pod: Pod,
        challenge: Challenge,
        opts: RunOptions,
        base: Base,
        *,
        candidate_image: str,
        grader_image: str,
        own_images: dict[str, str],
    ) -> None:
        self.pod, self.challenge, self.opts, self.base = pod, challenge, opts, base
        self.candidate_image, self.grader_image = candidate_image, grader_image
        self.own_images = own_images
        self.limits = pod_limits(challenge)
        self.cand = CandidateFacts(limits=self.limits)
        self._next_poll = self._next_port_look = 0.0
        # a quarter of the readiness budget (2-8 s): a service idling on the wrong port is told
        # long before ready_s, one still waiting a moment for something is not cut short
        ready_s = challenge.config.limits.ready_s
        self.port_watch = WrongPortWatch(CANDIDATE_PORT, settle_s=min(8.0, max(2.0, ready_s / 4)))

    def run(self) -> Results:
        self.start_pod()
        with contextlib.ExitStack() as watchers:
            self.start_candidate(watchers)
            self.start_grader()
            stop = self.watch()
            stop = self.collect(stop)
        verdict, detail = decide_verdict(self.pump, stop, self.cand)
        return self.assemble(verdict, detail)

    # -- the steps ---------------------------------------------------------------------------
    def start_pod(self) -> None:
        """The holder (owner of the namespace), then the challenge's sidecars, listening."""
        self.pod.start_holder()
        self.sidecars = _start_sidecars(self.pod, self.challenge, self.opts, self.own_images)
        self.reserved = reserved_ports(self.sidecars)

    def start_candidate(self, watchers: contextlib.ExitStack) -> None:
        """The candidate's container, and the watchers that follow it until collect is done."""
        env = {"PORT": "8080", **self.challenge.config.env}
        _emit(self.opts, "phase", phase="start", state="start")
        self.candidate = self.pod.start_candidate(self.candidate_image, env, self.limits)
        self.candidate_started = time.monotonic()
        oom = OomCounter(self.pod.client, self.candidate).start()
        watchers.callback(self._count_ooms, oom)
        self.log_tap = LogTap(self.candidate).start()
        watchers.callback(self._finish_log)
        self.sampler = StatsSampler(self.candidate)
        self.sampler.start_thread()
        watchers.callback(self.sampler.stop)

    def start_grader(self) -> None:
        """The grader with its plan; its stdout becomes the event stream the pump reads."""
        self.plan = self.pod_plan()
        self.grader = self.pod.start_helper(
            "grader",
            self.grader_image,
            command=["python", "-m", "graders.main", "/assess/plan.json"],
            archive=grader_archive(self.challenge, self.plan),
            env={"ASSESS_SEED": str(self.opts.seed)},
            cpus=grader_cpus(self.opts.load_workers),
            memory_mb=1024,
        )
        self.lines = queue.Queue()
        threading.Thread(target=_follow, args=(self.grader, self.lines), daemon=True).start()
        self.pump = EventPump(
            phase_limits(self.challenge, self.plan),
            self.opts.listener,
            stamp=lambda s: stamp_sample(s, self.sampler),
        )
        self.pump.on_log_request = lambda token: hand_over_log(
            self.grader, self.log_tap, self.plan.log_dir, token
        )
        self.controller = ServiceController(
            self.pod,
            self.grader,
            self.plan.log_dir,
            self.plan.service_secret,
            {
                "candidate": ServiceTarget(
                    "candidate", CANDIDATE_PORT, self.challenge.config.limits.ready_s
                ),
                **sidecar_targets(self.challenge),
            },
            t0=self.base.t0,
            on_started=self._service_started,
            listener=self.opts.listener,
        )
        self.pump.on_service_request = self.controller.handle

    def pod_plan(self) -> Plan:
        """The grader's plan, as the pod places things (paths inside the grader, service control)."""
        cfg = self.challenge.config
        plan = make_plan(
            self.challenge,
            self.opts,
            "http://127.0.0.1:8080",
            "/assess/challenge",
            "/assess/out/grader.json",
            self.sidecars,
        )
        return replace(
            plan,
            log_dir="/assess/in",
            services=("candidate", *(s.name for s in self.sidecars)),
            service_secret=secrets.token_hex(16),
            max_service_requests=MAX_REQUESTS,
            # the longest action: a full grace, a kill, the slowest readiness, and slack
            service_wait_s=max([cfg.limits.ready_s, *(sc.ready_s for sc in cfg.sidecars)])
            + MAX_GRACE_S
            + 30.0,
        )

    def watch(self) -> Stop | None:
        """Follow the grader's events until it ends or a watch stops it; one last integrity look."""
        try:
            stop = pump_events(self.lines, self.pump, self._tick)
        except KeyboardInterrupt:  # Ctrl-C: a partial report of what ran; the pod is still removed
            if not self.opts.partial_on_interrupt:
                raise
            stop = Stop(Verdict.INTERRUPTED, INTERRUPTED_DETAIL)
        return stop if stop is not None else tick_final(self.pod, self.reserved)

    def collect(self, stop: Stop | None) -> Stop | None:
        """The grader's record and the candidate's last state; a crash is decided from the facts."""
        self.sampler.stop()
        self.pump.absorb(fetch_results(self.grader))
        # The last word on the candidate: an exit during the last check is still an exit.
        final_state = self.pod.state("candidate")
        cand = self.cand
        if (
            cand.exited_in is None
            and "candidate" not in self.pod.down  # stopped on purpose by a check
            and final_state.get("Status") in ("exited", "dead", "removed")
        ):
            cand.exited_in = self.pump.phase_at(final_state.get("FinishedAt"))
        cand.state = final_state if cand.exited_in is None or not cand.state else cand.state
        if self.pump.load is not None:
            self.pump.load = merge_candidate_usage(self.pump.load, self.pump.samples)
        if stop is not None and stop.verdict == Verdict.CRASHED:
            return None  # decided from the candidate's facts
        return stop

    def assemble(self, verdict: Verdict, detail: str) -> Results:
        """One Results from everything seen; what the integrity watch could not make certain is
        said in the notes, never scored (runner.grading.attribution)."""
        pump = self.pump
        if pump.ready is not None and pump.ready.ok and pump.ready_at is not None:
            # from the candidate's start (the grader's own clock starts later)
            ready_s = round(pump.ready_at - self.candidate_started, 3)
            pump.ready = replace(pump.ready, ready_s=ready_s)
        results = assemble_results(
            self.base,
            self.plan,
            pump,
            verdict,
            detail,
            resources=self.resources(),
            service_actions=self.controller.actions,
            service_log=CapturedOutput(
                text=self.service_log.text,
                total_bytes=self.service_log.total_bytes,
                dropped_bytes=self.service_log.dropped_bytes,
            ),
        )
        notes = [f"integrity: {n}" for n in self.pod.integrity_notes]
        results = results.model_copy(update={"score_notes": [*results.score_notes, *notes]})
        return compare_with_calibration(self.challenge, results)

    # -- what the steps share ----------------------------------------------------------------
    def resources(self) -> Resources:
        s, cand, limits = self.sampler, self.cand, self.limits
        return Resources(
            cpus=limits.cpus,
            memory_limit_mb=limits.memory_mb,
            pids_limit=limits.pids,
            cpu_s=round(s.cpu_s, 3),
            peak_memory_mb=round(s.peak_mem_mb, 2),
            peak_pids=s.peak_pids,
            oom_killed=bool(cand.state.get("OOMKilled")),
            oom_kills=cand.oom_kills,
            exit_code=cand.exit_code,
            signal=signal_name(cand.exit_code),
            samples=[
                ResourceSample(t=x.t, cpu_s=round(x.cpu_s, 3), mem_mb=x.mem_mb, pids=x.pids)
                for x in s.samples
            ],
        )

    def _tick(self) -> Stop | None:
        """Between events, at most every 0.25 s: the pod's integrity, the candidate's exit."""
        if time.monotonic() < self._next_poll:
            return None
        self._next_poll = time.monotonic() + 0.25
        problem = self.pod.integrity(self.reserved)
        if problem is not None:
            verdict = Verdict.TAMPERED if problem.kind == "tampered" else Verdict.ERROR
            return Stop(verdict, problem.message)
        wrong = self._wrong_port()
        if wrong:
            return Stop(Verdict.NOT_READY, wrong)
        state = self.pod.state("candidate")
        if "candidate" in self.pod.down:
            return None  # a check stopped it on purpose: not a crash
        cand = self.cand
        if cand.exited_in is None and state.get("Status") in ("exited", "dead", "removed"):
            cand.state = state
            cand.exited_in = self.pump.phase_at(state.get("FinishedAt"))
            _emit(
                self.opts,
                "candidate_exit",
                phase=cand.exited_in,
                exit_code=state.get("ExitCode"),
                oom=state.get("OOMKilled", False),
            )
            if self.pump.ready is None or not self.pump.ready.ok:
                return Stop(Verdict.CRASHED, "exited before it was ready")
        return None

    def _wrong_port(self) -> str:
        """Before ready, once a second: a candidate idling on another port than the contract's."""
        if self.pump.ready is not None or time.monotonic() < self._next_port_look:
            return ""
        self._next_port_look = time.monotonic() + 1.0
        with contextlib.suppress(Exception):  # an unreadable table: the ready wait decides
            return (
                self.port_watch.look(
                    self.pod.listener_owners(),
                    list(self.sampler.samples),
                    time.monotonic() - self.sampler.start,
                )
                or ""
            )
        return ""

    def _service_started(self, role: str, since: float) -> None:
        if role == "candidate":  # its log and stats streams ended with the old process
            self.log_tap.resume(since)
            self.sampler.resume()

    def _count_ooms(self, oom: OomCounter) -> None:
        oom.stop()
        self.cand.oom_kills = oom.count

    def _finish_log(self) -> None:
        self.service_log = self.log_tap.finish()


def tick_final(pod: Pod, reserved: dict[int, str]) -> Stop | None:
    """One last integrity look after the grader finished (a squatter that came late)."""
    problem = pod.integrity(reserved)
    if problem is None:
        return None
    return Stop(Verdict.TAMPERED if problem.kind == "tampered" else Verdict.ERROR, problem.message)


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
    loopback (runner.grading.host_sidecars), driven through their control URLs and tokens."""
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    t0 = time.monotonic()
    results_path = workdir / "grader.json"
    plan = make_plan(
        challenge, opts, url.rstrip("/"), str(challenge.root), str(results_path), sidecars
    )
    plan_path = workdir / "plan.json"
    plan_path.write_text(dumps(plan))
    plan_path.chmod(0o600)
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

    stop = _watch_local_grader(plan_path, opts, pump, tick)
    final = None
    if results_path.is_file():
        with contextlib.suppress(ProtocolError):
            final = loads(GraderOutcome, results_path.read_text())
    pump.absorb(final)
    verdict, detail = decide_verdict(pump, stop, None)
    manifest = _manifest(challenge, opts, run_id="url", started_at=started_at)
    base = Base(challenge=challenge, submission=url, mode=_mode(opts), manifest=manifest, t0=t0)
    return compare_with_calibration(challenge, assemble_results(base, plan, pump, verdict, detail))


def _watch_local_grader(
    plan_path: Path, opts: RunOptions, pump: EventPump, tick: Callable[[], Stop | None]
) -> Stop | None:
    """Run the grader on the host (``python -m graders.main PLAN``) and pump its events."""
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
    try:
        return pump_events(lines, pump, tick)
    except KeyboardInterrupt:
        if not opts.partial_on_interrupt:
            raise
        return Stop(Verdict.INTERRUPTED, INTERRUPTED_DETAIL)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        reader.join(5)
        if proc.stdout is not None:
            proc.stdout.close()


def _manifest(
    challenge: Challenge,
    opts: RunOptions,
    *,
    run_id: str,
    started_at: str,
    client: Any | None = None,
    candidate_image: str | None = None,
    grader_image: str | None = None,
) -> Manifest:
    """What this run was: versions, images, code hashes, tools and the host."""
    return Manifest(
        assess_version=runner.__version__,
        run_id=run_id,
        started_at=started_at,
        challenge_version=challenge.config.version,
        seed=opts.seed,
        candidate_image=candidate_image,
        grader_image=grader_image,
        grader_code_sha256=graders_code_hash(),
        tools=tool_versions(client),
        host=host_fingerprint(),
    )
