"""Batches on many hosts: Celery workers on a Redis broker, a results ledger in the same Redis.

``assess worker --broker redis://HOST:PORT/DB --slots N`` runs on each Docker host;
``assess batch ... --broker redis://...`` sends one job per submission (the submission's files
travel inside the job, packed and size-capped) and gathers the results into the same OUT
directory and leaderboard as a local batch.

Delivery is at least once, results exactly once:

- late acknowledgement (a job is acknowledged when its grading has been recorded), a prefetch of
  one (a worker holds no job it is not grading), and a visibility timeout above the longest
  grading: a job whose worker died is given to another worker when it expires;
- the ledger, a Redis hash keyed by ``challenge@version:options:digest``, is written with
  ``HSETNX``: the first grading recorded wins, and a redelivered job whose key is there is
  acknowledged without grading again;
- a worker refuses a job for a challenge version (or content) it does not hold: the row says
  which worker holds what; it is never retried elsewhere by guesswork;
- a job is retried (three times, backing off) only for errors on our side (Docker engine,
  images, Redis), never because of a candidate's verdict.

Everything that travels through the broker is authenticated with HMAC-SHA256 under a key that
every worker and the submitting side hold and the broker never sees (``ASSESS_QUEUE_KEY_FILE``,
a file, or ``ASSESS_QUEUE_KEY``; at least 32 bytes): the submitting side signs each job, a
worker signs each record (results and outcomes) it writes, bound to the job's ledger key so a
genuine record cannot be replayed for another job. A worker drops a job that is not signed; the
submitting side refuses a record that is not signed, and reports it as ``refused`` with the
reason. Someone who can write to Redis can delay or drop a batch, never change a grade.

Redis keys (all under ``assess:``): ``ledger`` (key -> packed results), ``outcomes`` (key -> why a
job has no results: refused, invalid, failed), ``running`` (key -> worker, since), ``gradings``
(key -> gradings finished, recorded or not: how a test sees that a job was graded once),
``worker:<name>`` (a heartbeat with the challenges it holds), ``batch:<id>`` (name -> key) and
``batches`` (ids, newest last).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import io
import json
import os
import socket
import sys
import tarfile
import tempfile
import threading
import time
import uuid
import zlib
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlparse, urlunparse

from celery import Celery

from runner.batch.jobs import (
    FAILED,
    INVALID,
    REFUSED,
    Deliver,
    Done,
    Emit,
    Job,
    challenge_digest,
    files_digest,
)
from runner.batch.pool import max_slots
from runner.batch.slots import grade_job
from runner.challenges.registry import Challenge, Registry
from runner.errors import AssessError, InfraError, SubmissionError, UsageError
from runner.grading.events import GRACE_S, phase_limits
from runner.grading.images import Images
from runner.grading.pipeline import RunOptions, make_plan
from runner.grading.pod import collect_garbage, docker_client
from runner.intake import archives
from runner.intake.submission import MAX_CONTEXT_BYTES, load_submission
from runner.reports.safe_text import safe_text
from runner.results import Results, Verdict

QUEUE = "assess"
TASK = "assess.grade"
LEDGER = "assess:ledger"
OUTCOMES = "assess:outcomes"
RUNNING = "assess:running"
GRADINGS = "assess:gradings"
BATCHES = "assess:batches"
WORKER_TTL_S = 30
MAX_JOB_MB = 16.0
MAX_RETRIES = 3
REDIS_PATIENCE_S = 600.0  # how long a worker or a batch waits for a restarting broker
KEY_ENV = "ASSESS_QUEUE_KEY"
KEY_FILE_ENV = "ASSESS_QUEUE_KEY_FILE"
MIN_KEY_BYTES = 32
SIGNED = b"assess-hmac1:"  # a signed record: SIGNED + hex MAC + b":" + payload

app = Celery("assess", set_as_current=False)
T = TypeVar("T")


def configure(broker: str, visibility_timeout: float = 3600.0) -> Celery:
    check_url(broker)
    app.conf.update(
        broker_url=broker,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        task_default_queue=QUEUE,
        task_serializer="json",
        accept_content=["json"],
        broker_transport_options={
            "visibility_timeout": visibility_timeout,
            # sweep for jobs of dead workers every few seconds, not kombu's ~100 s
            "unacked_restore_interval": max(1.0, min(10.0, visibility_timeout / 4)),
            "unacked_restore_throttle": 1,
        },
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,
        worker_cancel_long_running_tasks_on_connection_loss=False,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        # no remote control (pidbox): whoever can write to the broker could otherwise shut
        # workers down or change their pools; assess never uses it (and the ACL stays small)
        worker_enable_remote_control=False,
    )
    return app


def check_url(broker: str) -> None:
    u = urlparse(broker)
    if u.scheme not in ("redis", "rediss") or not u.hostname:
        raise UsageError(
            f"--broker {redact(broker)!r} must look like redis://[:PASSWORD@]HOST:PORT/DB"
        )


def redact(url: str) -> str:
    u = urlparse(url)
    if u.password is None:
        return url
    host = u.hostname or ""
    netloc = f":***@{host}" + (f":{u.port}" if u.port else "")
    return urlunparse(u._replace(netloc=netloc))


# -- authentication: a key shared by workers and the submitting side, never in the broker -------
class ForgedRecord(Exception):
    """A record or job in the broker that is not signed with the queue key."""


def queue_key() -> bytes:
    """The shared key, from ASSESS_QUEUE_KEY_FILE (a file) or ASSESS_QUEUE_KEY; UsageError
    (exit 2) when neither is set or the key is shorter than MIN_KEY_BYTES."""
    fix = (
        f"give every worker and the submitting side the same secret: {KEY_FILE_ENV}=PATH "
        f"(e.g. `head -c 32 /dev/urandom | base64 > PATH`, mode 600) or {KEY_ENV}"
    )
    path = os.environ.get(KEY_FILE_ENV)
    if path:
        try:
            key = Path(path).read_bytes().strip()
        except OSError as exc:
            raise UsageError(
                f"{KEY_FILE_ENV}={path}: cannot read the queue key ({exc.strerror})"
            ) from None
    else:
        key = os.environ.get(KEY_ENV, "").strip().encode()
    if not key:
        raise UsageError(f"batches through a broker are signed and no queue key is set; {fix}")
    if len(key) < MIN_KEY_BYTES:
        raise UsageError(f"the queue key is {len(key)} bytes, under {MIN_KEY_BYTES}; {fix}")
    return key


def _mac(secret: bytes, kind: str, field: str, payload: bytes) -> bytes:
    msg = b"\0".join((kind.encode(), field.encode(), payload))
    return hmac.new(secret, msg, hashlib.sha256).hexdigest().encode()


def sign(secret: bytes, kind: str, field: str, payload: bytes) -> bytes:
    """``payload`` signed for ``kind`` ("ledger", "outcome") and the ledger key ``field``."""
    return SIGNED + _mac(secret, kind, field, payload) + b":" + payload


def verify(secret: bytes, kind: str, field: str, value: bytes) -> bytes:
    """The payload of a record :func:`sign` wrote; ForgedRecord for anything else."""
    if not value.startswith(SIGNED):
        raise ForgedRecord("not signed")
    mac, sep, payload = value[len(SIGNED) :].partition(b":")
    if not sep or not hmac.compare_digest(mac, _mac(secret, kind, field, payload)):
        raise ForgedRecord("signature does not match the queue key")
    return payload


def sign_job(secret: bytes, payload: dict[str, Any]) -> dict[str, Any]:
    body = json.dumps(payload, sort_keys=True).encode()
    return {**payload, "mac": _mac(secret, "job", str(payload["key"]), body).decode()}


def verify_job(secret: bytes, job: dict[str, Any]) -> None:
    payload = {k: v for k, v in job.items() if k != "mac"}
    body = json.dumps(payload, sort_keys=True).encode()
    mac = str(job.get("mac", "")).encode()
    if not hmac.compare_digest(mac, _mac(secret, "job", str(job.get("key", "")), body)):
        raise ForgedRecord("job not signed with the queue key")


def refused_record(why: str) -> str:
    return (
        f"the record in the broker for this job is {why}: refused (forged, or written by a "
        "worker with another queue key); secure the broker (docs/batches.md) and run again "
        "with --force"
    )


def redis_client(broker: str) -> Any:
    import redis  # only the broker's side needs it (here and below): not the local batches

    return redis.Redis.from_url(
        broker, socket_timeout=15, socket_connect_timeout=5, health_check_interval=15
    )


def patiently(fn: Callable[[], T], patience_s: float = REDIS_PATIENCE_S) -> T:
    """``fn()``, retried while Redis is unreachable (a restarting broker loses nothing with
    append-only persistence; a worker or a batch waits for it instead of failing)."""
    import redis

    deadline = time.monotonic() + patience_s
    while True:
        try:
            return fn()
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            if time.monotonic() > deadline:
                raise InfraError(f"the broker is unreachable: {exc}") from None
            time.sleep(1.0)


# -- what travels -------------------------------------------------------------------------------
def pack_files(root: Path, files: tuple[Path, ...] | list[Path]) -> bytes:
    """The submission's files as tar.gz (symlinks as links, owners and times cleared)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", compresslevel=6) as tar:
        for rel in sorted(files, key=lambda p: p.as_posix()):
            info = tar.gettarinfo(str(root / rel), arcname=rel.as_posix())
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mtime = 0
            if info.isfile():
                with open(root / rel, "rb") as fh:
                    tar.addfile(info, fh)
            else:
                tar.addfile(info)
    return buf.getvalue()


