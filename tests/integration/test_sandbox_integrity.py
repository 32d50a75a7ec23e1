"""Grade integrity on the real engine: the candidate never runs as uid 0, listeners are
attributed to the container owning the socket, and an OOM-killed child is counted."""

from __future__ import annotations

import contextlib
import io
import tarfile
import time
from collections.abc import Iterator
from typing import Any

import pytest

from runner.grading.images import BASE_TAG, LABEL_MANAGED, PYTHON_TAG
from runner.grading.pod import Limits, OomCounter, Pod, Problem

pytestmark = pytest.mark.docker

USERS = {
    "root-root": "USER root:root",
    "zero-zero": "USER 0:0",
    "zero-1000": "USER 0:1000",
    "toor": "RUN echo 'toor:x:0:0::/root:/bin/sh' >> /etc/passwd\nUSER toor",
    "group-root-member": (
        "RUN echo 'bob:x:1000:1000::/:/bin/sh' >> /etc/passwd && sed -i 's/^root:x:0:$/root:x:0:bob/'"
        " /etc/group\nUSER bob"
    ),
}


def _context(dockerfile: str) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        data = dockerfile.encode()
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.fixture(scope="module")
def user_images(client: Any) -> Iterator[dict[str, str]]:
    images = {}
    try:
        for name, lines in USERS.items():
            image, _ = client.images.build(
                fileobj=io.BytesIO(_context(f"FROM {BASE_TAG}\n{lines}\n")),
                custom_context=True,
                tag=f"assess-test/user-{name}:latest",
                rm=True,
                forcerm=True,
                labels={LABEL_MANAGED: "true"},
            )
            images[name] = image.id
        yield images
    finally:
        for name in USERS:
            with contextlib.suppress(Exception):
                client.images.remove(f"assess-test/user-{name}:latest", force=True)


def _status(pid: int) -> dict[str, list[int]]:
    out = {}
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            key, _, value = line.partition(":")
            if key in ("Uid", "Gid", "Groups"):
                out[key] = [int(v) for v in value.split()]
    return out


def _empty_tar() -> bytes:
    buf = io.BytesIO()
    tarfile.open(fileobj=buf, mode="w").close()
    return buf.getvalue()


@pytest.mark.parametrize("name", list(USERS))
def test_candidate_never_runs_as_uid_or_gid_zero(
    client: Any, user_images: dict[str, str], name: str, no_leaks: None
) -> None:
    with Pod(client) as pod:
        pod.start_holder()
        candidate = pod.start_candidate(user_images[name], {}, Limits(), command=["sleep", "60"])
        candidate.reload()
        status = _status(int(candidate.attrs["State"]["Pid"]))  # as the host sees it
    assert 0 not in status["Uid"], status
    assert 0 not in status["Gid"], status
    assert 0 not in status["Groups"], status
    if name == "zero-1000":
        assert status["Gid"][0] == 1000  # a non-zero group is kept


LISTEN = """\
import socket, sys, time
held = []
for port in map(int, sys.argv[1:]):
    s = socket.socket()
    s.bind(("127.0.0.1", port))
    s.listen()
    held.append(s)
print("listening", flush=True)
time.sleep(600)
"""


def _wait_for(pod: Pod, ports: set[int], timeout: float = 20) -> dict[int, set[str]]:
    deadline = time.monotonic() + timeout
    while True:
        owners = pod.listener_owners()
        if ports <= owners.keys() or time.monotonic() > deadline:
            return owners
        time.sleep(0.05)


