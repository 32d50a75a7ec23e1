"""Grading a candidate's test suite (``kind = "tests"``) by the mutants it kills.

The pod is the one every grading uses, with the roles turned round: the target service (the
reference of ``[target]``, or one hidden mutant of it) runs as a sidecar, ``sidecar-target``,
holding port 8080; the candidate's suite runs in the candidate's place and sandbox (no egress,
read-only, limits, a wall-clock budget per run, output capped), with
``TARGET_URL=http://127.0.0.1:8080``. Exit 0 says "the target behaves as the brief says".

Steps (:func:`grade_suite`): false alarms first, the suite against the reference
``reference_runs`` times (every run must pass; a mix is reported as flaky, with the runs, and a
suite that fails there scores 0 and says why); then one fresh pod per mutant, ``parallel`` at a
time. A mutant is killed when the suite exits non-zero on it; a run that hangs, is OOM-killed or
loses its target kills nothing (what was not measured earns nothing). Each mutant is a check of
its skill in the one Results, so the score is the share killed weighted by skill, and every
report format works unchanged (mutants are hidden checks: candidates see them by skill only).

All targets are one image: the target challenge's solution with the ``mutants/`` layer overlaid
and ``ASSESS_MUTANT`` naming the switch (empty: the reference), so a suite has nothing to tell
them apart by but the behaviour.
"""

from __future__ import annotations

import contextlib
import shlex
import time
import tomllib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from graders.protocol import CheckResult, Outcome
from runner.challenges.registry import (
    MUTANTS_FILE,
    Challenge,
    Mutant,
    load_mutants,
    target_challenge,
)
from runner.errors import InfraError
from runner.grading.build import build_submission
from runner.grading.events import emit
from runner.grading.images import Images
from runner.grading.junit_in import MAX_BYTES, JunitSummary, read_junit
from runner.grading.pod import Pod
from runner.grading.services import ServiceTarget, wait_ready
from runner.grading.users import resolve_user, user_ids
from runner.grading.verdict import Base
from runner.grading.watchers import LogTap
from runner.results import (
    CapturedOutput,
    Results,
    Timings,
    Verdict,
    correctness,
    score_skills,
)

TARGET_ROLE = "sidecar-target"
TARGET_PORT = 8080
TARGET_URL = f"http://127.0.0.1:{TARGET_PORT}"
# Where a suite may write a JUnit XML file (JUNIT_PATH): a 1 MB tmpfs volume the target also
# mounts (read-only), so the file outlives the suite's exit and is read from the target's side.
JUNIT_DIR = "/junit"
JUNIT_PATH = f"{JUNIT_DIR}/junit.xml"
JUNIT_SEEN_AT = "/assess-junit"
# How verdict_detail starts, by what the reference runs showed (assess verify reads it back).
REFERENCE_PASSES = "passes on the reference"
REFERENCE_FLAKY = "flaky on the reference"
REFERENCE_FAILS = "fails on the reference"


def target_dir(challenge: Challenge, dest: Path) -> Path:
    """The target's submission directory: the solution, the mutant layer over it, and an
    assess.toml that starts the layer (its table stays out of the image)."""
    from runner.challenges.solutions import load_solution, overlay

    target = challenge.config.target
    assert target is not None
    base = load_solution(target_challenge(challenge), target.solution).materialize(dest)
    out = overlay(base, challenge.root / target.mutants, dest / "target", MUTANTS_FILE)
    toml = out / "assess.toml"
    runtime = (
        tomllib.loads(toml.read_text()).get("runtime", "python") if toml.is_file() else "python"
    )
    toml.write_text(f'runtime = "{runtime}"\nstart = {_toml_str(target.start)}\n')
    return out


def _toml_str(s: str) -> str:
    shlex.split(s)  # validated by the config already; a bad one fails here loudly
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