def unpack_files(data: bytes, dest: Path, max_bytes: int) -> None:
    """Unpack a job's files into ``dest`` (an empty folder, or none yet) through the submission
    extractor (runner.intake.archives): never through a link, links only inside, no hard links or
    devices, every cap. tarfile's own ``data`` filter is not enough: on Python before 3.11.13
    it can be walked out of with chained links (CVE-2025-4517), and the files are the
    candidate's."""
    if dest.is_dir() and not any(dest.iterdir()):
        dest.rmdir()
    with tempfile.TemporaryDirectory(prefix="assess-job-tar-") as tmp:
        packed = Path(tmp) / "job.tar.gz"
        packed.write_bytes(data)
        try:
            archives.extract(packed, dest, max_bytes=max_bytes)
        except SubmissionError as err:
            why = err.message.split(": ", 1)[-1]
            raise SubmissionError(f"the job's files cannot be unpacked: {why}") from None


def pack_results(results: Results, worker: str, secret: bytes, key: str) -> bytes:
    """The ledger record of ``key``: compressed results, signed."""
    doc = {"worker": worker, "results": results.model_dump(mode="json")}
    return sign(secret, "ledger", key, zlib.compress(json.dumps(doc).encode(), 6))


def unpack_results(value: bytes, secret: bytes, key: str) -> tuple[Results, str]:
    """Results and worker of a signed ledger record; ForgedRecord when it is not signed."""
    payload = verify(secret, "ledger", key, value)
    doc = json.loads(zlib.decompress(payload, bufsize=1 << 16))
    return Results.model_validate(doc["results"]), str(doc["worker"])


