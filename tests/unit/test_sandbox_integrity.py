"""Grade integrity in the sandbox, without Docker: who the candidate runs as, who owns a
reserved port and what that means, and how OOM kills are counted."""

from __future__ import annotations

import socket
import threading
from pathlib import Path
from typing import Any

import pytest

from graders.procnet import (
    MAX_LISTEN_LINES,
    ListenSocket,
    TooManyListeners,
    parse_listen_sockets,
    read_listen_sockets,
)
from runner.grading.pod import OomCounter, Pod, Problem
from runner.grading.users import resolve_user_spec

PASSWD = """\
root:x:0:0:root:/root:/bin/bash
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
toor:x:0:0::/root:/bin/sh
app:x:1000:1000::/home/app:/bin/sh
wheelie:x:1001:0::/home/w:/bin/sh
1002:x:0:0:a name that looks like a uid:/:/bin/sh
broken line
"""
GROUP = """\
root:x:0:app
app:x:1000:
staff:x:50:
"""


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("", "65534:65534"),  # no USER: root
        ("root", "65534:65534"),
        ("0", "65534:65534"),
        ("0:0", "65534:65534"),
        ("root:root", "65534:65534"),
        ("0:1000", "65534:1000"),
        ("toor", "65534:65534"),  # a uid-0 alias
        ("app", "1000:1000"),
        ("app:root", "1000:65534"),  # a group of gid 0
        ("app:staff", "1000:50"),
        ("1000", "1000:1000"),  # numeric: looked up by uid for the gid
        ("4242", "4242:65534"),  # no entry: Docker would give gid 0
        ("4242:77", "4242:77"),
        ("wheelie", "1001:65534"),  # primary group 0
        ("1002", "1002:65534"),  # numeric is a uid, never the name "1002" (uid 0)
        ("ghost", "65534:65534"),  # unresolvable name
        ("app:ghosts", "65534:65534"),
        (" app ", "1000:1000"),
        ("99999999999", "65534:65534"),  # beyond any uid
    ],
)
def test_user_spec_resolves_to_numeric_ids_never_zero(spec: str, expected: str) -> None:
    assert resolve_user_spec(spec, PASSWD, GROUP) == expected


def test_user_spec_without_readable_files() -> None:
    assert resolve_user_spec("app", None, None) == "65534:65534"
    assert resolve_user_spec("1000", None, None) == "1000:65534"
    assert resolve_user_spec("root:root", None, None) == "65534:65534"


TABLE_HEAD = (
    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt"
    "   uid  timeout inode\n"
)


def _row(port: int, state: str, uid: int, inode: int) -> str:
    return (
        f"   0: 0100007F:{port:04X} 00000000:0000 {state} 00000000:00000000 00:00000000 "
        f"00000000 {uid:5d}        0 {inode} 1 0000000000000000 100 0 0 10 0\n"
    )


def test_listen_rows_carry_uid_and_inode() -> None:
    text = TABLE_HEAD + _row(8080, "0A", 65534, 111) + _row(6379, "01", 0, 222)
    assert parse_listen_sockets(text) == [ListenSocket(8080, 65534, 111)]


def test_reading_stops_at_the_first_row_that_is_not_listen(tmp_path: Path) -> None:
    tcp = tmp_path / "tcp"
    tcp.write_text(
        TABLE_HEAD + _row(8080, "0A", 65534, 1) + _row(8080, "01", 0, 2) + _row(7000, "0A", 0, 3)
    )
    assert read_listen_sockets([tcp, tmp_path / "absent"]) == [ListenSocket(8080, 65534, 1)]


def test_a_flood_of_listeners_is_refused(tmp_path: Path) -> None:
    tcp = tmp_path / "tcp"
    tcp.write_text(TABLE_HEAD + _row(9000, "0A", 65534, 5) * (MAX_LISTEN_LINES + 1))
    with pytest.raises(TooManyListeners):
        read_listen_sockets([tcp])


class FakePod(Pod):
    """The decision logic of Pod.integrity over scripted ownership readings."""

    def __init__(self, readings: list[dict[int, set[str]]], gone: dict[str, str]) -> None:
        super().__init__(client=None, run_id="unit")
        self.readings = readings
        self.gone = gone
        self.calls = 0
        self.slept: list[float] = []
        self._sleep = self.slept.append

    def listener_owners(self, ports: Any = None) -> dict[int, set[str]]:
        reading = self.readings[min(self.calls, len(self.readings) - 1)]
        self.calls += 1
        return {p: set(o) for p, o in reading.items() if ports is None or p in ports}

    def _helper_gone(self, role: str) -> str | None:
        return self.gone.get(role)


RESERVED = {6000: "sidecar-up", 6001: "sidecar-up", 5557: "grader"}
HEALTHY = {6000: {"sidecar-up"}, 6001: {"sidecar-up"}, 8080: {"candidate"}}


