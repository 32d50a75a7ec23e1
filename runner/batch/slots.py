"""A grading slot on one Docker host: the host-wide pod lock, and one job graded start to end.

Used by every way a batch grades (in-process, ``--jobs N`` processes, Celery workers), so a
submission is graded the same way wherever it runs.

The pod lock keeps load phases from distorting each other, and from being distorted by other
gradings' checks. It is a readers-writer lock over two ``flock`` files shared by every assess
process on the host (``$ASSESS_HOME/locks``): a pod that will run a load phase holds it
exclusively from the end of its build until the pod is gone; a pod without load holds it shared.
Builds hold nothing: they overlap with anything. Writers have preference (a turnstile), so a
stream of load-free gradings cannot starve a load phase. The lock is taken from the grading's
own event stream: ``grade()`` calls its listener synchronously, so blocking on the "build ended"
event holds the grading between its build and its pod. The lock is released when the pod has
been torn down (``grade()`` returned), or by the kernel when the process dies.

Measured on a 2-core host (bench/batch_throughput.py): a load phase that shares the machine with
another grading's checks loses capacity and gains latency; with the lock the load figures of a
submission graded inside a ``--jobs 2`` batch agree with those graded alone.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from runner.challenges.registry import Challenge
from runner.grading.pipeline import RunOptions, grade
from runner.intake.submission import load_submission
from runner.results import Results

Listener = Callable[[dict[str, Any]], None]


def locks_dir() -> Path:
    home = os.environ.get("ASSESS_HOME")
    base = Path(home) if home else Path.home() / ".cache" / "assess"
    return base / "locks"


class PodLock:
    """The host-wide readers-writer lock a pod holds (exclusive when it runs a load phase)."""

    def __init__(self, exclusive: bool, directory: Path | None = None) -> None:
        self.exclusive = exclusive
        self.directory = directory or locks_dir()
        self._main: IO[bytes] | None = None
        self.waited_s = 0.0

    def _open(self, name: str) -> IO[bytes]:
        self.directory.mkdir(parents=True, exist_ok=True)
        return open(self.directory / name, "ab")  # held past this scope: the lock

    def acquire(self) -> None:
        if self._main is not None or os.environ.get("ASSESS_POD_LOCK") == "off":
            return  # off: only for measuring what the lock prevents (bench/batch_throughput.py)
        start = time.monotonic()
        gate = self._open("pods.gate")
        main = self._open("pods.lock")
        try:
            fcntl.flock(gate, fcntl.LOCK_EX)  # the turnstile: a waiting writer holds it
            if self.exclusive:
                fcntl.flock(main, fcntl.LOCK_EX)
            fcntl.flock(gate, fcntl.LOCK_UN)
            if not self.exclusive:
                fcntl.flock(main, fcntl.LOCK_SH)
        except BaseException:
            main.close()
            raise
        finally:
            gate.close()
        self._main = main
        self.waited_s = time.monotonic() - start

    def release(self) -> None:
        if self._main is not None:
            self._main.close()  # closing the descriptor drops the flock
            self._main = None

    def listener(self, inner: Listener, on_wait: Callable[[], None] | None = None) -> Listener:
        """``inner``, plus: take the lock when the build has ended well (before the pod)."""

        def listen(event: dict[str, Any]) -> None:
            if (
                event.get("event") == "phase"
                and event.get("phase") == "build"
                and event.get("state") == "end"
                and event.get("ok")
            ):
                if on_wait is not None:
                    on_wait()
                self.acquire()
            inner(event)

        return listen

    @contextlib.contextmanager
    def held_around(self) -> Iterator[PodLock]:
        try:
            yield self
        finally:
            self.release()


def grading_options(challenge: Challenge, options: dict[str, Any], listener: Listener) -> Any:
    """``RunOptions`` from a job's plain options (they travel between processes and hosts)."""
    return RunOptions(
        mode=str(options.get("mode", "interviewer")),
        seed=int(options.get("seed", 1)),
        skip_load=bool(options.get("skip_load", False)) or challenge.config.load is None,
        load_duration_s=options.get("load_duration_s"),
        load_workers=int(options.get("load_workers", 0)),
        docker_runtime=options.get("docker_runtime"),
        listener=listener,
    )


def grade_job(
    client: Any,
    challenge: Challenge,
    submission_dir: Path,
    options: dict[str, Any],
    listener: Listener,
    *,
    lock_dir: Path | None = None,
) -> Results:
    """Grade one submission directory under the pod lock. Raises what ``grade`` raises
    (``SubmissionError`` for an invalid directory, ``InfraError`` for our side)."""
    submission = load_submission(submission_dir)
    opts = grading_options(challenge, options, listener)
    lock = PodLock(exclusive=not opts.skip_load, directory=lock_dir)
    waiting = lambda: listener({"event": "phase", "phase": "waiting", "state": "start"})  # noqa: E731
    opts.listener = lock.listener(listener, on_wait=waiting)
    with lock.held_around():
        return grade(client, challenge, submission, opts)