def grading_bound_s(challenge: Challenge) -> float:
    """The longest one grading of ``challenge`` may take: its build limit, then every phase's
    wall-time limit with the host's grace (as ``grade`` enforces them), load included."""
    plan = make_plan(challenge, RunOptions(skip_load=False), "http://127.0.0.1:8080", "", "", ())
    limits = phase_limits(challenge, plan)
    return challenge.config.limits.build_s + sum(limits.values()) + GRACE_S * len(limits)


# -- the worker's side ----------------------------------------------------------------------------
_client: Any = None


def _docker() -> Any:
    global _client
    if _client is None:
        _client = docker_client()
    return _client


def _held(job: dict[str, Any]) -> tuple[Challenge | None, str]:
    """The challenge a job needs, if this worker holds that version and content; else why not."""
    want = f"{job['challenge']} {job['challenge_version']}"
    try:
        ch = Registry().get(str(job["challenge"]))
    except AssessError:
        return None, f"worker {worker_name()} does not hold challenge {job['challenge']!r}"
    if ch.config.version != job["challenge_version"]:
        return None, (
            f"worker {worker_name()} holds {ch.id} {ch.config.version}, the job needs {want}: "
            "update the worker's challenges (or grade with the version it holds)"
        )
    if challenge_digest(ch) != job["challenge_digest"]:
        return None, (
            f"worker {worker_name()} holds {want} with different files: bump the challenge's "
            "version when its checks change, and give every worker the same files"
        )
    return ch, ""


