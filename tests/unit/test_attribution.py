"""No honest candidate is accused: when a suspicious ownership reading of the pod's listening
sockets becomes ``tampered`` (runner.grading.attribution, Pod.integrity, Pod.listener_owners), over
faked snapshots."""

from __future__ import annotations

import os
import socket
from collections.abc import Collection
from typing import Any

import pytest

from graders.procnet import ListenSocket
from runner.grading.attribution import RECHECK_DELAYS_S, Decision, Finding, decide, findings
from runner.grading.pod import Pod, Problem, _HostView

RESERVED = {5557: "grader", 6000: "sidecar-up"}
HEALTHY: dict[int, set[str]] = {5557: {"grader"}, 6000: {"sidecar-up"}, 8080: {"candidate"}}
FULL = 1 + len(RECHECK_DELAYS_S)


class ScriptedPod(Pod):
    """Pod.integrity over scripted readings (the last one repeats), sleeping on a fake clock."""

    def __init__(self, readings: list[dict[int, set[str]]]) -> None:
        super().__init__(client=None, run_id="unit")
        self.readings = readings
        self.calls = 0
        self.slept: list[float] = []
        self._sleep = self.slept.append

    def listener_owners(self, ports: Collection[int] | None = None) -> dict[int, set[str]]:
        reading = self.readings[min(self.calls, len(self.readings) - 1)]
        self.calls += 1
        return {p: set(o) for p, o in reading.items()}

    def _helper_gone(self, role: str) -> str | None:
        return None


def test_transient_unknown_on_a_grader_port_is_not_tampering() -> None:
    pod = ScriptedPod([{**HEALTHY, 5557: {"unknown"}}, HEALTHY])
    assert pod.integrity(RESERVED) is None
    assert pod.calls == 2
    assert pod.slept == [RECHECK_DELAYS_S[0]]
    assert len(pod.integrity_notes) == 1
    assert "transient, not tampering" in pod.integrity_notes[0]


def test_unknown_that_lasts_until_the_last_recheck_but_one_is_not_tampering() -> None:
    readings = [{**HEALTHY, 5557: {"unknown"}}] * (FULL - 1) + [HEALTHY]
    pod = ScriptedPod(readings)
    assert pod.integrity(RESERVED) is None
    assert pod.slept == list(RECHECK_DELAYS_S)
    assert pod.integrity_notes


def test_persistent_foreign_listener_is_tampering_after_every_recheck() -> None:
    pod = ScriptedPod([{**HEALTHY, 5557: {"grader", "unknown"}}])
    assert pod.integrity(RESERVED) == Problem(
        "tampered", "port 5557, reserved for grader, is held by unknown"
    )
    assert pod.calls == FULL
    assert sum(pod.slept) >= 1.0  # the readings span time, not one instant


def test_unverified_owner_is_noted_never_punished() -> None:
    # our own process list could not be read: nothing certain, however long it lasts
    pod = ScriptedPod([{**HEALTHY, 5557: {"unverified"}}])
    assert pod.integrity(RESERVED) is None
    assert pod.calls == FULL
    assert "could not be established" in pod.integrity_notes[0]
    assert pod.integrity(RESERVED) is None  # looked at again on the next turn
    assert len(pod.integrity_notes) == 1  # the same note once


def test_candidate_seen_once_is_not_tampering() -> None:
    pod = ScriptedPod([{**HEALTHY, 6000: {"sidecar-up", "candidate"}}, HEALTHY])
    assert pod.integrity(RESERVED) is None
    assert pod.integrity_notes


def test_candidate_in_two_readings_in_a_row_is_tampering_without_waiting_for_more() -> None:
    pod = ScriptedPod([{**HEALTHY, 6000: {"candidate"}}])
    problem = pod.integrity(RESERVED)
    assert problem == Problem(
        "tampered", "the service listens on port 6000, reserved for sidecar-up (impersonation)"
    )
    assert pod.calls == 2


def test_a_healthy_pod_is_read_once() -> None:
    pod = ScriptedPod([HEALTHY])
    assert pod.integrity(RESERVED) is None
    assert (pod.calls, pod.slept, pod.integrity_notes) == (1, [], [])


