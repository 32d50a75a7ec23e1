"""From what the host saw to one Results: the verdict by precedence, every planned check
accounted for, the load phase scored (or its absence scored 0 and explained), caps applied.

Failing closed lives here: nothing the grader did not finish is ``graded``, nothing unmeasured
earns points. The same steps serve the pod and ``--url`` mode.
"""

from __future__ import annotations

import signal
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from graders.protocol import CheckInfo, CheckResult, LoadResult, Outcome, Plan, ServiceAnswer
from runner.challenges.registry import Challenge
from runner.grading.events import EventPump, Stop
from runner.grading.pod import Limits
from runner.reports.loadview import stage_missed
from runner.results import (
    CapturedOutput,
    Manifest,
    Resources,
    Results,
    Timings,
    Verdict,
    apply_caps,
    combine,
    correctness,
    score_skills,
)


def signal_name(code: int | None) -> str | None:
    """The signal behind an exit code above 128 (``SIGKILL`` for 137), else None."""
    if code is None or code <= 128:
        return None
    try:
        return signal.Signals(code - 128).name
    except ValueError:
        return None


@dataclass(frozen=True)
class Base:
    """What every Results of a run shares, whatever happens after the build."""

    challenge: Challenge
    submission: str
    mode: Literal["interviewer", "candidate"]
    manifest: Manifest
    build_s: float = 0.0
    build_log: str = ""
    t0: float = 0.0

    def fields(self) -> dict[str, Any]:
        return {
            "challenge": self.challenge.id,
            "challenge_title": self.challenge.config.title,
            "submission": self.submission,
            "mode": self.mode,
            "manifest": self.manifest,
            "build_log_tail": self.build_log,
        }


PIDS_NEAR_LIMIT = 0.9  # sampled about once a second: a peak this close means the limit was hit


@dataclass
class CandidateFacts:
    """What the host saw of the candidate's container (the grader cannot see it)."""

    state: dict[str, Any] = field(default_factory=dict)
    exited_in: str | None = None  # the phase during which it exited, if it did
    oom_kills: int = 0
    limits: Limits | None = None

    @property
    def exit_code(self) -> int | None:
        code = self.state.get("ExitCode")
        return int(code) if self.state.get("Status") == "exited" and code is not None else None


def decide_verdict(
    pump: EventPump, stop: Stop | None, cand: CandidateFacts | None
) -> tuple[Verdict, str]:
    """One verdict, by precedence: tampered > resource limit > crashed > timeout > grader error >
    not ready > graded. Anything the grader did not finish is never ``graded``."""
    if stop is not None and stop.verdict in (Verdict.TAMPERED, Verdict.INTERRUPTED):
        return stop.verdict, stop.detail
    if cand is not None:
        if cand.state.get("OOMKilled"):
            mib = cand.limits.memory_mb if cand.limits else "?"
            return (
                Verdict.RESOURCE_LIMIT,
                f"memory: the OOM killer stopped the service at its {mib} MiB limit",
            )
        if cand.exited_in is not None:
            code = cand.exit_code
            sig = signal_name(code)
            detail = (
                f"the service exited with code {code}{f' ({sig})' if sig else ''} "
                f"during the {cand.exited_in} phase"
            )
            if pump.ready is None or not pump.ready.ok:
                detail += " (before it was ready)"
            return Verdict.CRASHED, detail
        if cand.oom_kills:
            return (
                Verdict.RESOURCE_LIMIT,
                f"memory: the OOM killer killed {cand.oom_kills} process"
                f"{'es' if cand.oom_kills > 1 else ''} of the service (its main process lived on; "
                "whatever they were serving was lost)",
            )
    if stop is not None:
        return stop.verdict, stop.detail
    if pump.errors:
        return Verdict.ERROR, pump.errors[0]
    if pump.planned is None:
        return Verdict.ERROR, "the grader stopped before listing its checks"
    if pump.ready is not None and not pump.ready.ok:
        return Verdict.NOT_READY, pump.ready.message
    if pump.ready is None:
        return Verdict.ERROR, "the grader stopped before reporting readiness"
    if not pump.done:
        return Verdict.ERROR, "the grader stopped before it finished"
    return Verdict.GRADED, ""


def static_plan(base: Base, plan: Plan) -> tuple[CheckInfo, ...]:
    """The checks a run would have listed, read from the check files (runner.challenges.checkscan), for a
    run that ended before the grader listed them (a crash at start-up): "0/49", not "0/0".
    Parametrized checks count once; points are the default (they earn nothing anyway)."""
    from runner.challenges.checkscan import scan

    try:
        defs = scan(base.challenge.root / "checks")
    except Exception:  # unreadable checks are reported elsewhere; here, nothing to count
        return ()
    out = []
    for d in defs:
        if (base.mode == "candidate" and d.hidden) or (plan.select and d.id not in plan.select):
            continue
        out.append(
            CheckInfo(
                id=d.id,
                title=d.id,
                skill=d.skill or "general",
                max_points=plan.default_points,
                hidden=d.hidden,
                phase="after_load" if "after_load" in d.marks else "checks",
                critical="critical" in d.marks,
            )
        )
    return tuple(out)


def account_checks(pump: EventPump, verdict: Verdict, detail: str) -> list[CheckResult]:
    """Every planned check, in plan order: its result, or ``not_run`` with the reason."""
    planned = pump.planned or ()
    why = detail or "the grader did not report it"
    if verdict == Verdict.NOT_READY:
        why = "the service never became ready" + (f": {detail}" if detail else "")
    out = []
    for info in planned:
        got = pump.checks.get(info.id)
        out.append(got if got is not None else CheckResult.from_info(info, Outcome.NOT_RUN, why))
    known = {c.id for c in planned}
    out += [c for c in pump.checks.values() if c.id not in known]
    return out