def default_worker_name() -> str:
    """HOST-PID: two workers on one host never share a name (their heartbeats and records)."""
    return f"{socket.gethostname()}-{os.getpid()}"


def worker_name() -> str:
    # run_worker sets the variable before Celery forks, so grading processes share the name
    return os.environ.get("ASSESS_WORKER_NAME") or default_worker_name()


def job_log(what: str, name: object, detail: str = "") -> None:
    """One line per job in the worker's log: the submission by name, never a Celery task id."""
    tail = f": {detail}" if detail else ""
    print(f"assess worker {worker_name()}: {what} {safe_text(str(name))[:120]}{tail}", flush=True)


def quiet_root_warning() -> bool:
    """ASSESS_WORKER_AS_ROOT=1: the operator chose to run workers as root (docs/batches.md),
    so Celery's superuser warning (meant for pickle, which assess never accepts) is hidden."""
    if os.environ.get("ASSESS_WORKER_AS_ROOT") != "1":
        return False
    import warnings

    warnings.filterwarnings("ignore", message=".*superuser privileges.*")
    return True


def _outcome(r: Any, key: str, verdict: str, message: str) -> None:
    doc = json.dumps({"verdict": verdict, "error": message, "worker": worker_name()})
    signed = sign(queue_key(), "outcome", key, doc.encode())
    patiently(lambda: r.hsetnx(OUTCOMES, key, signed))


def read_outcome(value: bytes, secret: bytes, key: str) -> dict[str, Any]:
    doc = json.loads(verify(secret, "outcome", key, value))
    return {k: str(doc.get(k, "")) for k in ("verdict", "error", "worker")}


