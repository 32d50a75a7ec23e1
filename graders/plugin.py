"""pytest plugin that turns check outcomes into assess results and events.

Loaded by the grader entry point (in-process ``pytest.main``) or by hand for authors:
``pytest -p graders.plugin challenges/rest-api/checks --service-url http://127.0.0.1:8080``.
"""

from __future__ import annotations

import secrets
import signal
import time
from collections.abc import Callable, Generator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from graders.check_failed import CheckFailed, fail
from graders.events import EventWriter
from graders.http import Client, excerpt
from graders.protocol import CheckEvent, CheckInfo, CheckResult, LogRequestEvent, Outcome
from graders.services import ServiceControlUnavailable, Services

MESSAGE_CHARS = 600


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("assess")
    group.addoption("--service-url", default="http://127.0.0.1:8080", help="service under test")
    group.addoption("--assess-mode", default="interviewer", choices=["interviewer", "candidate"])
    group.addoption(
        "--assess-phase",
        default="checks",
        choices=["checks", "after_load", "all"],
        help="which checks to run: before load, after load, or both",
    )
    group.addoption("--assess-seed", type=int, default=1)
    group.addoption("--assess-default-points", type=float, default=1.0)
    group.addoption("--assess-check-timeout", type=float, default=30.0)
    group.addoption(
        "--assess-log-dir",
        default="",
        help="where the host drops the service's output for service_log ('' = unavailable)",
    )
    group.addoption(
        "--assess-services",
        default="",
        help="comma-separated services a check may kill/stop/start/restart ('' = none)",
    )
    group.addoption("--assess-service-secret", default="", help="this grading's request secret")
    group.addoption("--assess-service-wait", type=float, default=90.0)
    group.addoption("--assess-ready-timeout", type=float, default=30.0)
    group.addoption(
        "--assess-sidecar",
        action="append",
        default=[],
        help="NAME=URL[,TOKEN]: control endpoint of a challenge sidecar",
    )


def pytest_configure(config: pytest.Config) -> None:
    for line in (
        "points(n): points this check is worth",
        "skill(name): the skill this check assesses",
        "hidden: not shown to or run for candidates",
        "after_load: runs after the load phase (consistency under load)",
        "critical: failing it means the service is unsafe to ship (caps the score)",
    ):
        config.addinivalue_line("markers", line)
    if not hasattr(config, "assess_plugin"):
        plugin = AssessPlugin(config, getattr(config, "assess_events", None))
        config.assess_plugin = plugin  # type: ignore[attr-defined]
        config.pluginmanager.register(plugin, "assess-results")


def check_id(item: pytest.Item) -> str:
    name = item.name
    return name[5:] if name.startswith("test_") else name


def _marker_arg(item: pytest.Item, name: str, default: Any) -> Any:
    marker = item.get_closest_marker(name)
    if marker is None or not marker.args:
        return default
    return marker.args[0]


class CheckTimeout(CheckFailed):
    pass


class AssessPlugin:
    """Lists the checks it collected (``planned``); emits one CheckResult per check run."""

    def __init__(self, config: pytest.Config, events: EventWriter | None = None) -> None:
        self.config = config
        self.events = events
        self.results: list[CheckResult] = []
        self.planned: list[CheckInfo] = []
        self._meta: dict[str, CheckInfo] = {}
        self._excinfo: dict[str, BaseException] = {}

    # -- selection -----------------------------------------------------------------------
    def pytest_collection_modifyitems(
        self, session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
    ) -> None:
        mode = config.getoption("--assess-mode")
        phase = config.getoption("--assess-phase")
        keep, drop = [], []
        seen: dict[str, str] = {}
        for item in items:
            hidden = item.get_closest_marker("hidden") is not None
            after = item.get_closest_marker("after_load") is not None
            wanted = phase == "all" or (phase == "after_load") == after
            if (mode == "candidate" and hidden) or not wanted:
                drop.append(item)
                continue
            cid = check_id(item)
            if cid in seen:
                raise pytest.UsageError(
                    f"duplicate check id {cid!r}: {seen[cid]} and {item.nodeid}"
                )
            seen[cid] = item.nodeid
            doc = getattr(item.obj, "__doc__", None) if hasattr(item, "obj") else None
            title = (doc or "").strip().splitlines()[0] if doc and doc.strip() else cid
            info = CheckInfo(
                id=cid,
                title=title,
                skill=str(_marker_arg(item, "skill", "general")),
                max_points=float(
                    _marker_arg(item, "points", config.getoption("--assess-default-points"))
                ),
                hidden=hidden,
                phase="after_load" if after else "checks",
                critical=item.get_closest_marker("critical") is not None,
            )
            self._meta[item.nodeid] = info
            self.planned.append(info)
            keep.append(item)
        if drop:
            config.hook.pytest_deselected(items=drop)
        items[:] = keep

    # -- per-check timeout: SIGALRM interrupts even a blocked socket read ----------------
    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Generator[None, object, object]:
        limit = float(self.config.getoption("--assess-check-timeout"))
        if limit <= 0 or not hasattr(signal, "SIGALRM"):
            return (yield)

        def on_alarm(signum: int, frame: Any) -> None:
            raise CheckTimeout(f"check did not finish within {limit:g} s")

        previous = signal.signal(signal.SIGALRM, on_alarm)
        signal.setitimer(signal.ITIMER_REAL, limit)
        try:
            return (yield)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        if call.excinfo is not None:
            self._excinfo[f"{item.nodeid}:{call.when}"] = call.excinfo.value
        return report

    # -- outcomes -------------------------------------------------------------------------
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        meta = self._meta.get(report.nodeid)
        if meta is None:
            return
        if report.when == "call" or (report.when == "setup" and not report.passed):
            exc = self._excinfo.get(f"{report.nodeid}:{report.when}")
            if report.passed:
                outcome, message = Outcome.PASSED, ""
            elif report.skipped:
                outcome, message = Outcome.SKIPPED, _skip_reason(report)
            elif isinstance(exc, ServiceControlUnavailable):
                outcome, message = Outcome.NOT_RUN, str(exc)
            elif isinstance(exc, AssertionError):
                # CheckFailed messages are written for candidates; plain asserts use pytest's.
                outcome, message = Outcome.FAILED, _message(exc, report)
            else:
                outcome = Outcome.ERROR
                message = f"the check itself raised {_message(exc, report)}"
            result = replace(
                CheckResult.from_info(meta, outcome, message), duration_s=round(report.duration, 3)
            )
            self.results.append(result)
            if self.events is not None:
                self.events.emit(CheckEvent(result))


