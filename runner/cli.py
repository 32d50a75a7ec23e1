"""The ``assess`` command: parses arguments, calls one core function, maps it to an exit code.

Heavy imports (docker, rich tables, locust) happen inside commands so ``--help`` is instant.
Only AssessError is caught: anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from runner.errors import AssessError, ExitCode, Interrupted, UsageError

app = typer.Typer(
    name="assess",
    help="Grade backend coding challenges: build, sandbox, check, load-test, report.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
images_app = typer.Typer(help="Build or inspect the images assess runs on.", no_args_is_help=True)
app.add_typer(images_app, name="images")


def _console(stderr: bool = False) -> Any:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False)


def _fail(err: AssessError) -> NoReturn:
    from rich.markup import escape

    # the message may quote a stranger's text (an archive member's name): never markup
    _console(stderr=True).print(f"[bold red]error:[/] {escape(err.message)}", soft_wrap=True)
    raise typer.Exit(int(err.exit_code))


def _sigterm_to_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _print_version(value: bool) -> None:
    if value:
        import runner

        typer.echo(f"assess {runner.__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="print the version"),
    ] = False,
) -> None:
    """Grade backend coding challenges: build, sandbox, check, load-test, report."""


@app.command()
def run(
    challenge: Annotated[str, typer.Argument(help="challenge id (see `assess list`) or directory")],
    submission: Annotated[
        str | None,
        typer.Argument(
            help="submission: a directory (Dockerfile or assess.toml), .zip, .tar.gz or git URL"
        ),
    ] = None,
    url: Annotated[
        str | None, typer.Option(help="grade a service already running on loopback")
    ] = None,
    json_path: Annotated[
        Path | None, typer.Option("--json", help="write results JSON here ('-': stdout)")
    ] = None,
    html: Annotated[Path | None, typer.Option(help="write a self-contained HTML report")] = None,
    junit: Annotated[Path | None, typer.Option(help="write JUnit XML")] = None,
    markdown: Annotated[Path | None, typer.Option(help="write a Markdown summary")] = None,
    fail_under: Annotated[
        float | None, typer.Option(help="exit 1 when the score is below this (0-100)")
    ] = None,
    candidate: Annotated[bool, typer.Option(help="candidate mode: visible checks only")] = False,
    skip_load: Annotated[bool, typer.Option(help="skip the load phase")] = False,
    load_duration: Annotated[
        float | None, typer.Option(help="seconds of measured load (overrides the challenge)")
    ] = None,
    load_workers: Annotated[
        str,
        typer.Option(
            help="Locust workers: auto (one per core the sandbox leaves free), "
            "N, or 0 (one local generator)"
        ),
    ] = "auto",
    seed: Annotated[int, typer.Option(help="random seed for checks and load")] = 1,
    docker_runtime: Annotated[
        str | None, typer.Option("--runtime", help="Docker runtime for the sandbox, e.g. runsc")
    ] = None,
    show_passed: Annotated[bool, typer.Option(help="list passed checks too")] = False,
    calibrate: Annotated[
        bool, typer.Option(help="calibrate on this machine first if not done (see `calibrate`)")
    ] = False,
    private: Annotated[
        str | None,
        typer.Option(help="private challenge pack (path or git URL); else $ASSESS_PRIVATE"),
    ] = None,
    ref: Annotated[
        str | None, typer.Option(help="branch, tag or commit when SUBMISSION is a git URL")
    ] = None,
    solution: Annotated[
        str | None, typer.Option(help="grade one of the challenge's own solutions, by name")
    ] = None,
    keyword: Annotated[
        str,
        typer.Option(
            "-k",
            help="run only checks matching this pytest-style expression (ids, files, skills, "
            "marks): a partial run, not a grade",
        ),
    ] = "",
    check: Annotated[
        list[str] | None,
        typer.Option("--check", help="run only this check id (repeatable): a partial run"),
    ] = None,
    fail_fast: Annotated[
        bool, typer.Option(help="stop at the first check that does not pass (the rest: not_run)")
    ] = False,
    sidecars_from: Annotated[
        Path | None,
        typer.Option(
            help="with --url: the state file a running `assess sidecars CHALLENGE` printed "
            "(challenges with sidecars only)"
        ),
    ] = None,
) -> None:
    """Grade one SUBMISSION of CHALLENGE in the sandbox (or a running service with --url).

    A challenge with sidecars (cache, monitoring) graded with --url: run `assess sidecars
    CHALLENGE` first, start the service with the variables it prints, then add
    --sidecars-from STATE."""
    from runner import commands
    from runner.stdout import protect_stdout

    protect_stdout()  # `assess run ... | head` must still finish and write its files
    # `--json -`: the results go to stdout, so the human report goes to stderr.
    json_to_stdout = json_path is not None and str(json_path) == "-"
    if json_to_stdout:
        json_path = None
    console = _console(stderr=json_to_stdout)
    previous = signal.signal(signal.SIGTERM, _sigterm_to_interrupt)
    try:
        request = commands.RunRequest(
            challenge,
            submission,
            url=url,
            solution=solution,
            candidate=candidate,
            skip_load=skip_load,
            load_duration=load_duration,
            load_workers=load_workers,
            seed=seed,
            docker_runtime=docker_runtime,
            outputs={"json": json_path, "html": html, "junit": junit, "markdown": markdown},
            show_passed=show_passed,
            calibrate=calibrate,
            private=private,
            ref=ref,
            select=tuple(check or ()),
            keyword=keyword,
            fail_fast=fail_fast,
            fail_under=fail_under,
            sidecars_from=sidecars_from,
        )
        results = commands.run(request, console)
    except KeyboardInterrupt:
        _fail(Interrupted())
    except AssessError as err:
        _fail(err)
    finally:
        signal.signal(signal.SIGTERM, previous)
    if json_to_stdout:
        sys.stdout.write(results.to_json() + "\n")
        sys.stdout.flush()
    code, why = commands.exit_code_for(results, fail_under)
    if code == ExitCode.INTERRUPTED:
        _fail(Interrupted(why))  # on stderr, as every interruption is
    if why:
        console.print(f"[red]{why}[/]", highlight=False)
    if code != ExitCode.OK:
        raise typer.Exit(int(code))


@app.command()
def batch(
    challenge: Annotated[
        str | None, typer.Argument(help="challenge id or directory", show_default=False)
    ] = None,
    submissions: Annotated[
        list[Path] | None, typer.Argument(help="submission directories", show_default=False)
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="directory for results, reports and the leaderboard")
    ] = None,
    jobs: Annotated[
        int, typer.Option(help="gradings at once on this host (bounded by cores and memory)")
    ] = 1,
    force: Annotated[
        bool, typer.Option(help="grade again submissions already graded in OUT")
    ] = False,
    broker: Annotated[
        str | None,
        typer.Option(
            help="grade on Celery workers through this Redis (redis://[:PASSWORD@]HOST:PORT/DB)",
            envvar="ASSESS_BROKER",
        ),
    ] = None,
    status: Annotated[
        bool, typer.Option("--status", help="show the batch's progress (OUT's, or the broker's)")
    ] = False,
    fail_under: Annotated[
        float | None, typer.Option(help="exit 1 when a submission is below this (0-100)")
    ] = None,
    junit: Annotated[
        Path | None, typer.Option(help="write JUnit XML (one suite per submission)")
    ] = None,
    similarity: Annotated[
        bool, typer.Option(help="flag pairs of similar submissions (for review)")
    ] = True,
    similarity_threshold: Annotated[
        float | None, typer.Option(help="share of fingerprints that flags a pair (0-1)")
    ] = None,
    max_job_mb: Annotated[
        float | None, typer.Option(help="with --broker: largest submission sent (MiB, packed)")
    ] = None,
    candidate: Annotated[bool, typer.Option(help="visible checks only")] = False,
    skip_load: Annotated[bool, typer.Option(help="skip the load phase")] = False,
    load_duration: Annotated[
        float | None, typer.Option(help="seconds of measured load (overrides the challenge)")
    ] = None,
    seed: Annotated[int, typer.Option(help="random seed for checks and load")] = 1,
) -> None:
    """Grade many submissions of CHALLENGE: resumable, N at once, or on Celery workers."""
    from runner import commands

    if status:
        try:
            commands.batch_status(_console(), out=out, broker=broker)
        except AssessError as err:
            _fail(err)
        return
    if challenge is None or not submissions or out is None:
        _fail(UsageError("give CHALLENGE, one or more SUBMISSIONS and --out DIR (or --status)"))
    console = _console()
    previous = signal.signal(signal.SIGTERM, _sigterm_to_interrupt)
    try:
        request = commands.BatchRequest(
            challenge,
            tuple(submissions),
            out,
            candidate=candidate,
            skip_load=skip_load,
            load_duration=load_duration,
            seed=seed,
            jobs=jobs,
            force=force,
            broker=broker,
            similarity=similarity,
            similarity_threshold=similarity_threshold,
            fail_under=fail_under,
            junit=junit,
            max_job_mb=max_job_mb,
        )
        _, code, why = commands.batch(request, console)
    except KeyboardInterrupt:
        _fail(Interrupted("interrupted; finished submissions are kept (run again to continue)"))
    except AssessError as err:
        _fail(err)
    finally:
        signal.signal(signal.SIGTERM, previous)
    if why:
        console.print(f"[red]{why}[/]", highlight=False)
    if code != ExitCode.OK:
        raise typer.Exit(int(code))


@app.command()
def worker(
    broker: Annotated[
        str,
        typer.Option(
            help="the Redis batches are sent to (redis://[:PASSWORD@]HOST:PORT/DB)",
            envvar="ASSESS_BROKER",
        ),
    ],
    slots: Annotated[
        int, typer.Option(help="gradings at once on this host (bounded by cores and memory)")
    ] = 1,
    name: Annotated[str | None, typer.Option(help="worker name (default: HOST-PID)")] = None,
    visibility_timeout: Annotated[
        float | None,
        typer.Option(
            help="seconds before an unacknowledged job is given to another worker "
            "(default: twice the longest grading of the challenges here)"
        ),
    ] = None,
) -> None:
    """Grade batch jobs from a Redis broker (Celery) on this Docker host, until stopped."""
    from runner import commands

    try:
        commands.worker(
            _console(), broker=broker, slots=slots, name=name, visibility_timeout=visibility_timeout
        )
    except KeyboardInterrupt:
        _fail(Interrupted("worker stopped"))
    except AssessError as err:
        _fail(err)


@app.command(name="calibrate-generator")
def calibrate_generator_cmd(
    load_workers: Annotated[
        str, typer.Option(help="auto, N or 0, as for `run` (each count is stored apart)")
    ] = "auto",
) -> None:
    """Measure the load generator's own ceiling on this machine (reported beside capacity)."""
    from runner import commands

    try:
        commands.calibrate_generator(_console(), load_workers=load_workers)
    except KeyboardInterrupt:
        _fail(Interrupted())
    except AssessError as err:
        _fail(err)