@app.task(  # type: ignore[untyped-decorator]
    name=TASK, bind=True, max_retries=MAX_RETRIES, acks_late=True, reject_on_worker_lost=True
)
def grade_task(self: Any, job: dict[str, Any]) -> str:
    """Grade one job and record it once; see the module docstring for the guarantees."""
    r = redis_client(str(app.conf.broker_url))
    secret = queue_key()
    try:
        verify_job(secret, job)
    except ForgedRecord:
        # not from a holder of the key: nothing is graded or recorded for it
        job_log("dropped a job not signed with the queue key, key", job.get("key"))
        return "forged job dropped"
    key = str(job["key"])
    if patiently(lambda: r.hexists(LEDGER, key) or r.hexists(OUTCOMES, key)):
        return "recorded before"  # a redelivery after the grading was recorded: ack, no regrade
    challenge, why = _held(job)
    if challenge is None:
        _outcome(r, key, REFUSED, why)
        job_log("refused", job["name"], why)
        return "refused"
    me = json.dumps(
        {"worker": worker_name(), "name": job["name"], "since": time.time(), "pid": os.getpid()}
    )
    patiently(lambda: r.hset(RUNNING, key, me))
    try:
        with tempfile.TemporaryDirectory(prefix="assess-job-") as tmp:
            root = Path(tmp) / "submission"
            root.mkdir()
            unpack_files(base64.b64decode(job["archive"]), root, MAX_CONTEXT_BYTES)

            sub = load_submission(root)
            if files_digest(sub.root, sub.files) != job["digest"]:
                raise SubmissionError("the job's files do not match its digest (corrupted)")
            results = grade_job(_docker(), challenge, root, dict(job["options"]), lambda ev: None)
    except SubmissionError as err:
        _outcome(r, key, INVALID, err.message)
        job_log("invalid", job["name"], err.message)
        return "invalid"
    except (InfraError, OSError) as exc:
        message = exc.message if isinstance(exc, AssessError) else f"{type(exc).__name__}: {exc}"
        if self.request.retries < MAX_RETRIES:
            raise self.retry(exc=exc, countdown=5 * (self.request.retries + 1)) from None
        _outcome(r, key, FAILED, f"{message} (after {MAX_RETRIES} retries)")
        job_log("failed (our side)", job["name"], message)
        return "failed"
    finally:
        with contextlib.suppress(Exception):
            patiently(lambda: r.hget(RUNNING, key) == me.encode() and r.hdel(RUNNING, key), 30)
    patiently(lambda: r.hincrby(GRADINGS, key, 1))
    record = pack_results(results, worker_name(), secret, key)
    recorded = patiently(lambda: r.hsetnx(LEDGER, key, record))
    verdict = "" if results.verdict == Verdict.GRADED else f" ({results.verdict.value})"
    job_log("graded", job["name"], f"{results.score:.1f}{verdict}")
    return "recorded" if recorded else "graded twice; the first record stands"


def _heartbeat(broker: str, slots: int, stop: threading.Event) -> None:
    r = redis_client(broker)
    held = {ch.id: ch.config.version for ch in Registry().all()}
    doc = json.dumps(
        {"name": worker_name(), "slots": slots, "challenges": held, "pid": os.getpid()}
    )
    while not stop.is_set():
        with contextlib.suppress(Exception):
            r.set(f"assess:worker:{worker_name()}", doc, ex=WORKER_TTL_S)
        stop.wait(10)


def run_worker(
    console: Any, *, broker: str, slots: int, name: str | None, visibility_timeout: float | None
) -> None:
    """A Celery worker with ``slots`` grading processes (bounded by this host's cores and
    memory), after the images are built and leftovers of killed gradings removed."""
    check_url(broker)
    queue_key()  # refuse to start without the shared key (exit 2), not at the first job
    if slots < 1:
        raise UsageError(f"--slots must be at least 1, not {slots}")
    os.environ["ASSESS_WORKER_NAME"] = (
        name or os.environ.get("ASSESS_WORKER_NAME") or (default_worker_name())
    )
    challenges = Registry().all()
    if not challenges:
        raise UsageError("this worker holds no challenge (see ASSESS_CHALLENGES)")
    bound = min(max_slots(ch)[0] for ch in challenges)
    if slots > bound:
        console.print(
            f"[yellow]--slots {slots} lowered to {bound} (this host's cores and memory)[/]"
        )
        slots = bound
    longest = max(grading_bound_s(ch) for ch in challenges)
    vt = visibility_timeout or 2 * longest
    if vt <= longest:
        console.print(
            f"[yellow]visibility timeout {vt:g} s is not above the longest grading "
            f"({longest:g} s): a slow grading may be given to a second worker (recorded once)[/]"
        )
    client = docker_client()
    collect_garbage(client)
    with console.status("building images…"):
        Images(client).ensure_all()
    configure(broker, vt)
    if hasattr(os, "geteuid") and os.geteuid() == 0 and not quiet_root_warning():
        console.print(
            "[yellow]running as root: Celery warns below; a worker needs only the Docker "
            "socket (run it as a user in the docker group), or set ASSESS_WORKER_AS_ROOT=1 "
            "to hide the warning (docs/batches.md)[/]"
        )
    stop = threading.Event()
    threading.Thread(target=_heartbeat, args=(broker, slots, stop), daemon=True).start()
    held = ", ".join(f"{c.id} {c.config.version}" for c in challenges)
    console.print(
        f"worker {worker_name()}: {slots} slot(s), broker {redact(broker)}, "
        f"visibility timeout {vt:g} s; holds {held}",
        highlight=False,
    )
    try:
        app.worker_main(
            [
                "worker",
                f"--concurrency={slots}",
                "--pool=prefork",
                f"--hostname={worker_name()}@{socket.gethostname()}",
                # Celery's per-task lines name task ids; job_log names each submission
                "--loglevel=WARNING",
                f"--queues={QUEUE}",
                "--without-gossip",
                "--without-mingle",
            ]
        )
    finally:
        stop.set()