def integrity(readings: list[dict[int, set[str]]], gone: dict[str, str] | None = None) -> Any:
    return FakePod(readings, gone or {}).integrity(RESERVED)


def test_healthy_pod_has_no_problem() -> None:
    assert integrity([HEALTHY]) is None  # the grader's port unheld is fine


def test_candidate_on_a_reserved_port_is_tampering() -> None:
    problem = integrity([{**HEALTHY, 5557: {"candidate"}}])
    assert problem == Problem(
        "tampered", "the service listens on port 5557, reserved for grader (impersonation)"
    )


def test_candidate_beside_the_sidecar_is_tampering() -> None:
    problem = integrity([{**HEALTHY, 6001: {"sidecar-up", "candidate"}}])
    assert problem is not None
    assert problem.kind == "tampered"


def test_an_unknown_owner_is_looked_at_again_before_it_is_tampering() -> None:
    # first reading: a socket that closed between the table and the descriptors
    assert integrity([{**HEALTHY, 5557: {"unknown"}}, HEALTHY]) is None
    # every reading over the re-check delays: a squatter nobody of ours holds
    problem = integrity([{**HEALTHY, 5557: {"unknown"}}])
    assert problem == Problem("tampered", "port 5557, reserved for grader, is held by unknown")


def test_a_dead_sidecar_is_an_error() -> None:
    gone = {"sidecar-up": "the sidecar-up container exited with code 137"}
    assert integrity([HEALTHY], gone) == Problem("error", gone["sidecar-up"])


def test_a_sidecar_that_lost_its_port_is_an_error() -> None:
    problem = integrity([{6000: {"sidecar-up"}, 8080: {"candidate"}}])
    assert problem == Problem("error", "sidecar-up no longer listens on its port 6001")


def test_tampering_wins_over_a_dead_sidecar() -> None:
    gone = {"sidecar-up": "the sidecar-up container exited with code 137"}
    problem = integrity([{6000: {"candidate"}, 8080: {"candidate"}}], gone)
    assert problem is not None
    assert problem.kind == "tampered"


def test_uid_rule_helper_counts_as_the_owner() -> None:
    assert integrity([{6000: {"helper"}, 6001: {"helper"}}]) is None
    problem = integrity([{6000: {"helper", "candidate"}, 6001: {"helper"}}])
    assert problem is not None
    assert problem.kind == "tampered"


class FakeStream:
    def __init__(self, events: list[dict[str, Any]]) -> None:
        self.events = events
        self.closed = threading.Event()

    def __iter__(self) -> Any:
        yield from self.events
        self.closed.wait(5)  # a live stream blocks until closed

    def close(self) -> None:
        self.closed.set()


class FakeClient:
    def __init__(self, stream: FakeStream) -> None:
        self.stream = stream
        self.asked: dict[str, Any] = {}

    def events(self, **kw: Any) -> FakeStream:
        self.asked = kw
        return self.stream


class FakeContainer:
    id = "c0ffee"
    attrs = {"Created": "2026-12-02T04:00:00.123456789Z", "State": {"Pid": 0}}

    def reload(self) -> None:
        pass


def test_oom_events_of_the_container_are_counted(tmp_path: Path) -> None:
    stream = FakeStream([{"Action": "oom"}, {"Action": "oom"}, {"Action": "die"}])
    client = FakeClient(stream)
    with OomCounter(client, FakeContainer()) as oom:
        deadline = threading.Event()
        for _ in range(100):
            if oom.count >= 2:
                break
            deadline.wait(0.01)
        assert oom.count == 2
    assert stream.closed.is_set()
    assert client.asked["filters"] == {"type": "container", "container": "c0ffee", "event": "oom"}
    assert client.asked["since"] == 1796184000 - 1  # from before the container was created


def test_cgroup_counter_wins_when_events_lag(tmp_path: Path) -> None:
    control = tmp_path / "memory.oom_control"
    control.write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 3\n")
    oom = OomCounter(FakeClient(FakeStream([])), FakeContainer(), since=0)
    oom._cgroup_file = str(control)
    assert oom.count == 3
    control.unlink()  # the container is gone: the count stays
    assert oom.count == 3


def test_diag_socket_reads_this_namespace() -> None:
    """The netlink path and /proc agree on a listener of our own namespace."""
    from graders.procnet import NETLINK_SOCK_DIAG, PROC_FILES, diag_listen_sockets

    try:
        diag = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_SOCK_DIAG)
    except OSError:
        pytest.skip("no NETLINK_SOCK_DIAG here")
    with diag, socket.socket() as srv:
        diag.settimeout(2)
        srv.bind(("127.0.0.1", 0))
        srv.listen()
        port = srv.getsockname()[1]
        mine = [s for s in diag_listen_sockets(diag) if s.port == port]
        assert mine
        assert mine == [s for s in read_listen_sockets(PROC_FILES) if s.port == port]