# Starters of a suite (``assess init`` on a tests challenge): one honest test of /healthz.
SUITE_STARTERS = {
    "python": {
        "assess.toml": (
            'runtime = "python"\n'
            'start = "python -m pytest -q -p no:cacheprovider tests"\n'
            'env = { PYTHONDONTWRITEBYTECODE = "1" }\n'
        ),
        "requirements.txt": "pytest\nrequests\n",
        "tests/test_api.py": (
            '"""Your suite: exit 0 when the service at TARGET_URL behaves as BRIEF.md says."""\n\n'
            "import os\n\nimport requests\n\n"
            'URL = os.environ.get("TARGET_URL", "http://127.0.0.1:8080").rstrip("/")\n\n\n'
            "def test_healthz():\n"
            '    assert requests.get(URL + "/healthz", timeout=10).status_code == 200\n'
        ),
    },
    "node": {
        "assess.toml": 'runtime = "node"\nstart = "node --test"\n',
        "test/api.test.js": (
            "// Your suite: exit 0 when the service at TARGET_URL behaves as BRIEF.md says.\n"
            "const test = require('node:test');\n"
            "const assert = require('node:assert');\n"
            "const url = (process.env.TARGET_URL || 'http://127.0.0.1:8080').replace(/\\/$/, '');\n"
            "\n"
            "test('healthz', async () => {\n"
            "  const res = await fetch(url + '/healthz');\n"
            "  assert.strictEqual(res.status, 200);\n"
            "});\n"
        ),
    },
}


# -- one run ------------------------------------------------------------------------------------
RunOutcome = Literal["passed", "failed", "timeout", "oom", "tampered", "error"]


@dataclass(frozen=True)
class SuiteRun:
    """One run of the suite against one target (``mutant`` "" is the reference)."""

    mutant: str
    outcome: RunOutcome
    seconds: float
    exit_code: int | None = None
    detail: str = ""
    output: CapturedOutput = field(default_factory=CapturedOutput)
    junit: JunitSummary | None = None  # None: the suite wrote no JUnit file

    def line(self) -> str:
        code = f", exit {self.exit_code}" if self.exit_code is not None else ""
        why = f": {self.detail}" if self.detail else ""
        return f"{self.outcome} in {self.seconds:.1f} s{code}{why}"


@dataclass(frozen=True)
class Setup:
    client: Any
    suite_image: str
    target_image: str
    suite_limits: Any  # runner.grading.pod.Limits
    target_limits: Any
    target_user: str
    ready_s: float
    run_s: float
    runtime: str | None


def run_suite(setup: Setup, mutant: str) -> SuiteRun:
    """The suite once against the target with ``mutant`` switched on, in a fresh pod."""
    t0 = time.monotonic()
    reserved = {TARGET_PORT: TARGET_ROLE}
    with Pod(setup.client, runtime=setup.runtime) as pod:
        pod.start_holder()
        junit_vol = junit_volume(setup.client, pod)
        lim = setup.target_limits
        pod.start_helper(
            TARGET_ROLE,
            setup.target_image,
            command=[],
            archive=None,
            env={"PORT": str(TARGET_PORT), "ASSESS_MUTANT": mutant},
            cpus=lim.cpus,
            memory_mb=lim.memory_mb,
            pids=lim.pids,
            user=setup.target_user,
            tmpfs={"/tmp": lim.tmpfs_mb},
            volumes={junit_vol: {"bind": JUNIT_SEEN_AT, "mode": "ro"}},
        )
        if not pod.host_view:  # the uid rule: the target's uid is ours, not the candidate's
            with contextlib.suppress(Exception):
                pod.helper_uids.add(user_ids(pod.client, setup.target_image, setup.target_user)[0])
        target = ServiceTarget(TARGET_ROLE, TARGET_PORT, setup.ready_s)
        why = wait_ready(pod, target, time.monotonic() + setup.ready_s)
        if why is not None:
            return SuiteRun(mutant, "error", time.monotonic() - t0, detail=f"target: {why}")
        started = time.monotonic()
        suite = pod.start_candidate(
            setup.suite_image,
            {"TARGET_URL": TARGET_URL, "JUNIT_PATH": JUNIT_PATH},
            setup.suite_limits,
            volumes={junit_vol: {"bind": JUNIT_DIR, "mode": "rw"}},
        )
        tap = LogTap(suite).start()
        deadline = started + setup.run_s
        outcome: RunOutcome | None = None
        detail = ""
        next_look = 0.0
        while outcome is None:
            state = pod.state("candidate")
            if state.get("Status") in ("exited", "dead", "removed"):
                break
            if time.monotonic() >= next_look:
                next_look = time.monotonic() + 0.5
                problem = pod.integrity(reserved)
                if problem is not None:
                    outcome = "tampered" if problem.kind == "tampered" else "error"
                    detail = problem.message
            if outcome is None and time.monotonic() >= deadline:
                outcome, detail = "timeout", f"still running after its {setup.run_s:g} s budget"
            time.sleep(0.05)
        seconds = time.monotonic() - started
        with contextlib.suppress(Exception):
            suite.kill()
        state = pod.state("candidate")
        code = state.get("ExitCode") if outcome is None else None
        if outcome is None:
            if state.get("OOMKilled"):
                outcome, detail = "oom", "killed by the out-of-memory killer"
            else:
                gone = pod.integrity(reserved)  # the target must have lasted the whole run
                if gone is not None:
                    outcome = "tampered" if gone.kind == "tampered" else "error"
                    detail = gone.message
                else:
                    outcome = "passed" if code == 0 else "failed"
        log = tap.finish()
        out = CapturedOutput(
            text=log.text, total_bytes=log.total_bytes, dropped_bytes=log.dropped_bytes
        )
        junit = fetch_junit(pod.containers.get(TARGET_ROLE))
        return SuiteRun(
            mutant, outcome, seconds, code if isinstance(code, int) else None, detail, out, junit
        )