# -- the batch's side -----------------------------------------------------------------------------
def _stderr_line(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def live_workers(r: Any) -> list[str]:
    """Names of the workers whose heartbeat (refreshed every 10 s) has not expired."""
    return [k.decode().split(":", 2)[2] for k in r.scan_iter("assess:worker:*")]


class WorkerWatch:
    """Says at once, and again every ``repeat_s``, that no worker is alive while jobs wait;
    says when one comes back."""

    def __init__(self, broker: str, warn: Callable[[str], None], repeat_s: float = 30.0) -> None:
        self.broker = redact(broker)
        self.warn = warn
        self.repeat_s = repeat_s
        self.last: float | None = None  # when "no worker" was last said

    def check(self, r: Any, waiting: int) -> None:
        if live_workers(r):
            if self.last is not None:
                self.warn("a worker is alive again: the batch goes on")
            self.last = None
            return
        now = time.monotonic()
        if self.last is None or now - self.last >= self.repeat_s:
            self.warn(
                f"no worker alive on {self.broker}: {waiting} job(s) wait "
                f"(start one: assess worker --broker URL; see assess batch --status)"
            )
            self.last = now


# -- the batch's side: jobs -------------------------------------------------------------------
class QueueExecutor:
    """Send each job to the workers; deliver each result as the ledger records it."""

    def __init__(
        self,
        broker: str,
        challenge: Challenge,
        options: dict[str, Any],
        out: Path,
        *,
        max_job_mb: float | None = None,
        force: bool = False,
        poll_s: float = 0.5,
        warn: Callable[[str], None] | None = None,
    ) -> None:
        check_url(broker)
        self.warn = warn or _stderr_line
        self.secret = queue_key()
        self.broker = broker
        self.challenge = challenge
        self.options = options
        self.out = out
        self.max_bytes = int((max_job_mb or MAX_JOB_MB) * (1 << 20))
        self.poll_s = poll_s
        self.force = force
        self.slots = 1
        self.batch_id = uuid.uuid4().hex[:12]
        self.challenge_digest = challenge_digest(challenge)

    def _count_slots(self, r: Any) -> int:
        total = 0
        for k in r.scan_iter("assess:worker:*"):
            with contextlib.suppress(Exception):
                total += int(json.loads(r.get(k) or "{}").get("slots", 0))
        return max(1, total)

    def run(self, jobs: list[Job], emit: Emit, deliver: Deliver) -> None:

        r = redis_client(self.broker)
        configure(self.broker)
        self.slots = patiently(lambda: self._count_slots(r))
        patiently(lambda: r.rpush(BATCHES, self.batch_id))
        if jobs:
            mapping = {j.name: j.key for j in jobs}
            patiently(lambda: r.hset(f"assess:batch:{self.batch_id}", mapping=mapping))
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / "batch.json").write_text(
            json.dumps(
                {
                    "batch": self.batch_id,
                    "broker": redact(self.broker),
                    "keys": {j.name: j.key for j in jobs},
                },
                indent=1,
            )
            + "\n",
            encoding="utf-8",
        )
        pending: dict[str, list[Job]] = {}  # key -> the jobs it answers (copies share one)
        for job in jobs:
            if job.key in pending:
                pending[job.key].append(job)
            elif self._send(r, job, deliver):
                pending[job.key] = [job]
        self._gather(r, pending, emit, deliver)

    def _send(self, r: Any, job: Job, deliver: Deliver) -> bool:
        """Enqueue one job (unless the ledger has it already); False when it is not sent."""
        if self.force:
            patiently(partial(r.hdel, LEDGER, job.key))
            patiently(partial(r.hdel, OUTCOMES, job.key))
        elif patiently(partial(r.hexists, LEDGER, job.key)):
            return True  # graded for another batch: gathered, not sent again
        sub = load_submission(job.path)
        archive = pack_files(sub.root, sub.files)
        if len(archive) > self.max_bytes:
            deliver(
                Done(
                    job,
                    verdict=INVALID,
                    error=f"too large for the queue: {len(archive) / (1 << 20):.1f} MiB packed, "
                    f"over {self.max_bytes / (1 << 20):g} MiB (--max-job-mb)",
                )
            )
            return False
        payload = {
            "key": job.key,
            "name": job.name,
            "digest": job.digest,
            "challenge": self.challenge.id,
            "challenge_version": self.challenge.config.version,
            "challenge_digest": self.challenge_digest,
            "options": self.options,
            "batch": self.batch_id,
            "archive": base64.b64encode(archive).decode(),
        }
        signed = sign_job(self.secret, payload)
        patiently(partial(app.send_task, TASK, args=[signed], queue=QUEUE))
        return True

    def _record(self, key: str, job: Job, value: bytes | None, outcome: bytes | None) -> Done:
        """The Done for a job from its ledger record or outcome, refused when not signed."""
        try:
            if value is not None:
                results, worker = unpack_results(value, self.secret, key)
                return Done(job, results, worker=worker)
            assert outcome is not None
            o = read_outcome(outcome, self.secret, key)
            return Done(job, verdict=o["verdict"], error=o["error"], worker=o["worker"])
        except ForgedRecord as exc:
            return Done(job, verdict=REFUSED, error=refused_record(str(exc)), worker="?")
        except (ValueError, KeyError, TypeError, zlib.error) as exc:
            # signed but unreadable: a worker of another assess version
            why = f"signed but unreadable ({type(exc).__name__})"
            return Done(job, verdict=REFUSED, error=refused_record(why), worker="?")

    def _gather(self, r: Any, pending: dict[str, list[Job]], emit: Emit, deliver: Deliver) -> None:
        """Poll the ledger until every key is answered; follow which worker runs what."""
        import redis

        # graded before (for another batch): delivered at once, never shown running with an ETA
        keys = list(pending)
        for key, value in zip(keys, patiently(lambda: r.hmget(LEDGER, keys)), strict=True):
            if value is not None:
                for job in pending.pop(key):
                    done = self._record(key, job, value, None)
                    done.reused = done.results is not None
                    deliver(done)
        for key_jobs in pending.values():
            for job in key_jobs:
                emit("start", job.name, {"worker": "queue", "queued": True})
        where: dict[str, str] = {}
        alone = WorkerWatch(self.broker, self.warn)
        while pending:
            with contextlib.suppress(redis.RedisError):
                alone.check(r, sum(len(j) for j in pending.values()))
            keys = list(pending)
            try:
                done = r.hmget(LEDGER, keys)
                outcomes = r.hmget(OUTCOMES, keys)
                running = r.hgetall(RUNNING)
            except redis.RedisError:  # a restarting broker: wait for it
                patiently(r.ping)
                continue
            for key, value, outcome in zip(keys, done, outcomes, strict=True):
                if value is None and outcome is None:
                    continue
                for job in pending.pop(key):
                    deliver(self._record(key, job, value, outcome))
            for raw_key, raw in running.items():
                key = raw_key.decode()
                info = json.loads(raw)
                if key in pending and where.get(key) != info["worker"]:
                    where[key] = info["worker"]
                    for job in pending[key]:
                        emit("start", job.name, {"worker": info["worker"]})
            if pending:
                time.sleep(self.poll_s)


