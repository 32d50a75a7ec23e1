"""Service control: the host's controller (refusals, the bound, the answer it writes) with a fake
pod at the engine seam, and the check side's fail-closed absence in --url mode."""

from __future__ import annotations

import io
import json
import tarfile
from typing import Any

import pytest

from graders.protocol import ServiceRequestEvent
from runner.grading.services import MAX_REQUESTS, ServiceController, ServiceTarget

pytest_plugins = ["pytester"]
SECRET = "s" * 32
TOKEN = "0123456789abcdef"


class FakePod:
    """Containers that go down and up on request; ``listens`` says whether a start binds."""

    def __init__(self, listens: bool = True) -> None:
        self.status = {"candidate": "running", "sidecar-db": "running"}
        self.listens = listens
        self.calls: list[tuple[str, str]] = []
        self.down: set[str] = set()
        self.containers: dict[str, Any] = {}

    def state(self, role: str) -> dict[str, Any]:
        return {"Status": self.status[role], "ExitCode": 0}

    def kill_service(self, role: str) -> int:
        self.calls.append(("kill", role))
        self.status[role] = "exited"
        self.down.add(role)
        return 137

    def stop_service(self, role: str, grace_s: float) -> tuple[int, bool]:
        self.calls.append(("stop", role))
        self.status[role] = "exited"
        self.down.add(role)
        return 0, True

    def start_service(self, role: str) -> None:
        self.calls.append(("start", role))
        self.status[role] = "running"
        self.down.discard(role)

    def listener_owners(self, ports: list[int]) -> dict[int, set[str]]:
        return {ports[0]: {"candidate", "sidecar-db"}} if self.listens else {}


class FakeGrader:
    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}

    def put_archive(self, path: str, data: bytes) -> None:
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            for m in tar.getmembers():
                fh = tar.extractfile(m)
                self.files[f"{path}/{m.name}"] = fh.read() if fh else b""


def controller(pod: FakePod, grader: FakeGrader) -> ServiceController:
    return ServiceController(
        pod,  # type: ignore[arg-type]
        grader,
        "/assess/in",
        SECRET,
        {
            "candidate": ServiceTarget("candidate", 8080, 1.0),
            "db": ServiceTarget("sidecar-db", 5432, 1.0),
        },
    )


def answer(grader: FakeGrader, token: str = TOKEN) -> dict[str, Any]:
    assert f"/assess/in/{token}.svc.done" in grader.files
    return dict(json.loads(grader.files[f"/assess/in/{token}.svc.json"]))


def test_restart_stops_starts_and_waits_for_the_port() -> None:
    pod, grader = FakePod(), FakeGrader()
    c = controller(pod, grader)
    c.handle(ServiceRequestEvent(TOKEN, "db", "restart", SECRET, 5.0))
    got = answer(grader)
    assert got["ok"]
    assert got["exit_code"] == 0
    assert got["exited_in_grace"] is True
    assert got["ready_s"] is not None
    assert "ready again" in got["message"]
    assert pod.calls == [("stop", "sidecar-db"), ("start", "sidecar-db")]
    assert [a.action for a in c.actions] == ["restart"]


def test_a_start_that_never_listens_is_not_ok() -> None:
    pod, grader = FakePod(listens=False), FakeGrader()
    c = controller(pod, grader)
    c.handle(ServiceRequestEvent(TOKEN, "candidate", "restart", SECRET, 5.0))
    got = answer(grader)
    assert not got["ok"]
    assert "not ready within 1 s (port 8080)" in got["message"]


@pytest.mark.parametrize(
    ("event", "why"),
    [
        (ServiceRequestEvent(TOKEN, "db", "kill", "x" * 32), "secret"),
        (ServiceRequestEvent(TOKEN, "holder", "kill", SECRET), "no service 'holder'"),
        (ServiceRequestEvent(TOKEN, "grader", "restart", SECRET), "services: candidate, db"),
    ],
)
def test_refused_requests_act_on_nothing_and_say_why(event: ServiceRequestEvent, why: str) -> None:
    pod, grader = FakePod(), FakeGrader()
    c = controller(pod, grader)
    c.handle(event)
    got = answer(grader)
    assert not got["ok"]
    assert why in got["message"]
    assert pod.calls == []
    assert c.actions == []