def test_notes_are_bounded() -> None:
    pod = ScriptedPod([HEALTHY])
    for port in range(100):
        pod.readings = [{**HEALTHY, 5557: {f"unverified-{port}"}}, HEALTHY]
        pod.calls = 0
        pod.integrity(RESERVED)
    assert len(pod.integrity_notes) == 10


@pytest.mark.parametrize(
    ("readings", "confirmed"),
    [
        ([], False),
        ([[]], False),
        ([[Finding(1, "grader", frozenset({"unknown"}))]] * FULL, True),
        ([[Finding(1, "grader", frozenset({"unknown"}))]] * (FULL - 1), False),
        ([[Finding(1, "grader", frozenset({"candidate"}))]] * 2, True),
        (
            [
                [Finding(1, "grader", frozenset({"unknown"}))],
                [Finding(2, "grader", frozenset({"unknown"}))],
            ]
            * 2,
            False,
        ),
        # unknown first, then the candidate twice: the candidate's own descriptors are proof
        (
            [[Finding(1, "g", frozenset({"unknown"}))]]
            + [[Finding(1, "g", frozenset({"candidate"}))]] * 2,
            True,
        ),
        ([[Finding(1, "g", frozenset({"unverified"}))]] * 10, False),
    ],
)
def test_decide(readings: list[list[Finding]], confirmed: bool) -> None:
    decision = decide(readings)
    assert bool(decision.confirmed) is confirmed
    if not readings or not readings[0]:
        assert decision == Decision()


def test_uid_rule_helper_is_the_owner() -> None:
    assert findings({5557: {"helper"}}, {5557: "grader"}) == []
    assert findings({8080: {"helper"}}, {8080: "candidate"}) == [
        Finding(8080, "candidate", frozenset({"helper"}))
    ]


class SnapshotPod(Pod):
    """Pod.listener_owners over faked socket tables and process lists (host view)."""

    def __init__(self, tables: list[list[ListenSocket]], pids: dict[str, list[int] | None]):
        super().__init__(client=None, run_id="unit")
        self.tables = tables
        self.reads = 0
        self.pid_lists = pids
        self.containers = dict.fromkeys(pids, object())
        self._views["holder"] = _HostView(1, "0", None)

    def _listen_sockets(self) -> list[ListenSocket]:
        table = self.tables[min(self.reads, len(self.tables) - 1)]
        self.reads += 1
        return table

    def _pids(self, role: str) -> list[int] | None:
        return self.pid_lists[role]


@pytest.fixture
def own_listener() -> Any:
    """A listening socket held by this very process: "one of ours" for the snapshot pod."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        inode = os.fstat(sock.fileno()).st_ino
        yield sock.getsockname()[1], inode


def test_our_own_process_owns_its_socket(own_listener: tuple[int, int]) -> None:
    port, inode = own_listener
    pod = SnapshotPod([[ListenSocket(port, 0, inode)]], {"grader": [os.getpid()], "candidate": []})
    assert pod.listener_owners() == {port: {"grader"}}
    assert pod.reads == 1  # all attributed: no second look needed


def test_a_socket_gone_from_the_table_after_the_scan_is_left_out() -> None:
    ghost = ListenSocket(5557, 0, 987654321)  # nobody holds it, and it closes during the scan
    pod = SnapshotPod([[ghost], []], {"grader": [], "candidate": []})
    assert pod.listener_owners() == {}
    assert pod.reads == 2


def test_a_socket_still_listed_and_held_by_nobody_is_unknown() -> None:
    ghost = ListenSocket(5557, 0, 987654321)
    pod = SnapshotPod([[ghost]], {"grader": [], "candidate": []})
    assert pod.listener_owners() == {5557: {"unknown"}}


def test_unreadable_process_list_of_ours_makes_it_unverified() -> None:
    ghost = ListenSocket(5557, 0, 987654321)
    pod = SnapshotPod([[ghost]], {"grader": None, "candidate": []})
    assert pod.listener_owners() == {5557: {"unverified"}}
    # the candidate's own list being unreadable proves nothing about our containers
    pod = SnapshotPod([[ghost]], {"grader": [], "candidate": None})
    assert pod.listener_owners() == {5557: {"unknown"}}