# -- status ---------------------------------------------------------------------------------------
def status(broker: str, out: Path | None) -> dict[str, Any]:
    """Queued, running (on which worker; stale when the worker's heartbeat is gone), done and
    failed, for the batch in ``out`` (else the newest batch sent to this broker)."""
    r = redis_client(broker)
    batch_id = None
    if out is not None:
        with contextlib.suppress(OSError, ValueError):
            batch_id = json.loads((out / "batch.json").read_text(encoding="utf-8"))["batch"]
    if batch_id is None:
        last = patiently(lambda: r.lrange(BATCHES, -1, -1), 10)
        batch_id = last[0].decode() if last else None
    workers = {}
    for k in r.scan_iter("assess:worker:*"):
        with contextlib.suppress(Exception):
            w = json.loads(r.get(k) or "{}")
            workers[w["name"]] = w
    state: dict[str, Any] = {
        "broker": redact(broker),
        "queued": int(r.llen(QUEUE)),
        "unacked": int(r.hlen("unacked")),
        "workers": sorted(workers.values(), key=lambda w: w["name"]),
        "batch": batch_id,
        "running": [],
        "done": [],
        "failed": [],
        "waiting": [],
    }
    if batch_id is None:
        return state
    members = {k.decode(): v.decode() for k, v in r.hgetall(f"assess:batch:{batch_id}").items()}
    running = {k.decode(): json.loads(v) for k, v in r.hgetall(RUNNING).items()}
    for name, key in sorted(members.items()):
        if r.hexists(LEDGER, key):
            state["done"].append(name)
        elif (o := r.hget(OUTCOMES, key)) is not None:
            try:
                doc = read_outcome(o, queue_key(), key)
            except (ForgedRecord, ValueError):
                doc = {"verdict": REFUSED, "error": refused_record("not signed"), "worker": "?"}
            state["failed"].append({"name": name, **doc})
        elif key in running:
            info = running[key]
            state["running"].append(
                {
                    "name": name,
                    "worker": info["worker"],
                    "for_s": round(time.time() - info["since"]),
                    "stale": info["worker"] not in workers,
                }
            )
        else:
            state["waiting"].append(name)
    return state