def junit_volume(client: Any, pod: Pod) -> str:
    """A 1 MB tmpfs volume for the suite's JUnit file, labelled with the pod's run (its
    teardown removes it)."""
    try:
        volume = client.volumes.create(
            name=f"assess-{pod.run_id}-junit",
            driver="local",
            driver_opts={"type": "tmpfs", "device": "tmpfs", "o": "size=1m,mode=1777"},
            labels=pod.labels("junit"),
        )
    except Exception as exc:
        raise InfraError(f"cannot create the suite's JUnit volume: {str(exc)[:200]}") from None
    return str(volume.name)


def fetch_junit(target: Any) -> JunitSummary | None:
    """The suite's JUnit file, read through the target's read-only view of the volume: a
    regular file only (a link is refused, never followed), capped before it is parsed."""
    import docker.errors

    if target is None:
        return None
    try:
        stream, stat = target.get_archive(f"{JUNIT_SEEN_AT}/junit.xml")
    except docker.errors.NotFound:
        return None
    except Exception as exc:
        return JunitSummary(problem=f"could not be copied out ({str(exc)[:100]})")
    return junit_from_tar(stream, int(stat.get("size", 0)), stat.get("linkTarget", ""))


def junit_from_tar(stream: Any, size: int, link: str = "") -> JunitSummary:
    import io
    import tarfile

    if link:
        return JunitSummary(problem="it is a link, not a file (refused)")
    if size > MAX_BYTES:
        return JunitSummary(problem=f"over {MAX_BYTES // 1024} KB")
    buf = bytearray()
    for chunk in stream:
        buf += chunk
        if len(buf) > MAX_BYTES + 64 * 1024:  # the file plus tar headers
            return JunitSummary(problem=f"over {MAX_BYTES // 1024} KB")
    try:
        with tarfile.open(fileobj=io.BytesIO(bytes(buf))) as tar:
            member = tar.next()
            if member is None or not member.isfile():
                return JunitSummary(problem="not a regular file (refused)")
            f = tar.extractfile(member)
            data = f.read(MAX_BYTES + 1) if f else b""
    except tarfile.TarError as exc:
        return JunitSummary(problem=f"could not be copied out ({str(exc)[:100]})")
    return read_junit(data)


# -- the grading --------------------------------------------------------------------------------
def reference_status(runs: list[SuiteRun]) -> str:
    passed = sum(r.outcome == "passed" for r in runs)
    if passed == len(runs):
        return REFERENCE_PASSES
    return REFERENCE_FLAKY if passed else REFERENCE_FAILS


def observed_reference(results: Results) -> str:
    """What the reference runs showed, read back from a tests Results (for assess verify)."""
    for status in (REFERENCE_PASSES, REFERENCE_FLAKY, REFERENCE_FAILS):
        if results.verdict_detail.startswith(status):
            return status.split()[0]
    return "unknown"


