"""The build disk guard picks its own build's step containers by the ids its stream announced,
never by labels, and never touches another build's; build steps carry limits."""

from __future__ import annotations

import time
from typing import Any

import pytest

from runner.grading.images import DiskGuard, build_limits, own_step_containers

OURS = "a" * 12 + "1" * 52
THEIRS = "b" * 12 + "2" * 52
OLD = "c" * 12 + "3" * 52


class FakeContainer:
    def __init__(self, cid: str, created: str, labels: dict[str, str] | None = None) -> None:
        self.id = cid
        self.labels = labels or {}
        self.attrs = {"Created": created, "Config": {"Cmd": ["/bin/sh", "-c", "dd ..."]}}
        self.killed = False

    def kill(self) -> None:
        self.killed = True


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + ".000000000Z"


NOW = time.time()


def test_only_announced_containers_created_since_the_start_are_ours() -> None:
    ours = FakeContainer(OURS, _iso(NOW + 2), {"assess.run": "forged"})  # a LABEL in the file
    theirs = FakeContainer(THEIRS, _iso(NOW + 2))  # a concurrent build: same command, no label
    old = FakeContainer(OLD, _iso(NOW - 100))
    picked = own_step_containers([ours, theirs, old], {OURS[:12], OLD[:12]}, NOW)
    assert picked == [ours]


def test_a_full_id_matches_and_a_short_prefix_does_not() -> None:
    ours = FakeContainer(OURS, _iso(NOW + 2))
    assert own_step_containers([ours], {OURS}, NOW) == [ours]
    assert own_step_containers([ours], {OURS[:6]}, NOW) == []


def test_the_guard_learns_step_ids_from_the_builder_lines_only() -> None:
    guard = DiskGuard(FakeClient([]), floor_mb=1)
    guard.note(f" ---> Running in {OURS[:12]}")
    guard.note(f"Step 2/3 : RUN echo ' ---> Running in {THEIRS[:12]}'")  # the command, echoed
    guard.note(" ---> Running in not-an-id")
    guard.note(f" ---> {THEIRS[:12]}")  # an intermediate image, not a container
    assert guard.step_ids == {OURS[:12]}


class FakeClient:
    def __init__(self, containers: list[FakeContainer]) -> None:
        self.listed = containers
        self.containers = self

    def list(self, **_: Any) -> list[FakeContainer]:
        return self.listed

    def info(self) -> dict[str, str]:
        return {"DockerRootDir": "/"}


class LowDisk(DiskGuard):
    def free_mb(self) -> float:
        return 0.0


def test_below_the_floor_only_this_builds_step_is_killed() -> None:
    now = time.time()  # the guard only takes containers created after it started
    ours = FakeContainer(OURS, _iso(now + 2), {"assess.run": "forged", "assess.managed": "x"})
    theirs = FakeContainer(THEIRS, _iso(now + 2), {"assess.managed": "true"})
    with LowDisk(FakeClient([ours, theirs]), floor_mb=100, interval_s=0.01) as guard:
        guard.note(f" ---> Running in {OURS[:12]}")
        deadline = time.monotonic() + 5
        while not ours.killed and time.monotonic() < deadline:
            time.sleep(0.01)
    assert ours.killed
    assert not theirs.killed
    assert "free disk fell below 100 MiB" in guard.tripped


def test_build_steps_are_limited(monkeypatch: pytest.MonkeyPatch) -> None:
    assert build_limits() == {"memory": 2048 * 2**20, "memswap": 2048 * 2**20, "cpushares": 512}
    monkeypatch.setenv("ASSESS_BUILD_MEMORY_MB", "512")
    assert build_limits()["memswap"] == 512 * 2**20