def status_lines(state: dict[str, Any]) -> list[str]:
    lines = [
        f"broker {state['broker']}: {state['queued']} job(s) queued, "
        f"{state['unacked']} delivered and not yet acknowledged",
    ]
    for w in state["workers"]:
        held = ", ".join(f"{k} {v}" for k, v in w.get("challenges", {}).items())
        lines.append(f"worker {w['name']}: {w.get('slots', '?')} slot(s); holds {held}")
    if not state["workers"]:
        lines.append("no worker alive (start one: assess worker --broker URL)")
    if state["batch"] is None:
        lines.append("no batch sent to this broker yet")
        return lines
    total = sum(len(state[k]) for k in ("done", "failed", "running", "waiting"))
    lines.append(
        f"batch {state['batch']}: {len(state['done'])}/{total} done, {len(state['failed'])} failed, "
        f"{len(state['running'])} running, {len(state['waiting'])} queued"
    )
    for run in state["running"]:
        stale = " (worker gone: redelivered after the visibility timeout)" if run["stale"] else ""
        lines.append(f"  running {run['name']} on {run['worker']} for {run['for_s']} s{stale}")
    for f in state["failed"]:
        lines.append(f"  {f['verdict']} {f['name']} ({f['worker']}): {f['error']}")
    return lines