@app.command(name="calibrate")
def calibrate_cmd(
    challenge: Annotated[str, typer.Argument(help="challenge id or directory")],
    load_duration: Annotated[
        float | None, typer.Option(help="seconds of measured load (overrides the challenge)")
    ] = None,
) -> None:
    """Measure the challenge's reference on this machine; later runs report ratios to it."""
    from runner import commands

    try:
        commands.calibrate_challenge(challenge, _console(), load_duration=load_duration)
    except KeyboardInterrupt:
        _fail(Interrupted())
    except AssessError as err:
        _fail(err)


@app.command(name="list")
def list_challenges(
    as_json: Annotated[bool, typer.Option("--json", help="print the list as JSON")] = False,
) -> None:
    """List the challenges with their skills and the posting requirements they cover."""
    from runner import commands

    try:
        if as_json:
            import json

            typer.echo(json.dumps(commands.list_json(), indent=2))
            return
        commands.list_challenges(_console())
    except AssessError as err:
        _fail(err)


@app.command()
def coverage(
    json_path: Annotated[
        Path | None, typer.Option("--json", help="also write the matrix as JSON here")
    ] = None,
    markdown_path: Annotated[
        Path | None, typer.Option("--markdown", help="also write the matrix as Markdown here")
    ] = None,
) -> None:
    """The postings' requirements against the challenges and checks that cover them."""
    from runner import commands

    try:
        commands.coverage(_console(), json_path=json_path, markdown_path=markdown_path)
    except AssessError as err:
        _fail(err)