def suite_view(results: Results, expected: Any) -> tuple[set[str], set[str], str]:
    """For assess verify: (mutants survived, mutants expected to survive, what is wrong with
    the reference runs or ""). A suite expected to fail on the reference runs no mutant, so
    only its reference runs are compared."""
    wanted = expected.reference  # runner.challenges.solutions.Expected
    seen = observed_reference(results)
    accepted = {"flaky", "fails"} if wanted == "flaky-or-fails" else {wanted}
    note = "" if seen in accepted else f"reference runs: expected {wanted}, got {seen}"
    if wanted != "passes":
        return set(), set(), note
    return results.failed_ids(), set(expected.fails), note


def _last_line(out: CapturedOutput) -> str:
    """Why a run failed, from its output: a pytest-style FAILED line if any, else the last."""
    lines = [line.strip() for line in out.text.splitlines() if line.strip()]
    failed = [line for line in lines if line.startswith("FAILED ")]
    return (failed or lines or ["(no output)"])[-1 if not failed else 0][:200]


def _why_failed(run: SuiteRun) -> str:
    """The failing tests by the suite's JUnit file when it names them, else its output."""
    if run.junit and not run.junit.problem and run.junit.failing:
        return "failing: " + ", ".join(run.junit.failing)
    return _last_line(run.output)


def _verdict_of(runs: list[SuiteRun]) -> tuple[Verdict, str] | None:
    """A run-ending verdict from the reference runs, as any challenge would give it."""
    for outcome, verdict in (
        ("tampered", Verdict.TAMPERED),
        ("error", Verdict.ERROR),
        ("oom", Verdict.RESOURCE_LIMIT),
        ("timeout", Verdict.TIMEOUT),
    ):
        bad = [r for r in runs if r.outcome == outcome]
        if bad:
            return verdict, f"{REFERENCE_FAILS}: run {runs.index(bad[0]) + 1}: {bad[0].line()}"
    return None


def grade_suite(
    client: Any,
    challenge: Challenge,
    opts: Any,  # runner.grading.RunOptions
    suite_image: str,
    suite_limits: Any,
    base: Base,
) -> Results:
    """Grade a built suite image: reference runs, then every mutant; one Results."""
    import tempfile

    from runner.grading.pod import Limits
    from runner.intake.submission import load_submission

    cfg = challenge.config
    target = cfg.target
    assert target is not None
    mutants = load_mutants(challenge)
    tgt = target_challenge(challenge)
    images = Images(client, progress=lambda s: emit(opts.listener, "images", line=s))
    with tempfile.TemporaryDirectory(prefix="assess-target-") as tmp:
        sub = load_submission(target_dir(challenge, Path(tmp)))
        built = build_submission(client, images, tgt, sub, opts)
    if not built.ok or built.image_id is None:
        raise InfraError(f"the target of {challenge.id} did not build: {built.reason}")
    tsb = tgt.config.sandbox
    setup = Setup(
        client=client,
        suite_image=suite_image,
        target_image=built.image_id,
        suite_limits=suite_limits,
        target_limits=Limits(cpus=tsb.cpus, memory_mb=tsb.memory_mb, pids=tsb.pids),
        target_user=resolve_user(client, built.image_id),
        ready_s=tgt.config.limits.ready_s,
        run_s=target.run_s,
        runtime=opts.docker_runtime,
    )
    candidate = opts.mode == "candidate"
    t_runs = time.monotonic()
    emit(opts.listener, "phase", phase="reference", state="start")
    with ThreadPoolExecutor(max_workers=target.parallel) as pool:
        ref_runs = list(pool.map(lambda _: run_suite(setup, ""), range(target.reference_runs)))
    status = reference_status(ref_runs)
    notes = [
        f"reference run {i}: {r.line()}" + (f"; {r.junit.line()}" if r.junit else "")
        for i, r in enumerate(ref_runs, 1)
    ]
    first_bad = next((r for r in ref_runs if r.outcome != "passed"), ref_runs[0])
    suite_output = first_bad.output
    mutant_runs: dict[str, SuiteRun] = {}
    ended = _verdict_of(ref_runs)
    if ended is not None:
        verdict, detail = ended
    elif status != REFERENCE_PASSES:
        verdict = Verdict.GRADED
        passed = sum(r.outcome == "passed" for r in ref_runs)
        outcomes = ", ".join(r.outcome for r in ref_runs)
        if status == REFERENCE_FLAKY:
            detail = (
                f"{status}: passed {passed} of {len(ref_runs)} runs ({outcomes}); a suite must "
                "pass on the reference every time: scored 0, mutants not run"
            )
        else:
            detail = (
                f"{status} (a false alarm) in {len(ref_runs)} of {len(ref_runs)} runs: "
                f"{_why_failed(first_bad)}; scored 0, mutants not run"
            )
    else:
        emit(opts.listener, "phase", phase="mutants", state="start")

        def one(m: Mutant) -> SuiteRun:
            run = run_suite(setup, m.id)
            shown = f"hidden {m.skill} mutant" if candidate and m.hidden else m.id
            outcome = Outcome.PASSED if run.outcome == "failed" else Outcome.FAILED
            emit(opts.listener, "check", id=shown, outcome=outcome.value)
            return run

        with ThreadPoolExecutor(max_workers=target.parallel) as pool:
            for m, run in zip(mutants, pool.map(one, mutants), strict=True):
                mutant_runs[m.id] = run
        verdict = Verdict.GRADED
        killed = sum(r.outcome == "failed" for r in mutant_runs.values())
        detail = (
            f"{status} ({len(ref_runs)} runs in a row) and killed {killed} of "
            f"{len(mutants)} mutants"
        )
        lost = [r for r in mutant_runs.values() if r.outcome == "error"]
        if lost:
            which = "a hidden mutant" if candidate else f"mutant {lost[0].mutant}"
            verdict, detail = Verdict.ERROR, f"{which}: {lost[0].line()}"
    checks = [
        _check(m, mutant_runs.get(m.id), status, names=not (candidate and m.hidden))
        for m in mutants
    ]
    if candidate:
        checks = for_candidate(mutants, checks)
    skills = score_skills(checks, cfg.skills)
    score = correctness(skills) if verdict == Verdict.GRADED and status == REFERENCE_PASSES else 0.0
    if score == 0.0 and status != REFERENCE_PASSES:
        notes.append("scored 0: the suite must pass on the reference before mutants count")
    if verdict == Verdict.TAMPERED:
        notes.append("scored 0: the suite tampered with the target")
    total = time.monotonic() - base.t0
    return Results(
        **base.fields(),
        kind="tests",
        verdict=verdict,
        verdict_detail=detail,
        score=score,
        correctness_score=score,
        checks=checks,
        score_notes=notes,
        skills=skills,
        timings=Timings(
            build_s=round(base.build_s, 3),
            checks_s=round(time.monotonic() - t_runs, 3),
            total_s=round(total, 3),
        ),
        resources=None,  # the suite's runs are many short containers: see score_notes
        service_log=suite_output,
    )