def test_listeners_are_attributed_to_their_container(client: Any, no_leaks: None) -> None:
    """A sidecar holds 7001/7002, the candidate serves 8080 and squats 5557 (the grader's)."""
    reserved = {7001: "sidecar-up", 7002: "sidecar-up"}
    with Pod(client) as pod:
        pod.start_holder()
        pod.start_helper(
            "sidecar-up",
            PYTHON_TAG,
            command=["python3", "-c", LISTEN, "7001", "7002"],
            archive=_empty_tar(),
            env={},
        )
        assert _wait_for(pod, {7001, 7002}) == {7001: {"sidecar-up"}, 7002: {"sidecar-up"}}
        assert pod.integrity(reserved) is None
        pod.start_candidate(
            PYTHON_TAG, {}, Limits(), command=["python3", "-c", LISTEN, "8080", "5557"]
        )
        owners = _wait_for(pod, {7001, 7002, 8080, 5557})
        assert owners == {
            7001: {"sidecar-up"},
            7002: {"sidecar-up"},
            8080: {"candidate"},
            5557: {"candidate"},
        }
        start = time.perf_counter()
        for _ in range(20):
            assert pod.integrity(reserved) is None
        per_call_ms = (time.perf_counter() - start) / 20 * 1000
        print(f"Pod.integrity: {per_call_ms:.2f} ms per call (host view {pod.host_view})")
        assert per_call_ms < 100  # polled every 0.5 s: must stay a small share of it
        assert pod.integrity({**reserved, 5557: "grader"}) == Problem(
            "tampered", "the service listens on port 5557, reserved for grader (impersonation)"
        )
        pod.containers["sidecar-up"].kill()
        deadline = time.monotonic() + 10
        while (problem := pod.integrity(reserved)) is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert problem is not None
        assert problem.kind == "error"
        assert "sidecar-up" in problem.message


def test_candidate_taking_a_dead_sidecars_port_is_tampering(client: Any, no_leaks: None) -> None:
    """The cache attack: the upstream dies, the candidate binds its port (uid is no clue)."""
    reserved = {7001: "sidecar-up"}
    squat = (
        "import socket, time\n"
        "s = socket.socket()\n"
        "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
        "while True:\n"
        "    try:\n"
        "        s.bind(('127.0.0.1', 7001)); s.listen(); break\n"
        "    except OSError:\n"
        "        time.sleep(0.05)\n"
        "time.sleep(600)\n"
    )
    with Pod(client) as pod:
        pod.start_holder()
        pod.start_helper(
            "sidecar-up",
            PYTHON_TAG,
            command=["python3", "-c", LISTEN, "7001"],
            archive=_empty_tar(),
            env={},
        )
        _wait_for(pod, {7001})
        pod.start_candidate(PYTHON_TAG, {}, Limits(), command=["python3", "-c", squat])
        assert pod.integrity(reserved) is None
        pod.containers["sidecar-up"].kill()
        deadline = time.monotonic() + 15
        while "candidate" not in pod.listener_owners().get(7001, set()):
            assert time.monotonic() < deadline, "the candidate never took the port"
            time.sleep(0.05)
        problem = pod.integrity(reserved)
        assert problem is not None
        assert problem.kind == "tampered"


FORK_AND_BALLOON = """\
import os, time
pid = os.fork()
if pid == 0:
    hog = []
    while True:
        hog.append(b"x" * (8 << 20))  # written, so resident: the OOM killer takes this child
os.waitpid(pid, 0)
print("child gone, parent serving on", flush=True)
time.sleep(600)
"""


def test_oom_kill_of_a_child_is_counted_while_the_service_lives(
    client: Any, no_leaks: None
) -> None:
    with Pod(client) as pod:
        pod.start_holder()
        candidate = pod.start_candidate(
            PYTHON_TAG,
            {},
            Limits(memory_mb=96),
            command=["python3", "-c", FORK_AND_BALLOON],
        )
        with OomCounter(client, candidate) as oom:
            deadline = time.monotonic() + 30
            while oom.count < 1 and time.monotonic() < deadline:
                time.sleep(0.1)
            state = pod.state("candidate")
            counted = oom.count
            while oom.events < 1 and time.monotonic() < deadline:
                time.sleep(0.1)  # the engine's event trails the kernel's counter a little
    assert counted >= 1
    assert state["Status"] == "running"
    assert not state["OOMKilled"]  # what Docker says: why the counter is needed
    assert oom.events >= 1  # the engine's oom event, not only the cgroup's counter
