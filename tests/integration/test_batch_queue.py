"""Batches on Celery workers through a real Redis: two real worker processes on this machine.

A batch completes; a worker SIGKILLed mid-grading has its job redelivered and graded once; the
broker restarting mid-batch loses nothing; a worker holding another version of the challenge
refuses. Debian's ``redis-server`` runs on 127.0.0.1 at a free port with append-only persistence
(scripts/test installs it). Gradings use the tiny fixture challenge with --skip-load.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from runner.challenges.registry import load_challenge
from runner.challenges.solutions import load_solution
from tests.conftest import ROOT, TINY

REDIS = shutil.which("redis-server")
pytestmark = [
    pytest.mark.docker,
    pytest.mark.serial,
    pytest.mark.skipif(
        REDIS is None, reason="redis-server is missing (apt-get install redis-server)"
    ),
]
ASSESS = [sys.executable, "-m", "runner.cli"]
QUEUE_KEY = "integration-test-queue-key-0123456789abcdef"  # workers and batches share it
VISIBILITY_S = 30  # above the longest grading here (a busy machine included), as in production


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        assert REDIS is not None
        self.proc = subprocess.Popen(
            [
                REDIS,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.dir),
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--save",
                "",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                self.client().ping()
                return
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)

    def client(self) -> Any:
        import redis

        return redis.Redis(port=self.port, socket_connect_timeout=2, socket_timeout=5)


@pytest.fixture(autouse=True)
def queue_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every process started here (workers, batches: their env copies os.environ) holds it."""
    monkeypatch.delenv("ASSESS_QUEUE_KEY_FILE", raising=False)
    monkeypatch.setenv("ASSESS_QUEUE_KEY", QUEUE_KEY)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[RedisServer]:
    d = tmp_path / "redis"
    d.mkdir()
    server = RedisServer(d)
    server.start()
    yield server
    server.stop()


Workers = Callable[..., subprocess.Popen[bytes]]