@app.command()
def sidecars(
    challenge: Annotated[str, typer.Argument(help="challenge id (see `assess list`) or directory")],
    state: Annotated[
        Path | None,
        typer.Option(help="write the state file (ports, control tokens; 0600) here"),
    ] = None,
    private: Annotated[
        str | None,
        typer.Option(help="private challenge pack (path or git URL); else $ASSESS_PRIVATE"),
    ] = None,
) -> None:
    """Run CHALLENGE's sidecars on 127.0.0.1 until Ctrl-C, to grade a service with --url.

    Prints the variables to start your service with (e.g. UPSTREAM_URL=http://127.0.0.1:PORT)
    and the state file; then, in another terminal: `assess run CHALLENGE --url
    http://127.0.0.1:PORT --sidecars-from STATE`. Ctrl-C stops every sidecar."""
    from runner import commands

    previous = signal.signal(signal.SIGTERM, _sigterm_to_interrupt)
    try:
        commands.serve_sidecars(challenge, _console(), state=state, private=private)
    except KeyboardInterrupt:
        _console(stderr=True).print("sidecars stopped")
    except AssessError as err:
        _fail(err)
    finally:
        signal.signal(signal.SIGTERM, previous)


@app.command()
def verify(
    challenge: Annotated[str, typer.Argument(help="challenge id or directory")],
    solution: Annotated[list[str] | None, typer.Option(help="only these solutions")] = None,
    private: Annotated[
        str | None,
        typer.Option(help="private challenge pack (path or git URL); else $ASSESS_PRIVATE"),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="write each solution's JSON, HTML, JUnit and Markdown to OUT/<name>/"),
    ] = None,
) -> None:
    """Grade the challenge's own solutions; each must fail exactly its expected checks."""
    from runner import commands

    if out is not None and out.exists() and not out.is_dir():
        _fail(UsageError(f"--out {out} is a file; give a directory"))
    try:
        ok = commands.verify(challenge, solution or [], _console(), private=private, out=out)
    except KeyboardInterrupt:
        _fail(Interrupted())
    except AssessError as err:
        _fail(err)
    if not ok:
        raise typer.Exit(int(ExitCode.BELOW_THRESHOLD))


