"""One core function per command; the CLI maps their outcome to exit codes. No typer here.

Each command imports the modules it uses when it runs (a stated exception to imports at the
top): ``assess list`` or ``new-challenge`` must not load the docker SDK, Celery or Pygments, and
modules that import Locust (``graders.load.phase``, ``runner.challenges.authoring``) must load only in
the commands that need them, since Locust's import patches the process with gevent.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import shutil
import tempfile
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from runner.challenges.registry import Registry
from runner.errors import ExitCode, InfraError, UsageError
from runner.results import Results, Verdict
from runner.starters import STARTERS, starter_for

SEEDS = Path(__file__).resolve().parent.parent / "seeds" / "catalogue.toml"


def _check_loopback(url: str) -> None:
    parsed = urlparse(url)
    host = parsed.hostname or ""
    if parsed.scheme != "http" or not host:
        raise UsageError(f"--url {url!r} must look like http://127.0.0.1:PORT")
    if host == "localhost":
        return
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise UsageError(
            f"--url {url!r} is not a loopback address; assess only sends traffic to "
            "127.0.0.0/8 or ::1 (run the service locally, or grade its directory instead)"
        )


def _refuse_url_with_sidecars(challenge: Any) -> None:
    """--url grades a service assess did not start; a challenge whose service talks to sidecars
    (an upstream on loopback) would be graded full of errors without them: refuse up front."""
    names = [s.name for s in challenge.config.sidecars]
    if names:
        raise UsageError(
            f"--url cannot grade {challenge.id}: its checks need the sidecar"
            f"{'s' if len(names) > 1 else ''} {', '.join(names)}: start them with "
            f"`assess sidecars {challenge.id}` and add --sidecars-from STATE "
            "(or grade a submission directory instead)"
        )


def serve_sidecars(
    challenge_id: str, console: Console, *, state: Path | None, private: str | None = None
) -> None:
    """`assess sidecars`: the challenge's sidecars on loopback until Ctrl-C (KeyboardInterrupt
    reaches the caller after every sidecar was stopped and the state file removed)."""
    import time

    from runner.challenges import packs
    from runner.grading import host_sidecars

    challenge = packs.open_challenge(challenge_id, private=private, interviewer=False)
    if not challenge.config.sidecars:
        raise UsageError(f"{challenge.id} has no sidecars; grade it with `--url` alone")
    if state is not None and state.is_dir():
        raise UsageError(f"--state {state} is a directory; give a file path")
    with contextlib.ExitStack() as stack:
        if state is None:
            tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="assess-sidecars-"))
            state = Path(tmp) / "sidecars.json"
        log = stack.enter_context(tempfile.TemporaryFile("w+"))
        sidecars = stack.enter_context(host_sidecars.running(challenge, log))
        stack.callback(state.unlink, missing_ok=True)
        host_sidecars.write_state(state, challenge, sidecars)
        console.print(f"sidecars of {challenge.id} running on 127.0.0.1; start your service with:")
        for line in host_sidecars.env_lines(sidecars):
            console.print(f"  export {line}", soft_wrap=True)
        console.print("then grade it (in another terminal):", soft_wrap=True)
        console.print(
            f"  assess run {challenge.id} --url http://127.0.0.1:PORT --sidecars-from {state}",
            soft_wrap=True,
        )
        console.print("Ctrl-C stops the sidecars.")
        while True:
            for s in sidecars:
                if s.proc.poll() is not None:
                    log.seek(0)
                    tail = log.read()[-400:].strip().replace("\n", " | ")
                    raise InfraError(f"sidecar {s.spec.name} exited ({s.proc.returncode}): {tail}")
            time.sleep(0.5)


def write_reports(
    results: Results, outputs: dict[str, Path | None], fail_under: float | None = None
) -> list[Path]:
    from runner.reports import write_all

    return write_all(results, outputs, fail_under)


def run_options(
    challenge: Any,
    *,
    candidate: bool,
    skip_load: bool,
    load_duration: float | None,
    seed: int,
    load_workers: int | str = 0,
    docker_runtime: str | None = None,
) -> Any:
    """Validated options of one grading (shared by run and batch)."""
    from runner.grading.pipeline import RunOptions, auto_load_workers

    if load_duration is not None and load_duration <= 0:
        raise UsageError(f"--load-duration must be positive, not {load_duration:g}")
    if isinstance(load_workers, str):
        if load_workers == "auto":
            load_workers = auto_load_workers(challenge)
        elif load_workers.strip().isdigit():
            load_workers = int(load_workers)
        else:
            raise UsageError(f"--load-workers must be auto or a number, not {load_workers}")
    if not 0 <= load_workers <= 8:
        raise UsageError(f"--load-workers must be between 0 and 8, not {load_workers}")
    return RunOptions(
        mode="candidate" if candidate else "interviewer",
        seed=seed,
        skip_load=skip_load or challenge.config.load is None,
        load_duration_s=load_duration,
        load_workers=load_workers,
        docker_runtime=docker_runtime,
    )


@dataclass(frozen=True)
class RunRequest:
    """Everything ``assess run`` was asked, from the command line down (one value, not 21
    parameters). ``submission``, ``url`` and ``solution``: exactly one is given."""

    challenge: str
    submission: Path | str | None = None
    url: str | None = None
    solution: str | None = None
    candidate: bool = False
    skip_load: bool = False
    load_duration: float | None = None
    load_workers: int | str = "auto"
    seed: int = 1
    docker_runtime: str | None = None
    outputs: Mapping[str, Path | None] = field(default_factory=dict)
    show_passed: bool = False
    calibrate: bool = False
    private: str | None = None
    ref: str | None = None
    select: tuple[str, ...] = ()
    keyword: str = ""
    fail_fast: bool = False
    fail_under: float | None = None
    sidecars_from: Path | None = None

    def __post_init__(self) -> None:
        if self.fail_under is not None and not 0 <= self.fail_under <= 100:
            raise UsageError(f"--fail-under must be between 0 and 100, not {self.fail_under:g}")
        if [self.submission, self.url, self.solution].count(None) != 2:
            raise UsageError("give a SUBMISSION directory or --url or --solution (one of them)")
        if self.sidecars_from is not None and self.url is None:
            raise UsageError("--sidecars-from goes with --url (the sidecars of a running service)")
        for kind, path in self.outputs.items():
            if path is not None and path.is_dir():
                raise UsageError(f"--{kind} {path} is a directory; give a file path")


def run(req: RunRequest, console: Console) -> Results:
    """Grade one submission (or a running service, or one of the challenge's solutions), show
    the report, write the files asked for; the CLI maps the Results to an exit code."""
    from runner.challenges import calibration, packs
    from runner.grading import partial
    from runner.grading.host import host_fingerprint
    from runner.reports.terminal import Progress

    challenge = packs.open_challenge(
        req.challenge, private=req.private, interviewer=not req.candidate
    )
    if (
        req.calibrate
        and challenge.config.load
        and calibration.stored(challenge, host_fingerprint()) is None
    ):
        calibrate_challenge(challenge.id, console, load_duration=req.load_duration)
    opts = run_options(
        challenge,
        candidate=req.candidate,
        skip_load=req.skip_load,
        load_duration=req.load_duration,
        load_workers=req.load_workers,
        seed=req.seed,
        docker_runtime=req.docker_runtime,
    )
    opts.partial_on_interrupt = True  # Ctrl-C: write the reports of what ran, then exit 130
    chosen = partial.plan_selection(
        challenge.checks_dir,
        candidate=req.candidate,
        select=req.select,
        keyword=req.keyword,
        fail_fast=req.fail_fast,
    )
    partial.refuse_fail_under(chosen, req.fail_under)
    opts.select, opts.keyword, opts.fail_fast = chosen.select, chosen.keyword, chosen.fail_fast
    with Progress(console) as progress:
        opts.listener = progress
        if req.url is not None:
            results = _grade_url(req, req.url, challenge, opts)
        else:
            results = _grade_in_pod(req, challenge, opts)
    partial.annotate(results, chosen)
    _show_and_write(req, challenge, results, console)
    return results


def _show_and_write(req: RunRequest, challenge: Any, results: Results, console: Console) -> None:
    """The report in the terminal, the files asked for, then what this machine's set-up cost."""
    from runner.reports.terminal import render

    console.print(render(results, show_passed=req.show_passed))
    if results.mode == "candidate":
        console.print(
            candidate_note(challenge.hidden_checks, len(results.checks), results.kind == "tests")
        )
    for path in write_reports(results, dict(req.outputs), req.fail_under):
        console.print(f"[dim]wrote {path}[/]")
    for note in results.score_notes:  # what this machine's set-up cost, with its fix, last
        if "`assess calibrate " in note:
            console.print(f"[yellow]note:[/] {escape(note)}", highlight=False)
    if os.environ.get("GITHUB_ACTIONS") == "true":
        from runner.reports.markdown import ci_annotations

        for line in ci_annotations(results, req.fail_under):  # workflow commands: plain, unstyled
            console.print(line, markup=False, highlight=False, soft_wrap=True)


def _grade_url(req: RunRequest, url: str, challenge: Any, opts: Any) -> Results:
    """A service already running on loopback, with the challenge's sidecars if it has any."""
    from runner.grading.host_sidecars import read_state
    from runner.grading.pipeline import grade_url

    _check_loopback(url)
    if req.sidecars_from is None:
        _refuse_url_with_sidecars(challenge)
        specs: tuple[Any, ...] = ()
    else:
        specs = read_state(req.sidecars_from, challenge)
    with tempfile.TemporaryDirectory(prefix="assess-url-") as tmp:
        return grade_url(challenge, url, opts, Path(tmp), sidecars=specs)


def _grade_in_pod(req: RunRequest, challenge: Any, opts: Any) -> Results:
    """A submission (directory, archive, git URL) or one of the challenge's own solutions."""
    from runner.challenges.solutions import load_solution
    from runner.grading.pipeline import grade
    from runner.grading.pod import collect_garbage, docker_client
    from runner.intake.archives import materialize
    from runner.intake.submission import load_submission

    reports = [p for p in req.outputs.values() if p is not None]
    with tempfile.TemporaryDirectory(prefix="assess-submission-") as tmp:
        if req.solution is not None:  # one of the challenge's own, overlaid on its base
            where = load_solution(challenge, req.solution).materialize(Path(tmp))
        else:  # a .zip, .tar.gz or git URL becomes a plain directory first
            assert req.submission is not None
            where = materialize(str(req.submission), Path(tmp), ref=req.ref)
        submission = load_submission(where, reports=reports)
        client = docker_client()
        collect_garbage(client)  # what an earlier, killed run left behind
        return grade(client, challenge, submission, opts)


def exit_code_for(results: Results, fail_under: float | None) -> tuple[ExitCode, str]:
    """The run's exit code (the README's table) and the line that explains it, if any.

    ``error`` (the grader or the challenge failed: our side) exits 3 whatever the options. With
    ``--fail-under``, any verdict other than ``graded`` fails (1), as does a lower score.
    """
    if results.verdict == Verdict.ERROR:
        return ExitCode.INFRA, f"grading failed on our side: {results.verdict_detail}"
    if results.verdict == Verdict.INTERRUPTED:
        return ExitCode.INTERRUPTED, (
            "interrupted: the reports are partial (the checks run so far); "
            "everything the run created was removed"
        )
    if fail_under is None:
        return ExitCode.OK, ""
    if results.verdict != Verdict.GRADED:
        return (
            ExitCode.BELOW_THRESHOLD,
            f"verdict {results.verdict.value} fails --fail-under (only graded runs can pass)",
        )
    if results.score < fail_under:
        return (
            ExitCode.BELOW_THRESHOLD,
            f"score {results.score:.1f} is below --fail-under {fail_under:g}",
        )
    return ExitCode.OK, ""


@dataclass(frozen=True)
class BatchRequest:
    """Everything ``assess batch`` was asked (``--status`` aside), validated on construction."""

    challenge: str
    submissions: tuple[Path, ...]
    out: Path
    candidate: bool = False
    skip_load: bool = False
    load_duration: float | None = None
    seed: int = 1
    jobs: int = 1
    force: bool = False
    broker: str | None = None
    similarity: bool = True
    similarity_threshold: float | None = None
    fail_under: float | None = None
    junit: Path | None = None
    max_job_mb: float | None = None

    def __post_init__(self) -> None:
        if self.fail_under is not None and not 0 <= self.fail_under <= 100:
            raise UsageError(f"--fail-under must be between 0 and 100, not {self.fail_under:g}")
        threshold = self.similarity_threshold
        if threshold is not None and not 0 < threshold <= 1:
            raise UsageError(f"--similarity-threshold must be in (0, 1], not {threshold:g}")
        if self.jobs < 1:
            raise UsageError(f"--jobs must be at least 1, not {self.jobs}")


def batch(req: BatchRequest, console: Console) -> tuple[Any, ExitCode, str]:
    """Grade many submissions (``jobs`` at once here, or on Celery workers through ``broker``);
    skip those already graded in OUT; leaderboard, similarity flags and reports in OUT.
    Returns the batch and its exit code (with the line that explains it)."""
    from runner.batch.driver import run_batch
    from runner.batch.jobs import InProcess
    from runner.batch.leaderboard import write_junit
    from runner.batch.view import BatchView, similar_lines, table
    from runner.grading.pod import collect_garbage, docker_client

    challenge_id, submissions, out, jobs = req.challenge, list(req.submissions), req.out, req.jobs
    candidate, skip_load, load_duration, seed = (
        req.candidate,
        req.skip_load,
        req.load_duration,
        req.seed,
    )
    force, broker, max_job_mb = req.force, req.broker, req.max_job_mb
    similarity, similarity_threshold = req.similarity, req.similarity_threshold
    fail_under, junit = req.fail_under, req.junit
    challenge = Registry().get(challenge_id)
    opts = run_options(
        challenge, candidate=candidate, skip_load=skip_load, load_duration=load_duration, seed=seed
    )
    options = {
        "mode": opts.mode,
        "seed": opts.seed,
        "skip_load": opts.skip_load,
        "load_duration_s": opts.load_duration_s,
        "load_workers": 0,
        "docker_runtime": None,
    }
    executor: Any
    if broker is not None:
        from runner.batch.celery_queue import QueueExecutor

        executor = QueueExecutor(
            broker, challenge, options, out, max_job_mb=max_job_mb, force=force
        )
    else:
        client = docker_client()
        collect_garbage(client)
        if jobs == 1:
            from runner.batch.slots import grade_job

            executor = InProcess(
                lambda path, listener: grade_job(client, challenge, path, options, listener)
            )
        else:
            from runner.batch.pool import LocalPool, max_slots

            bound, why = max_slots(challenge)
            if jobs > bound:
                console.print(f"[yellow]--jobs {jobs} lowered to {bound} ({why})[/]")
                jobs = bound
            executor = LocalPool(challenge, options, max(1, jobs))

    def finish(rows: list[Any], jobs: list[Any]) -> None:
        from runner.batch.leaderboard import save_pairs, write_leaderboard
        from runner.batch.similarity import K, W

        if similarity:
            unread: dict[str, list[str]] = {}
            pairs = flag_similar(challenge, jobs, threshold=similarity_threshold, unread=unread)
            method = (
                f"winnowed fingerprints (k={K} tokens, window {W}); flagged at "
                f"{similarity_threshold or 0.5:.0%} of either side's fingerprints"
            )
            save_pairs(out, pairs, {"method": method, "not_compared": unread})
            for name, files in sorted(unread.items()):  # a cap left them out: said, not hidden
                console.print(
                    f"[yellow]similarity: {len(files)} source file(s) of {name} not compared "
                    f"(over the reading caps), e.g. {files[0]}[/]",
                    highlight=False,
                )
            for line in similar_lines(pairs):
                console.print(line, highlight=False)
        write_leaderboard(out, challenge, rows)

    with BatchView(console) as view:
        result = run_batch(
            challenge,
            submissions,
            out,
            executor,
            options=options,
            force=force,
            on_event=view,
            finish=finish,
        )
    console.print(
        table(f"{challenge.id}: {len(result.rows)} submissions", result.rows, console.width)
    )
    console.print(f"[dim]wrote {out / 'leaderboard.html'} (and .csv, .json)[/]")
    if junit is not None:
        from runner.batch.jobs import OutDir

        write_junit(junit, challenge, result.rows, OutDir(out), fail_under)
        console.print(f"[dim]wrote {junit}[/]")
    return (result, *batch_exit_code(result.rows, fail_under))


def flag_similar(
    challenge: Any,
    jobs: list[Any],
    *,
    threshold: float | None = None,
    unread: dict[str, list[str]] | None = None,
) -> list[Any]:
    """Similar pairs among the batch's submissions; stored in OUT for the leaderboard.
    ``unread`` receives, per submission, the source files a reading cap left out."""
    from runner.batch import similarity as sim
    from runner.intake.submission import load_submission

    prints = []
    known = sim.known_hashes(challenge.root)
    for job in jobs:
        sub = load_submission(job.path)
        # every file it holds, not only what is built (runner.batch.similarity: folders decide nothing)
        prints.append(sim.fingerprint_dir(job.name, sub.root, None, job.digest, known))
        if unread is not None and prints[-1].unread:
            unread[job.name] = prints[-1].unread[:20]
    ignore = sim.boilerplate_hashes(sim.published_texts(challenge.root))
    return sim.compare(prints, ignore, threshold=sim.THRESHOLD if threshold is None else threshold)


def batch_exit_code(rows: list[Any], fail_under: float | None) -> tuple[ExitCode, str]:
    """3 when a submission could not be graded on our side (grader error, lost worker, refused
    job); else 1 when ``--fail-under`` is given and a submission is not graded or below it."""
    from runner.batch.jobs import rank_key

    rows = sorted(rows, key=rank_key)
    ours = [r.name for r in rows if r.verdict in ("failed", "refused", Verdict.ERROR.value)]
    if ours:
        return ExitCode.INFRA, f"not graded on our side: {', '.join(ours)}"
    if fail_under is not None:
        low = [
            r.name for r in rows if r.verdict != Verdict.GRADED.value or (r.score or 0) < fail_under
        ]
        if low:
            return ExitCode.BELOW_THRESHOLD, f"below --fail-under {fail_under:g}: {', '.join(low)}"
    return ExitCode.OK, ""


def batch_status(console: Console, *, out: Path | None, broker: str | None) -> dict[str, Any]:
    """Where a batch stands: from the broker (queued, running on which worker, done, failed),
    or from OUT's progress file for a batch on this host."""
    import json
    import time

    from runner.reports.safe_text import safe

    if broker is not None:
        from runner.batch.celery_queue import status, status_lines

        queued: dict[str, Any] = status(broker, out)
        for line in status_lines(queued):
            console.print(safe(line), highlight=False)
        return queued
    if out is None:
        raise UsageError("--status needs --out DIR (a batch on this host) or --broker URL")
    try:
        state = json.loads((out / "progress.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{out} holds no batch (no progress.json)") from None
    except ValueError as exc:
        raise UsageError(f"{out / 'progress.json'}: unreadable ({exc})") from None
    from runner.grading.pod import _alive

    alive = _alive(int(state.get("pid", 0)))
    eta = state.get("eta_s")
    console.print(
        f"{state['done']}/{state['total']} done ({state.get('skipped', 0)} from earlier runs), "
        f"{len(state.get('running', {}))} running, {state['left']} left"
        + (f", ETA {eta / 60:.1f} min" if eta is not None and alive else ""),
        highlight=False,
    )
    for name, info in state.get("running", {}).items():
        since = time.time() - float(info.get("since", time.time()))
        console.print(
            safe(
                f"  running {name} on {info.get('worker', '?')}: {info.get('phase', '?')} ({since:.0f} s)"
            )
        )
    if not alive and state["left"] + len(state.get("running", {})):
        console.print("[yellow]the batch is not running: run it again to continue[/]")
    return {str(k): v for k, v in state.items()}


def worker(
    console: Console,
    *,
    broker: str,
    slots: int,
    name: str | None,
    visibility_timeout: float | None,
) -> None:
    """Run a Celery worker: ``slots`` gradings at once from ``broker``, until stopped."""
    from runner.batch.celery_queue import run_worker

    run_worker(
        console, broker=broker, slots=slots, name=name, visibility_timeout=visibility_timeout
    )


def calibrate_generator(console: Console, *, load_workers: int | str = "auto") -> float:
    """The highest rate the load generator sustains against a trivial responder in a pod on
    this machine (runner/ceiling), stored per host and worker count; later runs report it
    beside capacity and read a capacity within its margin as the generator's."""
    from runner.challenges import calibration
    from runner.challenges.registry import load_challenge
    from runner.grading.pipeline import grade
    from runner.grading.pod import docker_client
    from runner.intake.submission import load_submission
    from runner.reports.terminal import Progress

    here = Path(__file__).parent / "ceiling"
    challenge = load_challenge(here)
    opts = run_options(
        challenge,
        candidate=False,
        skip_load=False,
        load_duration=None,
        seed=1,
        load_workers=load_workers,
    )
    with Progress(console) as progress:
        opts.listener = progress
        results = grade(docker_client(), challenge, load_submission(here / "responder"), opts)
    load = results.load
    if load is None or results.verdict != "graded" or not load.slo_met:
        raise InfraError(
            f"the generator's ceiling could not be measured ({results.verdict.value}: "
            f"{results.verdict_detail or 'the responder missed its SLOs'})"
        )
    passing = [load.measured, *(s for s in load.steps if s.ok)]
    rps = round(max(s.achieved_rps for s in passing), 1)
    detail = {
        "stop": load.capacity_stop,
        "stages": [[s.stage, s.rps_offered, s.achieved_rps, s.generator_cpu] for s in load.steps],
        "run_id": results.manifest.run_id,
        "load_average": list(os.getloadavg()),
    }
    path = calibration.save_ceiling(results.manifest.host, opts.load_workers, rps, detail)
    console.print(
        f"load generator ceiling on this host with {opts.load_workers} worker(s): "
        f"{rps:,.0f} req/s (search stopped on the {load.capacity_stop or 'target'})"
    )
    console.print(f"[dim]stored {path}[/]")
    return rps


def calibrate_challenge(
    challenge_id: str, console: Console, *, load_duration: float | None = None
) -> dict[str, Any]:
    """Grade the challenge's reference with load on this machine and store its figures."""
    from runner.challenges import calibration
    from runner.challenges.solutions import load_solution
    from runner.grading.pipeline import RunOptions, grade
    from runner.grading.pod import docker_client
    from runner.intake.submission import load_submission
    from runner.reports.terminal import Progress

    challenge = Registry().get(challenge_id)
    if challenge.config.load is None:
        raise UsageError(f"challenge {challenge.id} has no load profile: nothing to calibrate")
    client = docker_client()
    with tempfile.TemporaryDirectory(prefix="assess-calibrate-") as tmp:
        sub = load_submission(load_solution(challenge, "reference").materialize(Path(tmp)))
        with Progress(console) as progress:
            results = grade(
                client,
                challenge,
                sub,
                RunOptions(skip_load=False, load_duration_s=load_duration, listener=progress),
            )
    if results.load is None or results.verdict != "graded":
        raise InfraError(
            f"the reference of {challenge.id} did not grade cleanly ({results.verdict.value}: "
            f"{results.verdict_detail or 'no load figures'}); cannot calibrate"
        )
    path = calibration.save(challenge, results.manifest.host, results.load, results.manifest.run_id)
    figs = calibration.figures(results.load)
    figures = ", ".join(f"{k} {v}" for k, v in figs.items())
    console.print(f"calibrated {challenge.id} {challenge.config.version} on this host: {figures}")
    console.print(f"[dim]stored {path}[/]")
    return dict(figs)


def candidate_note(hidden: int, visible: int, tests: bool = False) -> str:
    """What a candidate-mode score is, and is not (it is never the final grade)."""
    if tests:  # a suite: every mutant ran, the hidden ones reported by skill only
        return (
            f"[bold]candidate mode:[/] your suite ran against all {visible} mutants; the hidden "
            "ones are shown by skill only. The interviewer's run is the one that counts."
        )
    if hidden == 0:
        return (
            f"[bold]candidate mode:[/] {visible} visible checks; this challenge has no hidden "
            "checks, but the interviewer's run (and its load phase) is the one that counts."
        )
    return (
        f"[bold]candidate mode: this is not your grade.[/] The score above covers the {visible} "
        f"visible checks only; {hidden} hidden check{'s' if hidden != 1 else ''} exist, and the "
        "interviewer runs them."
    )


def list_json() -> list[dict[str, Any]]:
    """Every challenge as data, for `assess list --json`."""
    return [
        {
            "id": ch.id,
            "title": ch.config.title,
            "version": ch.config.version,
            "summary": ch.config.summary,
            "skills": dict(ch.config.skills),
            "requirements": list(ch.config.requirements),
            "sidecars": [s.name for s in ch.config.sidecars],
            "load": ch.config.load is not None,
            "public_only": not ch.complete,
            "hidden_checks": ch.hidden_checks,
        }
        for ch in Registry().all()
    ]


def show(challenge_id: str, console: Console) -> None:
    """Render the challenge's brief in the terminal."""
    from rich.markdown import Markdown

    challenge = Registry().get(challenge_id)
    if not challenge.brief.is_file():
        raise UsageError(f"challenge {challenge.id} has no brief ({challenge.brief} is missing)")
    cfg = challenge.config
    console.print(f"[bold]{cfg.title}[/] ({challenge.id} {cfg.version})", highlight=False)
    console.print(Markdown(challenge.brief.read_text(encoding="utf-8")))
    console.print(
        f"[dim]{challenge.hidden_checks} hidden checks are run by the interviewer. Start with "
        f"`assess init {challenge.id} DIR`, self-test with `assess run {challenge.id} DIR "
        "--candidate`.[/]",
        highlight=False,
    )


def show_checks(challenge_id: str, console: Console) -> None:
    """The visible checks' ids and skills, read from the check files (hidden ones only counted:
    their names are the interviewer's)."""
    from runner.challenges.checkscan import scan

    challenge = Registry().get(challenge_id)
    defs = scan(challenge.checks_dir)
    visible = [d for d in defs if not d.hidden]
    for d in visible:
        console.print(f"{d.id}  [dim]{d.skill or 'general'} · {d.file}[/]", highlight=False)
    console.print(
        f"[dim]{len(visible)} visible checks; {len(defs) - len(visible)} hidden checks are run "
        f"by the interviewer. Run some: `assess run {challenge.id} DIR --candidate --check ID`[/]",
        highlight=False,
    )


def list_challenges(console: Console) -> None:
    catalogue: dict[str, str] = {}
    if SEEDS.is_file():
        data = tomllib.loads(SEEDS.read_text(encoding="utf-8"))
        for posting in data.get("postings", []):
            for req in posting.get("requirements", []):
                catalogue[req["id"]] = req["text"]
    if console.width < 120:
        # A CI log's 80 columns: one block per challenge, ids never cut, requirements by id
        # (`assess coverage` has the catalogue's sentences).
        for ch in Registry().all():
            cfg = ch.config
            skills = ", ".join(f"{k} ({v:g})" for k, v in cfg.skills.items())
            console.print(f"[bold]{ch.id}[/] {cfg.version}  {escape(cfg.title)}", highlight=False)
            console.print(f"  skills: {skills}", highlight=False)
            console.print(f"  requirements: {', '.join(cfg.requirements) or '-'}", highlight=False)
        return
    table = Table(box=None, pad_edge=False)
    for col in ("challenge", "version", "skills (weight)", "requirements covered"):
        table.add_column(col)
    for ch in Registry().all():
        cfg = ch.config
        skills = ", ".join(f"{k} ({v:g})" for k, v in cfg.skills.items())
        reqs = "\n".join(
            f"{r}: {catalogue.get(r, '(not in seeds/catalogue.toml)')}" for r in cfg.requirements
        )
        table.add_row(f"[bold]{ch.id}[/]\n{cfg.title}", cfg.version, skills, reqs or "-")
    console.print(table)


def coverage(
    console: Console,
    *,
    json_path: Path | None = None,
    markdown_path: Path | None = None,
    catalogue: Path | None = None,
) -> dict[str, Any]:
    """The requirements x challenges matrix: printed, and written as JSON and/or Markdown."""
    import json

    from runner.challenges import coverage as cov

    matrix = cov.build(cov.load_catalogue(catalogue or SEEDS), Registry().all())
    data = cov.to_json(matrix)
    for path, text in (
        (json_path, json.dumps(data, indent=2) + "\n"),
        (markdown_path, cov.markdown(matrix)),
    ):
        if path is None:
            continue
        if not path.parent.is_dir():
            raise UsageError(f"{path}: directory {path.parent} does not exist; create it first")
        path.write_text(text, encoding="utf-8")
    console.print(cov.table(matrix, console.width))
    for line in cov.summary_lines(matrix):
        console.print(line, highlight=False, soft_wrap=True)
    return data


def new_challenge(name: str, console: Console, *, parent: Path | None = None) -> Path:
    """`assess new-challenge`: write a template challenge that `assess verify` accepts."""
    from runner.challenges.authoring import new_challenge as write
    from runner.challenges.registry import default_challenges_dir, load_challenge

    root = write(name, parent or default_challenges_dir())
    load_challenge(root)  # the template must load as it stands
    console.print(
        f"created {root}: a template challenge (brief, 2 checks, load profile, reference, one "
        f"flawed variant). Prove it with:\n  assess verify {root}\nthen replace its parts one "
        "at a time (docs/authoring.md), re-running verify after each.",
        highlight=False,
        soft_wrap=True,
    )
    return root


def verify(
    challenge_id: str,
    only: list[str],
    console: Console,
    *,
    private: str | None = None,
    out: Path | None = None,
) -> bool:
    """Grade each solution; True when each fails exactly its expected checks. With ``out``,
    each solution's results and reports go to ``out/<solution>/`` (as a batch writes them)."""
    from runner.challenges import checkscan, packs
    from runner.challenges.solutions import all_solutions
    from runner.errors import ChallengeError
    from runner.grading.pipeline import RunOptions, grade
    from runner.grading.pod import docker_client
    from runner.intake.submission import load_submission

    challenge = packs.open_challenge(challenge_id, private=private, interviewer=True)
    authoring = checkscan.authoring_errors(challenge.checks_dir, set(challenge.config.skills))
    if authoring:
        more = f" (and {len(authoring) - 1} more)" if len(authoring) > 1 else ""
        raise ChallengeError(authoring[0] + more)
    solutions = [s for s in all_solutions(challenge) if not only or s.name in only]
    missing = set(only) - {s.name for s in solutions}
    if missing:
        raise UsageError(f"no solution named {', '.join(sorted(missing))} in {challenge.id}")
    client = docker_client()
    all_ok = True
    with tempfile.TemporaryDirectory(prefix="assess-verify-") as tmp:
        for sol in solutions:
            sub = load_submission(sol.materialize(Path(tmp)))
            results = grade(client, challenge, sub, RunOptions(skip_load=True))
            if out is not None:
                target = out / sol.name
                write_reports(
                    results,
                    {
                        "json": target / "results.json",
                        "html": target / "report.html",
                        "junit": target / "junit.xml",
                        "markdown": target / "summary.md",
                    },
                )
            failed = results.failed_ids()
            expected = set(sol.expected.fails)
            note = ""
            if challenge.config.kind == "tests":  # a suite: its reference runs come first
                from runner.grading.mutation import suite_view

                failed, expected, note = suite_view(results, sol.expected)
            ok = results.verdict == "graded" and failed == expected and not note
            all_ok &= ok
            mark = "[green]✓[/]" if ok else "[red]✗[/]"
            line = f"{mark} {sol.name}: verdict {results.verdict.value}, {results.passed}/{len(results.checks)} passed"
            if failed - expected:
                line += f"\n    unexpectedly failed: {', '.join(sorted(failed - expected))}"
            if expected - failed:
                line += f"\n    expected to fail but passed: {', '.join(sorted(expected - failed))}"
            if note:
                line += f"\n    {note}"
            console.print(line, highlight=False)
    return all_ok


def init_starter(challenge_id: str, directory: Path, runtime: str, console: Console) -> None:
    challenge = Registry().get(challenge_id)
    if runtime not in STARTERS:
        raise UsageError(f"unknown runtime {runtime!r}; use one of {', '.join(STARTERS)}")
    if directory.exists() and any(directory.iterdir()):
        raise UsageError(f"{directory} exists and is not empty; choose a new directory")
    directory.mkdir(parents=True, exist_ok=True)
    if challenge.config.kind == "tests":  # the candidate writes a test suite, not a service
        from runner.grading.mutation import SUITE_STARTERS

        files = SUITE_STARTERS[runtime]
    else:  # the challenge's own starter (its protocol's first step), else the generic stub
        files = starter_for(challenge.root, runtime)
    for name, text in files.items():
        (directory / name).parent.mkdir(parents=True, exist_ok=True)
        (directory / name).write_text(text, encoding="utf-8")
    if challenge.brief.is_file():
        shutil.copyfile(challenge.brief, directory / "BRIEF.md")
    console.print(
        f"created {directory} ({runtime}). Self-test with:\n"
        f"  assess run {challenge.id} {directory} --candidate"
    )


def gc(console: Console, *, all_runs: bool, images: bool) -> None:
    from runner.grading.build import SUBMISSION_REPO
    from runner.grading.pod import collect_garbage, docker_client

    client = docker_client()
    removed = collect_garbage(client, all_runs=all_runs)
    console.print(f"removed {removed} leftover container(s)")
    if images:
        count = 0
        for image in client.images.list(filters={"label": "assess.kind=submission"}):
            for tag in image.tags:
                if tag.startswith(SUBMISSION_REPO + "/"):
                    client.images.remove(tag, force=True)
                    count += 1
        sidecars = 0
        for image in client.images.list(filters={"label": "assess.kind=sidecar"}):
            for tag in image.tags:
                with contextlib.suppress(Exception):  # in use by a live run: kept
                    client.images.remove(tag)
                    sidecars += 1
        client.images.prune(filters={"dangling": True})
        console.print(f"removed {count} submission image(s), {sidecars} sidecar image(s)")


def build_images(console: Console, *, force: bool) -> dict[str, Any]:
    from runner.grading.images import Images
    from runner.grading.pod import docker_client

    with console.status("building images…") as status:
        images = Images(docker_client(), progress=lambda s: status.update(s[:100]))
        ids = images.ensure_all(force=force)
        # Sidecars with their own image (a database, a broker): built here once, not in the
        # first grading that needs one.
        registry = Registry()
        for challenge_id in registry.ids():
            try:
                challenge = registry.get(challenge_id)
            except UsageError as exc:  # its own run says so; the other images still build
                console.print(f"skipped {challenge_id}'s sidecars: {exc}")
                continue
            for sc in challenge.config.sidecars:
                if sc.dockerfile:
                    tag = f"sidecar {challenge.id}/{sc.name}"
                    ids[tag] = images.ensure_sidecar(
                        challenge.id, sc.name, challenge.root / sc.path, sc.dockerfile, force=force
                    )
    for tag, image_id in ids.items():
        console.print(f"{tag}  {image_id[7:19]}")
    return ids


def images_status(console: Console) -> None:
    from runner.grading.images import Images
    from runner.grading.pod import docker_client

    for tag, short in Images(docker_client()).status():
        console.print(f"{tag}  {short or '[red]missing[/] (assess images build)'}")


def pack(challenge_id: str, console: Console, *, public: Path | None, private: Path | None) -> None:
    """Write the candidate-safe public bundle and/or the interviewer's private pack."""
    from runner.challenges import packs

    if public is None and private is None:
        raise UsageError("give --public OUT and/or --private OUT: what to write")
    challenge = Registry().get(challenge_id)
    if public is not None:
        dest = packs.write_public(challenge, public)
        console.print(
            f"wrote {dest}: public part ({challenge.hidden_checks} hidden checks announced, "
            "none included, no solutions)"
        )
    if private is not None:
        dest = packs.write_private(challenge, private)
        console.print(f"wrote {dest}: private part (hidden checks, solutions); keep it private")