def for_candidate(mutants: list[Mutant], checks: list[CheckResult]) -> list[CheckResult]:
    """Hidden mutants by skill only: neither their ids nor descriptions reach a candidate."""
    seen: dict[str, int] = {}
    out = []
    for m, c in zip(mutants, checks, strict=True):
        if m.hidden:
            n = seen[m.skill] = seen.get(m.skill, 0) + 1
            c = replace(c, id=f"hidden-{m.skill}-{n}", title=f"a hidden {m.skill} mutant")
        out.append(c)
    return out


def _check(m: Mutant, run: SuiteRun | None, status: str, names: bool = True) -> CheckResult:
    """One mutant as a check. ``names``: say which of the suite's tests failed on it (by its
    JUnit file; never for a hidden mutant shown to a candidate, whose tests would name it)."""
    if run is None:
        outcome, message = (
            Outcome.NOT_RUN,
            "not run: the suite "
            + ("is " if status == REFERENCE_FLAKY else "")
            + f"{status} (or the run ended early)",
        )
    elif run.outcome == "failed":
        outcome, message = Outcome.PASSED, f"killed: the suite exited {run.exit_code}"
        if names and run.junit and not run.junit.problem and run.junit.failing:
            message += "; failing: " + ", ".join(run.junit.failing)
    elif run.outcome == "passed":
        outcome, message = Outcome.FAILED, "survived: the suite passed on this mutant"
    else:
        outcome, message = Outcome.FAILED, f"not killed: {run.line()}"
    return CheckResult(
        id=m.id,
        title=m.description,
        skill=m.skill,
        outcome=outcome,
        points=1.0 if outcome == Outcome.PASSED else 0.0,
        max_points=1.0,
        hidden=m.hidden,
        message=message,
        duration_s=round(run.seconds, 3) if run else 0.0,
    )


__all__ = ["SuiteRun", "grade_suite"]