@app.command()
def show(
    challenge: Annotated[str, typer.Argument(help="challenge id or directory")],
    checks: Annotated[
        bool, typer.Option("--checks", help="list the visible check ids (for --check ID)")
    ] = False,
) -> None:
    """Render CHALLENGE's brief in the terminal (or, with --checks, its visible check ids)."""
    from runner import commands

    try:
        if checks:
            commands.show_checks(challenge, _console())
            return
        commands.show(challenge, _console())
    except AssessError as err:
        _fail(err)


@app.command()
def pack(
    challenge: Annotated[str, typer.Argument(help="challenge id or directory")],
    public: Annotated[
        Path | None, typer.Option(help="write the candidate-safe bundle under this directory")
    ] = None,
    private: Annotated[
        Path | None, typer.Option(help="write the private pack (hidden checks, solutions) here")
    ] = None,
) -> None:
    """Split CHALLENGE into what candidates may see and what only the interviewer keeps."""
    from runner import commands

    try:
        commands.pack(challenge, _console(), public=public, private=private)
    except AssessError as err:
        _fail(err)


@app.command(name="new-challenge")
def new_challenge(
    name: Annotated[str, typer.Argument(help="the new challenge's id, e.g. url-shortener")],
    directory: Annotated[
        Path | None,
        typer.Option("--dir", help="where challenges live (default: the bundled challenges/)"),
    ] = None,
) -> None:
    """Write a template challenge that `assess verify` accepts as it stands (docs/authoring.md)."""
    from runner import commands

    try:
        commands.new_challenge(name, _console(), parent=directory)
    except AssessError as err:
        _fail(err)


@app.command()
def init(
    challenge: Annotated[str, typer.Argument(help="challenge id")],
    directory: Annotated[Path, typer.Argument(help="where to create the starter")],
    runtime: Annotated[str, typer.Option(help="python or node")] = "python",
) -> None:
    """Scaffold a starter submission for a candidate, with the brief beside it."""
    from runner import commands

    try:
        commands.init_starter(challenge, directory, runtime, _console())
    except AssessError as err:
        _fail(err)


@app.command()
def gc(
    all_runs: Annotated[
        bool, typer.Option("--all", help="also remove containers of runs still going")
    ] = False,
    images: Annotated[bool, typer.Option(help="also remove built submission images")] = False,
) -> None:
    """Remove containers, networks and volumes left by crashed or killed runs."""
    from runner import commands

    try:
        commands.gc(_console(), all_runs=all_runs, images=images)
    except AssessError as err:
        _fail(err)


@app.command()
def schema() -> None:
    """Print the JSON Schema of the results file."""
    import json

    from runner.results import json_schema

    typer.echo(json.dumps(json_schema(), indent=2))


@images_app.command("build")
def images_build(
    force: Annotated[bool, typer.Option(help="rebuild even if inputs are unchanged")] = False,
) -> None:
    """Build the base, runtime and grader images (only what changed)."""
    from runner import commands

    try:
        commands.build_images(_console(), force=force)
    except AssessError as err:
        _fail(err)


@images_app.command("status")
def images_status() -> None:
    """Show which of assess's images exist."""
    from runner import commands

    try:
        commands.images_status(_console())
    except AssessError as err:
        _fail(err)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:  # outside a run: nothing to clean
        sys.exit(int(ExitCode.INTERRUPTED))
    finally:
        # The command is over and cleaned up: a Ctrl-C landing while the interpreter exits must
        # not turn a finished run into a death by signal (exit -2 instead of its own code).
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)


if __name__ == "__main__":
    main()