def test_requests_are_bounded_per_grading() -> None:
    pod, grader = FakePod(), FakeGrader()
    c = controller(pod, grader)
    for i in range(MAX_REQUESTS + 2):
        c.handle(ServiceRequestEvent(f"{i:016x}", "candidate", "kill", SECRET))
    assert len(pod.calls) == MAX_REQUESTS
    assert not answer(grader, f"{MAX_REQUESTS:016x}")["ok"]
    assert "at most 10 service requests" in answer(grader, f"{MAX_REQUESTS + 1:016x}")["message"]


def test_a_token_that_is_not_ours_writes_nothing() -> None:
    pod, grader = FakePod(), FakeGrader()
    controller(pod, grader).handle(ServiceRequestEvent("../../etc/x", "db", "kill", SECRET))
    assert grader.files == {}
    assert pod.calls == []


def test_without_the_capability_a_check_is_not_run(pytester: pytest.Pytester) -> None:
    """--url mode: no services, so a check that needs one is not_run (earns 0), never passed."""
    from graders.events import EventWriter
    from graders.main import _Bridge
    from graders.protocol import CheckEvent, decode_event

    pytester.makepyfile(
        test_checks="""
import pytest

@pytest.mark.skill("resilience")
def test_restart(services):
    services.restart("candidate")
"""
    )
    stream = io.StringIO()
    pytester.runpytest_inprocess(
        "-p", "graders.plugin", "-p", "no:cacheprovider", plugins=[_Bridge(EventWriter(stream))]
    )
    results = [
        d[1].result
        for d in map(decode_event, stream.getvalue().splitlines())
        if d is not None and isinstance(d[1], CheckEvent)
    ]
    assert [(r.id, r.outcome, r.points) for r in results] == [("restart", "not_run", 0.0)]
    assert "only the sandbox can do (not in --url mode)" in results[0].message


def test_url_mode_sidecars_refuse_an_own_image_sidecar() -> None:
    from runner.challenges.registry import load_challenge
    from runner.errors import UsageError
    from runner.grading.host_sidecars import running
    from tests.conftest import FIXTURES

    challenge = load_challenge(FIXTURES / "pod-services")
    with (
        pytest.raises(UsageError, match=r"runs its own image .* only the sandbox starts"),
        running(challenge),
    ):
        pass


def test_sidecar_config_needs_a_command_or_a_dockerfile() -> None:
    from pydantic import ValidationError

    from runner.challenges.registry import Sidecar

    with pytest.raises(ValidationError, match="give command"):
        Sidecar(name="db", path="sidecars/db", port=5432)
    with pytest.raises(ValidationError, match="inside its path"):
        Sidecar(name="db", path="sidecars/db", dockerfile="../x/Dockerfile", port=5432)
    with pytest.raises(ValidationError, match="not a path"):
        Sidecar(name="db", path="d", dockerfile="Dockerfile", port=5432, tmpfs={"run": 1})
    ok = Sidecar(name="db", path="d", dockerfile="Dockerfile", port=5432)
    assert (ok.control_port, ok.memory) == (0, 512)


def test_a_service_that_exited_by_itself_is_not_restarted() -> None:
    """A crash is the host's to record: a check's restart must not undo it."""
    pod, grader = FakePod(), FakeGrader()
    pod.status["candidate"] = "exited"
    c = controller(pod, grader)
    c.handle(ServiceRequestEvent(TOKEN, "candidate", "restart", SECRET))
    got = answer(grader)
    assert not got["ok"]
    assert "exited by itself" in got["message"]
    assert pod.calls == []