def load_note(load: LoadResult) -> str:
    """Why the load phase lost points, in one line: the SLOs missed at the target rate (or the
    error rate that voids them) and the most frequent failure."""
    text = f"load {load.score:g}/100: at the target rate {load.target_rps:g} req/s "
    missed = stage_missed(load.measured, load.slo)
    if missed.startswith("errors"):
        text += f"the SLOs are void ({missed.replace('errors', 'error rate', 1)})"
    else:
        text += f"missed {missed or 'an SLO'}"
    if load.measured.failure_groups:
        g = load.measured.failure_groups[0]
        text += f"; most failures: {g.name}: {g.message} ({g.count:,})"
    return text


def score_load(
    pump: EventPump, verdict: Verdict, detail: str, *, requested: bool
) -> tuple[float | None, str]:
    """The load score, and why it is 0 when the phase gave no result (fail closed)."""
    if not requested:
        return None, ""
    if pump.load is not None:
        return pump.load.score, ""
    if verdict in (Verdict.NOT_READY, Verdict.BUILD_FAILED):
        return 0.0, "not run: the service never became ready"
    if verdict != Verdict.GRADED:
        return 0.0, f"no result: the run ended early ({detail})"
    return 0.0, "no result: " + ("; ".join(pump.errors) or "the load phase produced nothing")


def load_notes(base: Base, pump: EventPump, load_missing: str, *, requested: bool) -> list[str]:
    """The score note about load: scored 0 and why, SLOs missed, or skipped on request."""
    cfg = base.challenge.config
    if load_missing:
        return [f"load scored 0: {load_missing}"]
    if pump.load is not None and not pump.load.slo_met:
        return [load_note(pump.load)]
    if pump.load is not None and pump.load.reference_capacity_rps is None:
        note = uncalibrated_note(pump.load, base.challenge.id)
        return [note] if note else []
    if cfg.load is not None and not requested and cfg.scoring.load_weight > 0:
        weights = cfg.scoring
        share = 100 * weights.load_weight / (weights.correctness_weight + weights.load_weight)
        return [
            f"load skipped (--skip-load): the score is correctness alone; "
            f"a full run weighs load {share:.0f} % of the score"
        ]
    return []


def uncalibrated_note(load: LoadResult, challenge_id: str) -> str:
    """Capacity judged without this machine's calibration: said, with the command that fixes
    it, when it cost points. The figure stands (the machine is what it is; a stranger on the same
    machine gets the same yardstick): the note makes the cost visible, never hidden."""
    if load.generator_limited or load.capacity_rps >= 4 * load.target_rps:
        return ""
    return (
        f"capacity {load.capacity_rps:,.0f} req/s judged against 4 x target "
        f"({4 * load.target_rps:,.0f} req/s) because this machine is not calibrated for "
        f"{challenge_id}: run `assess calibrate {challenge_id}` to judge it against the "
        "reference's capacity here"
    )


def assemble_results(
    base: Base,
    plan: Plan,
    pump: EventPump,
    verdict: Verdict,
    detail: str,
    *,
    resources: Resources | None = None,
    service_log: CapturedOutput | None = None,
    service_actions: list[ServiceAnswer] | None = None,
) -> Results:
    """The one Results: every planned check accounted for, the load phase scored (or its absence
    scored 0 and explained), caps applied."""
    cfg = base.challenge.config
    if pump.planned is None:
        pump.planned = static_plan(base, plan) or None
    checks = account_checks(pump, verdict, detail)
    skills = score_skills(checks, cfg.skills)
    correct = correctness(skills)
    load_requested = plan.load is not None
    load_score, load_missing = score_load(pump, verdict, detail, requested=load_requested)
    score = combine(correct, load_score, cfg.scoring.correctness_weight, cfg.scoring.load_weight)
    score, critical_failed, notes = apply_caps(score, checks)
    notes += load_notes(base, pump, load_missing, requested=load_requested)
    if verdict == Verdict.TAMPERED:
        notes.append("scored 0: the service tampered with the grader or a sidecar")
        score = 0.0
    if (
        resources is not None
        and resources.pids_limit
        and (resources.peak_pids >= PIDS_NEAR_LIMIT * resources.pids_limit)
    ):
        notes.append(
            f"the service used {resources.peak_pids} of its {resources.pids_limit} processes "
            "and threads (pids): past the limit a new thread or process fails, so a server "
            "with a thread per connection drops connections under load"
        )
    missing = sum(c.outcome == Outcome.NOT_RUN for c in checks)
    if missing:
        notes.append(f"{missing} check{'s' if missing > 1 else ''} not run: they earn nothing")
    d = pump.durations
    return Results(
        **base.fields(),
        verdict=verdict,
        verdict_detail=detail,
        score=score,
        correctness_score=correct,
        load_score=load_score,
        checks=checks,
        critical_failed=critical_failed,
        score_notes=notes,
        skills=skills,
        timings=Timings(
            build_s=round(base.build_s, 3),
            ready_s=round(pump.ready.ready_s, 3) if pump.ready else 0.0,
            checks_s=round(d.get("checks", 0.0) + d.get("after_load", 0.0), 3),
            load_s=round(d.get("load", 0.0), 3),
            total_s=round(time.monotonic() - base.t0, 3),
        ),
        resources=resources,
        service_log=service_log or CapturedOutput(),
        load=pump.load,
        load_requested=load_requested,
        load_missing=load_missing,
        service_actions=list(service_actions or []),
        grader_errors=list(pump.errors),
    )
