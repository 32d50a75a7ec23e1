"""``assess batch --jobs N``: N grading processes on this host, each grading one job at a time.

Processes, not threads: a grading owns its pod, and Ctrl-C (or SIGTERM, forwarded here) makes
each process tear its own pod down through the same path as ``assess run``. Each sandbox keeps
its challenge's limits; load phases are kept apart by the host-wide pod lock
(:mod:`runner.batch.slots`). A process that dies mid-grading leaves a ``failed`` row (graded again the
next time the batch runs) and is replaced.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import queue
import signal
import time
import traceback
from pathlib import Path
from typing import Any

from runner.batch.jobs import FAILED, INVALID, Deliver, Done, Emit, Job
from runner.batch.slots import grade_job
from runner.challenges.registry import Challenge, Registry
from runner.errors import AssessError, InfraError, SubmissionError, UsageError
from runner.grading.pod import docker_client
from runner.results import Results

PER_GRADING_MB = 1024 + 256  # the grader container and the host's share, beyond the sandbox


def max_slots(challenge: Challenge) -> tuple[int, str]:
    """How many gradings this host holds at once: cores, and memory (every sandbox's limit plus
    its grader and sidecars must fit in what is available)."""
    cores = os.cpu_count() or 1
    need = (
        challenge.config.sandbox.memory_mb + PER_GRADING_MB + 256 * len(challenge.config.sidecars)
    )
    avail = cores * need
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable"):
                avail = int(line.split()[1]) // 1024
    by_memory = max(1, avail // need)
    if by_memory < cores:
        return by_memory, f"{avail} MiB available, {need} MiB per grading"
    return cores, f"{cores} cores"


def _slot_main(
    slot: int, challenge_root: str, options: dict[str, Any], tasks: Any, events: Any
) -> None:
    """One grading process: take a job, grade it, send back its results; until told to stop."""

    def terminate(signum: int, frame: Any) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # once: the teardown must not be cut
        raise KeyboardInterrupt

    # The parent forwards Ctrl-C and SIGTERM as one SIGTERM each: a terminal's Ctrl-C, which
    # reaches the whole process group, must not interrupt a teardown a second time.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, terminate)
    challenge = Registry().get(challenge_root)
    client = docker_client()
    while True:
        item = tasks.get()
        if item is None:
            return
        name, path = item
        events.put(("start", slot, name, None))

        def listener(ev: dict[str, Any], name: str = name) -> None:
            if ev.get("event") == "phase":
                events.put(
                    ("event", slot, name, {k: ev.get(k) for k in ("event", "phase", "state")})
                )

        try:
            results = grade_job(client, challenge, Path(path), options, listener)
        except KeyboardInterrupt:
            return  # the pod is torn down; the parent is stopping the batch
        except SubmissionError as err:
            events.put(("done", slot, name, (INVALID, err.message)))
        except AssessError as err:
            events.put(("done", slot, name, (FAILED, err.message)))
        except Exception as exc:  # a bug on our side: the row says so, the batch goes on
            traceback.print_exc()
            events.put(("done", slot, name, (FAILED, f"{type(exc).__name__}: {exc}"[:500])))
        else:
            events.put(("done", slot, name, results.model_dump_json()))


class LocalPool:
    """``slots`` grading processes on this host."""

    def __init__(self, challenge: Challenge, options: dict[str, Any], slots: int) -> None:
        if slots < 1:
            raise UsageError(f"--jobs must be at least 1, not {slots}")
        self.challenge = challenge
        self.options = options
        self.slots = slots

    def run(self, jobs: list[Job], emit: Emit, deliver: Deliver) -> None:
        if not jobs:
            return
        ctx = mp.get_context("spawn")  # no inherited threads or docker connections
        tasks: Any = ctx.Queue()
        events: Any = ctx.Queue()
        by_name = {j.name: j for j in jobs}
        for job in jobs:
            tasks.put((job.name, str(job.path)))
        slots = min(self.slots, len(jobs))
        procs: dict[int, Any] = {}
        busy: dict[int, str] = {}
        left = set(by_name)
        restarts = 0

        def start(slot: int) -> None:
            nonlocal restarts
            if slot in procs:
                restarts += 1
                if restarts > 2 * slots:
                    raise InfraError(
                        "grading processes keep dying (see their output above); stopping the batch"
                    )
            p = ctx.Process(
                target=_slot_main,
                args=(slot, str(self.challenge.root), self.options, tasks, events),
                name=f"assess-slot-{slot}",
                daemon=False,
            )
            p.start()
            procs[slot] = p

        for slot in range(slots):
            start(slot)
        try:
            while left:
                try:
                    kind, slot, name, data = events.get(timeout=0.5)
                except queue.Empty:
                    self._reap(procs, busy, left, by_name, deliver, start)
                    continue
                if kind == "start":
                    busy[slot] = name
                    emit("start", name, {"worker": f"slot {slot + 1}"})
                elif kind == "event":
                    emit("event", name, data)
                elif kind == "done":
                    busy.pop(slot, None)
                    left.discard(name)
                    job = by_name[name]
                    if isinstance(data, str):
                        results = Results.model_validate_json(data)
                        deliver(Done(job, results, worker=f"{os.uname().nodename}/{slot + 1}"))
                    else:
                        verdict, message = data
                        deliver(Done(job, verdict=verdict, error=message))
        except BaseException:
            self._stop(procs, tasks, interrupt=True)
            raise
        self._stop(procs, tasks, interrupt=False)

    def _reap(
        self,
        procs: dict[int, Any],
        busy: dict[int, str],
        left: set[str],
        by_name: dict[str, Job],
        deliver: Deliver,
        start: Any,
    ) -> None:
        """A process that died mid-grading: its job is a failed row; a new process takes over."""
        for slot, p in list(procs.items()):
            if p.is_alive() or p.exitcode is None:
                continue
            name = busy.pop(slot, None)
            if name is not None and name in left:
                left.discard(name)
                deliver(
                    Done(
                        by_name[name],
                        verdict=FAILED,
                        error=f"the grading process died (exit code {p.exitcode}); "
                        "run the batch again to grade it",
                    )
                )
            if left:
                start(slot)

    @staticmethod
    def _stop(procs: dict[int, Any], tasks: Any, *, interrupt: bool) -> None:
        """Stop the processes: after their current job (sentinels), or now (SIGTERM: each
        tears its pod down first)."""
        for _ in procs:
            with contextlib.suppress(Exception):
                tasks.put(None)
        if interrupt:
            for p in procs.values():
                if p.is_alive():
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(p.pid, signal.SIGTERM)
        deadline = time.monotonic() + 60
        for p in procs.values():
            p.join(timeout=max(0.1, deadline - time.monotonic()))
            if p.is_alive():
                p.kill()
                p.join(timeout=5)
        with contextlib.suppress(Exception):
            tasks.cancel_join_thread()