# -- fixtures (module level: a plugin module's fixtures are registered with it) ------------
@pytest.fixture(scope="session")
def service_url(pytestconfig: pytest.Config) -> str:
    """Base URL of the service under test."""
    return str(pytestconfig.getoption("--service-url")).rstrip("/")


@pytest.fixture
def api(service_url: str) -> Client:
    """A client for the service: timeouts and size caps on every request."""
    return Client(service_url)


@pytest.fixture(scope="session")
def seed(pytestconfig: pytest.Config) -> int:
    """The run's random seed."""
    return int(pytestconfig.getoption("--assess-seed"))


@pytest.fixture(scope="session")
def sidecars(pytestconfig: pytest.Config) -> dict[str, Client]:
    """Control clients of the challenge's sidecars, by name, already authorised."""
    out: dict[str, Client] = {}
    for spec in pytestconfig.getoption("--assess-sidecar"):
        name, _, rest = spec.partition("=")
        url, _, token = rest.partition(",")
        if not url:
            continue  # a sidecar without a control port (its own server: see sidecar_tokens)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        out[name] = Client(url, headers=headers)
    return out


@pytest.fixture(scope="session")
def sidecar_tokens(pytestconfig: pytest.Config) -> dict[str, str]:
    """Each sidecar's per-grading secret, by name: the ``ASSESS_CONTROL_TOKEN`` the sidecar was
    started with (e.g. the password of the grader's own database role)."""
    out: dict[str, str] = {}
    for spec in pytestconfig.getoption("--assess-sidecar"):
        name, _, rest = spec.partition("=")
        out[name] = rest.partition(",")[2]
    return out


@pytest.fixture
def services(pytestconfig: pytest.Config, service_url: str) -> Services:
    """Kill, stop, start or restart the candidate ("candidate") or a sidecar (its name) in the
    middle of a check (graders.services). Absent in ``--url`` mode: the check is not run."""
    plugin = getattr(pytestconfig, "assess_plugin", None)
    names = tuple(n for n in str(pytestconfig.getoption("--assess-services")).split(",") if n)
    return Services(
        plugin.events if plugin is not None else None,
        names,
        str(pytestconfig.getoption("--assess-service-secret")),
        str(pytestconfig.getoption("--assess-log-dir")),
        float(pytestconfig.getoption("--assess-service-wait")),
        service_url,
        float(pytestconfig.getoption("--assess-ready-timeout")),
    )


LOG_WAIT_S = 10.0
LOG_MAX_BYTES = 1 << 20


@pytest.fixture
def service_log(pytestconfig: pytest.Config) -> Callable[[], str]:
    """A callable returning the service's recent output (stdout and stderr, at most 1 MiB,
    whole lines), fetched from the host when called: the grader cannot see the candidate's
    container. Fails the check where the output is not available (``--url`` mode)."""
    log_dir = str(pytestconfig.getoption("--assess-log-dir"))
    plugin = getattr(pytestconfig, "assess_plugin", None)

    def fetch() -> str:
        events = plugin.events if plugin is not None else None
        if not log_dir or events is None:
            fail(
                "the service's output is not available here: it is read from the sandbox "
                "(not in --url mode)"
            )
        token = secrets.token_hex(8)
        events.emit(LogRequestEvent(token))
        done = Path(log_dir) / f"{token}.done"
        deadline = time.monotonic() + LOG_WAIT_S
        while not done.exists():
            if time.monotonic() > deadline:
                fail(f"the host did not hand over the service's output within {LOG_WAIT_S:g} s")
            time.sleep(0.05)
        with open(Path(log_dir) / f"{token}.log", "rb") as fh:
            return fh.read(LOG_MAX_BYTES).decode("utf-8", "replace")

    return fetch


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return "skipped"


def _message(exc: BaseException | None, report: pytest.TestReport) -> str:
    if isinstance(exc, CheckFailed):
        text = str(exc)
    elif exc is not None:
        crash = getattr(report.longrepr, "reprcrash", None)
        text = crash.message if crash is not None else f"{type(exc).__name__}: {exc}"
    else:
        text = str(report.longrepr)
    return excerpt(text, MESSAGE_CHARS)