@pytest.fixture
def workers(broker: RedisServer, tmp_path: Path) -> Iterator[Workers]:
    started: list[subprocess.Popen[bytes]] = []

    def start(name: str, challenges: Path = TINY.parent) -> subprocess.Popen[bytes]:
        env = {**os.environ, "ASSESS_CHALLENGES": str(challenges), "PYTHONPATH": str(ROOT)}
        with open(tmp_path / f"{name}.log", "wb") as log:
            proc = subprocess.Popen(
                [
                    *ASSESS,
                    "worker",
                    "--broker",
                    broker.url,
                    "--slots",
                    "1",
                    "--name",
                    name,
                    "--visibility-timeout",
                    str(VISIBILITY_S),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=ROOT,
                start_new_session=True,  # its own process group: SIGKILL takes its pool with it
            )
        started.append(proc)
        deadline = time.monotonic() + 60
        while not broker.client().exists(f"assess:worker:{name}"):
            assert proc.poll() is None, (tmp_path / f"{name}.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "the worker did not come up"
            time.sleep(0.2)
        time.sleep(1.0)  # its consumer is registered just after the heartbeat
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    for proc in started:
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
    from runner.grading.pod import collect_garbage, docker_client

    collect_garbage(docker_client())  # pods of a SIGKILLed worker's grading process


def submissions(root: Path, n: int, *, ready_delay_s: float = 0.0) -> list[Path]:
    """``n`` distinct submissions of the tiny challenge (the reference, each a little
    different); with ``ready_delay_s`` each waits that long before listening."""
    ch = load_challenge(TINY)
    out = []
    for i in range(n):
        d = load_solution(ch, "reference").materialize(root / "tmp" / str(i))
        d = d.rename(root / f"cand{i}")
        app = d / "app.py"
        text = app.read_text() + f"\n# candidate {i}\n"
        if ready_delay_s:
            text = f"import time\ntime.sleep({ready_delay_s})\n" + text
        app.write_text(text)
        out.append(d)
    return out


def run_batch(
    broker: RedisServer, subs: list[Path], out: Path, challenge: Path = TINY
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            *ASSESS,
            "batch",
            str(challenge),
            *map(str, subs),
            "--out",
            str(out),
            "--skip-load",
            "--broker",
            broker.url,
            "--no-similarity",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=False,
    )


def board(out: Path) -> dict[str, dict[str, Any]]:
    rows = json.loads((out / "leaderboard.json").read_text())["rows"]
    return {r["name"]: r for r in rows}


def test_a_batch_completes_on_two_workers(
    broker: RedisServer, workers: Workers, tmp_path: Path
) -> None:
    workers("w1")
    workers("w2")
    subs = submissions(tmp_path / "subs", 4)
    proc = run_batch(broker, subs, tmp_path / "out")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = board(tmp_path / "out")
    assert sorted(rows) == [f"cand{i}" for i in range(4)]
    assert {r["verdict"] for r in rows.values()} == {"graded"}
    assert {r["score"] for r in rows.values()} == {100.0}
    assert {r["worker"] for r in rows.values()} <= {"w1", "w2"}
    for name in rows:
        assert (tmp_path / "out" / name / "report.html").is_file()
    gradings = broker.client().hgetall("assess:gradings")
    assert sorted(int(v) for v in gradings.values()) == [1, 1, 1, 1]
    status = subprocess.run(
        [*ASSESS, "batch", "--status", "--broker", broker.url, "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=False,
    )
    assert "4/4 done, 0 failed" in status.stdout, status.stdout + status.stderr
    assert "worker w1" in status.stdout
    assert "graded cand" in (tmp_path / "w1.log").read_text() + (tmp_path / "w2.log").read_text()
    # the same submissions into a new OUT: every result comes from the ledger, none "runs"
    again = run_batch(broker, subs, tmp_path / "again")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "running: cand" not in again.stdout, again.stdout
    assert "4/4 done (4 already graded)" in again.stdout, again.stdout
    progress = json.loads((tmp_path / "again" / "progress.json").read_text())
    assert progress["skipped"] == 4
    assert progress["eta_s"] is None
    assert sorted(int(v) for v in broker.client().hgetall("assess:gradings").values()) == [1] * 4


def wait_running(broker: RedisServer, worker: str, timeout_s: float = 90) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for key, raw in broker.client().hgetall("assess:running").items():
            if json.loads(raw)["worker"] == worker:
                return str(key.decode())
        time.sleep(0.1)
    raise AssertionError(f"no job ran on {worker}")


def test_a_killed_worker_has_its_job_redelivered_and_graded_once(
    broker: RedisServer, workers: Workers, tmp_path: Path
) -> None:
    w1 = workers("w1")
    (sub,) = submissions(tmp_path / "subs", 1, ready_delay_s=4)
    result: dict[str, Any] = {}
    batch = threading.Thread(
        target=lambda: result.update(proc=run_batch(broker, [sub], tmp_path / "out"))
    )
    batch.start()
    key = wait_running(broker, "w1")
    time.sleep(1.0)  # mid-grading: the service is still sleeping before it listens
    os.killpg(w1.pid, signal.SIGKILL)
    w1.wait(10)
    from runner.grading.pod import collect_garbage, docker_client

    collect_garbage(docker_client())  # w1's pod, now of a dead process (other tests' no_leaks)
    workers("w2")
    batch.join(240)
    proc = result["proc"]
    assert proc.returncode == 0, proc.stdout + proc.stderr
    row = board(tmp_path / "out")["cand0"]
    assert row["verdict"] == "graded"
    assert row["score"] == 100.0
    assert row["worker"] == "w2"
    r = broker.client()
    assert int(r.hget("assess:gradings", key)) == 1  # w1 never finished; w2 graded it once
    assert r.hlen("assess:ledger") == 1


def test_the_broker_restarting_mid_batch_loses_nothing(
    broker: RedisServer, workers: Workers, tmp_path: Path
) -> None:
    workers("w1")
    workers("w2")
    subs = submissions(tmp_path / "subs", 4, ready_delay_s=2)
    result: dict[str, Any] = {}
    batch = threading.Thread(
        target=lambda: result.update(proc=run_batch(broker, subs, tmp_path / "out"))
    )
    batch.start()
    wait_running(broker, "w1")
    broker.stop()  # append-only file: queued, unacknowledged and recorded survive
    time.sleep(2.0)
    broker.start()
    batch.join(280)
    proc = result["proc"]
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = board(tmp_path / "out")
    assert sorted(rows) == [f"cand{i}" for i in range(4)]
    assert {r["verdict"] for r in rows.values()} == {"graded"}
    assert broker.client().hlen("assess:ledger") == 4  # each recorded once


def test_a_worker_of_another_version_refuses(
    broker: RedisServer, workers: Workers, tmp_path: Path
) -> None:
    other = tmp_path / "challenges"
    shutil.copytree(TINY, other / "tiny", ignore=shutil.ignore_patterns("solutions"))
    toml = other / "tiny" / "challenge.toml"
    toml.write_text(toml.read_text().replace('version = "0.1.0"', 'version = "0.2.0"'))
    workers("old", challenges=other)
    subs = submissions(tmp_path / "subs", 1)
    proc = run_batch(broker, subs, tmp_path / "out")
    assert proc.returncode == 3, proc.stdout + proc.stderr
    row = board(tmp_path / "out")["cand0"]
    assert row["verdict"] == "refused"
    assert "worker old holds tiny 0.2.0, the job needs tiny 0.1.0" in row["error"]
    html = (tmp_path / "out" / "leaderboard.html").read_text()
    assert "holds tiny 0.2.0" in html


def test_a_forged_result_written_into_redis_is_refused(broker: RedisServer, tmp_path: Path) -> None:
    """Someone with write access to the broker records 100 points for two jobs before any
    worker could: one record unsigned, one signed with another key. Both are refused."""
    from runner.batch.celery_queue import pack_results, sign
    from tests.unit.conftest import make_sample_results

    subs = submissions(tmp_path / "subs", 2)
    result: dict[str, Any] = {}
    batch = threading.Thread(  # no worker: nothing genuine is ever recorded
        target=lambda: result.update(proc=run_batch(broker, subs, tmp_path / "out"))
    )
    batch.start()
    r = broker.client()
    deadline = time.monotonic() + 120
    members: dict[bytes, bytes] = {}
    while len(members) < 2:
        assert time.monotonic() < deadline, "the batch did not register its jobs"
        for k in r.scan_iter("assess:batch:*"):
            members = r.hgetall(k)
        time.sleep(0.2)
    keys = {name.decode(): key.decode() for name, key in members.items()}
    perfect = make_sample_results().model_copy(update={"score": 100.0})
    unsigned = pack_results(perfect, "evil", b"x" * 32, keys["cand0"]).split(b":", 2)[2]
    r.hset("assess:ledger", keys["cand0"], unsigned)
    r.hset("assess:ledger", keys["cand1"], pack_results(perfect, "evil", b"y" * 32, keys["cand1"]))
    # and an outcome, signed with another key
    r.hset("assess:outcomes", "unrelated", sign(b"y" * 32, "outcome", "unrelated", b"{}"))
    batch.join(120)
    proc = result["proc"]
    assert proc.returncode == 3, proc.stdout + proc.stderr
    rows = board(tmp_path / "out")
    for name in ("cand0", "cand1"):
        assert rows[name]["verdict"] == "refused", rows[name]
        assert rows[name]["score"] in (None, 0)
        assert "not signed" in rows[name]["error"] or "does not match" in rows[name]["error"]
    assert "refused (forged" in rows["cand1"]["error"]


def test_a_job_not_signed_with_the_queue_key_is_dropped(
    broker: RedisServer, workers: Workers, tmp_path: Path
) -> None:
    """A job pushed into the broker by someone without the key is never graded or recorded."""
    from runner.batch.celery_queue import QUEUE, TASK, configure, sign_job

    workers("w1")
    app = configure(broker.url)
    job = {"key": "forged-key", "name": "x", "digest": "d", "archive": "", "options": {}}
    app.send_task(TASK, args=[job], queue=QUEUE)  # unsigned
    app.send_task(TASK, args=[sign_job(b"z" * 32, {**job, "key": "other-key"})], queue=QUEUE)
    r = broker.client()
    deadline = time.monotonic() + 60
    log = tmp_path / "w1.log"
    while log.read_text().count("dropped a job not signed") < 2:
        assert time.monotonic() < deadline, log.read_text()[-3000:]
        time.sleep(0.2)
    assert not r.hlen("assess:ledger")
    assert not r.hlen("assess:outcomes")
    assert not r.hlen("assess:gradings")


def test_no_live_worker_is_said_at_once_and_again(broker: RedisServer, tmp_path: Path) -> None:
    """A brokered batch with no worker says so within seconds on stderr (and --status does);
    it keeps saying it while the jobs wait."""
    from runner.batch.celery_queue import WorkerWatch

    subs = submissions(tmp_path / "subs", 1)
    cmd = [*ASSESS, "batch", str(TINY), str(subs[0]), "--out", str(tmp_path / "out")]
    cmd += ["--skip-load", "--broker", broker.url, "--no-similarity"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    try:
        started = time.monotonic()
        assert proc.stderr is not None
        line = proc.stderr.readline()  # blocks until the batch says something
        while line and "no worker alive" not in line:
            line = proc.stderr.readline()
        assert "no worker alive on redis://" in line, line
        assert "1 job(s) wait" in line
        assert time.monotonic() - started < 20
        status = subprocess.run(
            [*ASSESS, "batch", "--status", "--broker", broker.url, "--out", str(tmp_path / "out")],
            capture_output=True, text=True, timeout=60, cwd=ROOT, env=env, check=False,
        )  # fmt: skip
        assert "no worker alive" in status.stdout, status.stdout + status.stderr
        assert "0 running, 1 queued" in status.stdout, status.stdout
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)
    said: list[str] = []
    watch = WorkerWatch(broker.url, said.append, repeat_s=0.0)
    watch.check(broker.client(), 1)
    watch.check(broker.client(), 1)
    assert len(said) == 2  # said again (every 30 s in a batch)
    broker.client().set("assess:worker:w9", "{}", ex=5)
    watch.check(broker.client(), 1)
    assert said[-1] == "a worker is alive again: the batch goes on"
