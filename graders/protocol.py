"""The typed protocol between the host and the grader: the plan, the events, the results file.

Both sides import this one module (the grader image has no pydantic: frozen dataclasses only),
so a field or an event kind cannot drift between them, and defaults are stated once.

- The host writes a :class:`Plan` (JSON) into the grader container.
- The grader streams events on stdout, one line each: ``@assess {"event": KIND, "t": s, ...}``.
  Kinds are :class:`EventKind`; each has one dataclass in :data:`EVENT_TYPES`. The host handles
  every kind (a unit test holds it to that).
- At the end (and after each phase) the grader writes a :class:`GraderOutcome` to the plan's
  ``results_path``: the record, which the host reads back out of the container.

Decoding is strict: a line that starts with the prefix but does not decode into its kind's
dataclass raises :class:`ProtocolError`, which the host turns into a grader error (fail closed).
Lines without the prefix (stray prints in checks) are ignored.
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar, Literal, TypeVar, Union

EVENT_PREFIX = "@assess "
PROTOCOL_VERSION = 2

T = TypeVar("T")


class ProtocolError(ValueError):
    """A message between host and grader that does not match this module's types."""


class Phase(StrEnum):
    READY = "ready"
    CHECKS = "checks"
    LOAD = "load"
    AFTER_LOAD = "after_load"


class Outcome(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"  # the check itself raised something other than a failed expectation
    SKIPPED = "skipped"
    NOT_RUN = "not_run"  # planned but never reached (timeout, crash, interruption): earns 0


# -- checks --------------------------------------------------------------------------------
@dataclass(frozen=True)
class CheckInfo:
    """A check as collected, before it runs: what the run will execute."""

    id: str
    title: str
    skill: str
    max_points: float
    hidden: bool = False
    phase: Literal["checks", "after_load"] = "checks"
    critical: bool = False


@dataclass(frozen=True)
class CheckResult:
    id: str
    title: str
    skill: str
    outcome: Outcome
    points: float
    max_points: float
    hidden: bool = False
    message: str = ""
    duration_s: float = 0.0
    phase: Literal["checks", "after_load"] = "checks"
    critical: bool = False

    @classmethod
    def from_info(cls, info: CheckInfo, outcome: Outcome, message: str = "") -> CheckResult:
        return cls(
            id=info.id,
            title=info.title,
            skill=info.skill,
            outcome=outcome,
            points=info.max_points if outcome == Outcome.PASSED else 0.0,
            max_points=info.max_points,
            hidden=info.hidden,
            message=message,
            phase=info.phase,
            critical=info.critical,
        )

    def info(self) -> CheckInfo:
        return CheckInfo(
            self.id, self.title, self.skill, self.max_points, self.hidden, self.phase, self.critical
        )


# -- the plan ------------------------------------------------------------------------------
@dataclass(frozen=True)
class SidecarSpec:
    name: str
    url: str  # control endpoint
    token: str
    port: int
    control_port: int


@dataclass(frozen=True)
class Slo:
    p95_ms: float
    p99_ms: float
    max_error_rate: float = 0.01


@dataclass(frozen=True)
class CounterSpec:
    """A sidecar figure read before and after the measured phase (e.g. upstream requests)."""

    sidecar: str
    path: str
    field: str
    label: str


MASTER_PORT = 5557


# The load generator's time constants, named once: graders.load.generator waits them, and
# LoadPlan.time_budget_s budgets for them.
RECOVER_S = 2.0  # the back-off after a capacity stage that missed an SLO
STAGE_SLACK_S = 1.0  # a stage's pacing, merging and a second's slack
STARTUP_S = 30.0  # Locust's start (and the locustfile's import) before the first stage
WORKER_STARTUP_S = 10.0  # each distributed worker joining the master


@dataclass(frozen=True)
class LoadPlan:
    target_rps: float
    slo: Slo
    locustfile: str = "load/locustfile.py"
    users: int = 10
    max_users: int = 0  # > users: capacity stages scale users with the rate (loadgen.users_for)
    warmup_s: float = 3.0
    duration_s: float = 10.0
    step_factor: float = 2.0  # the knee search's geometric step
    max_steps: int = 10  # at most this many capacity stages (0: no capacity search)
    step_s: float = 5.0  # one capacity stage, settle second included
    capacity_budget_s: float = 60.0  # wall time of the whole knee search
    capacity_resolution: float = 0.10  # bisect until upper / lower <= 1 + this
    settle_s: float = 1.0  # first seconds of a capacity stage, run but not counted
    reference_capacity_rps: float | None = None  # the calibrated reference's, on this host
    generator_ceiling_rps: float | None = None  # the generator's measured ceiling, on this host
    ceiling_margin: float = 0.15  # a capacity this close to the ceiling is the generator's
    counter: CounterSpec | None = None
    figures: tuple[CounterSpec, ...] = ()  # reported per request, not scored
    rate_of: str | None = None  # request name the achieved rate counts (None: all)
    latency_of: str | None = None  # request name the latency percentiles use (None: all)
    workers: int = 0  # Locust distributed mode: 0 = one local runner
    master_port: int = MASTER_PORT
    secret: str = ""  # per run: workers sign their windows with it; never on the loopback

    def time_budget_s(self) -> float:
        """Wall time the load phase may take, start-up included. The knee search starts no
        stage that would end past its budget, so a stage (and a second's slack) bounds it."""
        # a stage: step_s, its slack, and the back-off after a failed one
        stage = self.step_s + STAGE_SLACK_S + RECOVER_S
        search = min(self.capacity_budget_s, self.max_steps * stage)
        search += self.step_s + STAGE_SLACK_S if self.max_steps else 0.0
        startup = STARTUP_S + WORKER_STARTUP_S * self.workers
        return self.warmup_s + self.duration_s + search + startup


@dataclass(frozen=True)
class Plan:
    service_url: str
    challenge_dir: str
    results_path: str
    mode: Literal["interviewer", "candidate"] = "interviewer"
    seed: int = 1
    phases: tuple[Phase, ...] = (Phase.READY, Phase.CHECKS, Phase.AFTER_LOAD)
    default_points: float = 1.0
    check_timeout_s: float = 20.0
    ready_timeout_s: float = 30.0
    checks_timeout_s: float = 180.0  # the whole checks phase (each of checks, after_load)
    sidecars: tuple[SidecarSpec, ...] = ()
    load: LoadPlan | None = None
    log_dir: str = ""  # where the host drops the service's output for checks ("" = unavailable)
    version: int = PROTOCOL_VERSION
    # A partial run (graders/selection.py): these check ids, or those matching -k; none: all.
    select: tuple[str, ...] = ()
    keyword: str = ""
    fail_fast: bool = False  # stop at the first check that does not pass (the rest: not_run)
    # Service control (graders.services): the names a check may kill/stop/start/restart
    # ("candidate" and sidecar names; empty: the capability is absent, as in --url mode), the
    # per-grading secret each request carries, and how many requests the host honours.
    services: tuple[str, ...] = ()
    service_secret: str = ""
    max_service_requests: int = 0
    service_wait_s: float = 90.0  # how long a check waits for the host's answer


# -- load ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class NameStats:
    """Figures of one request name (e.g. ``delivery`` or ``connect`` for WebSocket profiles)."""

    requests: int
    failures: int
    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None


@dataclass(frozen=True)
class FailureGroup:
    """Failed requests of one name with one message (numbers masked as ``#``): how many, and the
    first as it came. Like Locust's failures table, so a report says why requests failed."""

    name: str
    kind: str  # the exception's class, e.g. CatchResponseError, ConnectionRefusedError
    message: str  # masked: "get desk #: no ETag"
    count: int
    example: str  # the first message, unmasked (capped, control characters dropped)


@dataclass(frozen=True)
class Stage:
    """One stage of the load phase (warm-up, measured, a capacity step).

    Latency percentiles are over successful requests only: a service that fails fast must not
    look fast. ``error_rate`` is 1.0 when nothing was measured (fail closed).
    """

    stage: str
    rps_offered: float
    achieved_rps: float
    requests: int
    failures: int
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    error_rate: float
    generator_cpu: float
    failures_by_kind: dict[str, int] = field(default_factory=dict)
    by_name: dict[str, NameStats] = field(default_factory=dict)
    ok: bool | None = None  # steps: every SLO met
    generator_lag_ms: float | None = None  # the generator's scheduling delay (p95, mean/s)
    failure_groups: tuple[FailureGroup, ...] = ()  # most frequent first (at most MAX_GROUPS)


@dataclass(frozen=True)
class SloRow:
    """One SLO as every report shows it."""

    key: Literal["rate", "p95", "p99", "errors"]
    label: str
    actual: float | None
    target: float
    unit: str
    comparator: Literal[">=", "<="]
    met: bool


@dataclass(frozen=True)
class LoadSample:
    """One second of the load phase; the host stamps the candidate's CPU and memory."""

    t: float
    stage: str
    rps: float
    p50_ms: float | None
    p95_ms: float | None
    errors: int
    users: int
    generator_cpu: float
    workers_cpu: tuple[float, ...] = ()
    gauges: dict[str, float] = field(default_factory=dict)
    cpu_s: float | None = None
    mem_mb: float | None = None
    cpu_pct: float | None = None


@dataclass(frozen=True)
class CounterResult:
    label: str
    value: float
    requests: int
    saved: float


@dataclass(frozen=True)
class FigureResult:
    """A sidecar figure reported per request of the measured stage, never scored (e.g. database
    statements per request); None when it could not be read before and after (not measured)."""

    label: str
    value: float | None
    requests: int
    per_request: float | None


@dataclass(frozen=True)
class LoadResult:
    measured: Stage
    target_rps: float
    users: int
    slo: Slo
    slo_rows: tuple[SloRow, ...]
    slo_met: bool
    capacity_rps: float
    capacity_is_lower_bound: bool
    generator_saturated: bool
    score: float
    steps: tuple[Stage, ...] = ()
    series: tuple[LoadSample, ...] = ()
    counter: CounterResult | None = None
    figures: tuple[FigureResult, ...] = ()
    gauges: dict[str, float] = field(default_factory=dict)  # peak of each over the measured stage
    rate_of: str | None = None
    latency_of: str | None = None
    seed: int = 1
    workers: int = 0
    workers_cpu: tuple[float, ...] = ()
    duration_s: float = 0.0
    # the knee search (see graders.load.capacity): capacity_rps is the achieved rate at
    # capacity_lower_rps, the highest offered rate that met every SLO
    capacity_lower_rps: float = 0.0
    capacity_upper_rps: float | None = None  # the lowest offered rate that missed one
    capacity_stop: Literal["service", "generator", "budget", ""] = ""  # "": no search ran
    capacity_search_s: float = 0.0
    generator_ceiling_rps: float | None = None
    generator_limited: bool = False  # the figure is the generator's, not the service's
    reference_capacity_rps: float | None = None


# -- events --------------------------------------------------------------------------------
class EventKind(StrEnum):
    PHASE = "phase"
    READY = "ready"
    PLANNED = "planned"
    CHECK = "check"
    LOAD_SAMPLE = "load_sample"
    LOAD_RESULT = "load_result"
    ERROR = "error"
    TAMPERED = "tampered"
    LOG_REQUEST = "log_request"
    SERVICE_REQUEST = "service_request"
    DONE = "done"


@dataclass(frozen=True)
class PhaseEvent:
    """A phase started or ended."""

    kind: ClassVar[EventKind] = EventKind.PHASE
    phase: Phase
    state: Literal["start", "end"]


@dataclass(frozen=True)
class ReadyEvent:
    """The service answered GET /healthz with 200 (ok), or not within the deadline."""

    kind: ClassVar[EventKind] = EventKind.READY
    ok: bool
    ready_s: float
    message: str = ""


@dataclass(frozen=True)
class PlannedEvent:
    """Every check the run will execute, collected before any runs (fail closed: see host)."""

    kind: ClassVar[EventKind] = EventKind.PLANNED
    checks: tuple[CheckInfo, ...]


@dataclass(frozen=True)
class CheckEvent:
    kind: ClassVar[EventKind] = EventKind.CHECK
    result: CheckResult


@dataclass(frozen=True)
class LoadSampleEvent:
    kind: ClassVar[EventKind] = EventKind.LOAD_SAMPLE
    sample: LoadSample


@dataclass(frozen=True)
class LoadResultEvent:
    kind: ClassVar[EventKind] = EventKind.LOAD_RESULT
    result: LoadResult


@dataclass(frozen=True)
class ErrorEvent:
    """The grader or the challenge failed (our side): the run's verdict becomes ``error``."""

    kind: ClassVar[EventKind] = EventKind.ERROR
    message: str
    phase: str = ""


@dataclass(frozen=True)
class TamperedEvent:
    """Something in the pod spoke to or took over the grader's own machinery."""

    kind: ClassVar[EventKind] = EventKind.TAMPERED
    message: str


@dataclass(frozen=True)
class LogRequestEvent:
    """A check asks for the service's recent output (the grader cannot see the candidate's
    container; the host can): the host writes it to ``{plan.log_dir}/{token}.log`` and then
    ``{token}.done`` into the grader's filesystem."""

    kind: ClassVar[EventKind] = EventKind.LOG_REQUEST
    token: str


ServiceAction = Literal["kill", "stop", "start", "restart"]


@dataclass(frozen=True)
class ServiceRequestEvent:
    """A check asks the host to kill, stop, start or restart a service of the pod.

    The host acts (only on ``plan.services``, at most ``plan.max_service_requests`` times, only
    with ``plan.service_secret``), then writes a :class:`ServiceAnswer` as JSON to
    ``{plan.log_dir}/{token}.svc.json`` and ``{token}.svc.done`` into the grader's filesystem.
    """

    kind: ClassVar[EventKind] = EventKind.SERVICE_REQUEST
    token: str
    service: str
    action: ServiceAction
    secret: str
    grace_s: float = 10.0


@dataclass(frozen=True)
class ServiceAnswer:
    """What the host did about one :class:`ServiceRequestEvent` (also the results' timeline)."""

    service: str
    action: str
    ok: bool
    message: str = ""
    exit_code: int | None = None  # of the process that was stopped or killed
    exited_in_grace: bool | None = None  # stop/restart: it exited on SIGTERM within the grace
    seconds: float = 0.0  # the whole action, host side
    ready_s: float | None = None  # start/restart: from start to ready (host side)
    t: float = 0.0  # seconds since the grading started (host clock)


@dataclass(frozen=True)
class DoneEvent:
    """The grader finished normally (the results file is complete)."""

    kind: ClassVar[EventKind] = EventKind.DONE


Event = Union[  # noqa: UP007 (runtime alias used by isinstance-free dispatch)
    PhaseEvent,
    ReadyEvent,
    PlannedEvent,
    CheckEvent,
    LoadSampleEvent,
    LoadResultEvent,
    ErrorEvent,
    TamperedEvent,
    LogRequestEvent,
    ServiceRequestEvent,
    DoneEvent,
]
# One type per kind, derived from the union above (a kind cannot be listed in one and not the other).
EVENT_TYPES: dict[EventKind, type[Any]] = {cls.kind: cls for cls in typing.get_args(Event)}


@dataclass(frozen=True)
class GraderOutcome:
    """The grader's results file: the record the host builds the results from."""

    ready: ReadyEvent | None = None
    planned: tuple[CheckInfo, ...] = ()
    checks: tuple[CheckResult, ...] = ()
    load: LoadResult | None = None
    errors: tuple[str, ...] = ()
    finished: bool = False  # the grader reached its end (``done``)
    version: int = PROTOCOL_VERSION


# -- encoding ------------------------------------------------------------------------------
def _plain(value: Any) -> Any:
    """A dataclass tree as JSON-ready values; non-finite floats become None."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, StrEnum):
        return str(value)
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def to_dict(obj: Any) -> dict[str, Any]:
    out = _plain(obj)
    assert isinstance(out, dict)
    return out


def dumps(obj: Any) -> str:
    return json.dumps(to_dict(obj), allow_nan=False)


_HINTS: dict[type[Any], dict[str, Any]] = {}


def _hints(cls: type[Any]) -> dict[str, Any]:
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def _build(tp: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _build(arg, value, where)
            except ProtocolError as exc:
                errors.append(str(exc))
        raise ProtocolError(f"{where}: {value!r} matches none of {tp}")
    if origin is Literal:
        if value not in args:
            raise ProtocolError(f"{where}: {value!r} is not one of {args}")
        return value
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ProtocolError(f"{where}: expected a list, got {type(value).__name__}")
        return tuple(_build(args[0], v, f"{where}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise ProtocolError(f"{where}: expected an object, got {type(value).__name__}")
        return {str(k): _build(args[1], v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(tp, type) and issubclass(tp, StrEnum):
        try:
            return tp(value)
        except ValueError:
            raise ProtocolError(f"{where}: {value!r} is not a {tp.__name__}") from None
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return from_dict(tp, value, where)
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ProtocolError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ProtocolError(f"{where}: expected an integer, got {value!r}")
        return value
    if tp in (str, bool):
        if not isinstance(value, tp):
            raise ProtocolError(f"{where}: expected {tp.__name__}, got {value!r}")
        return value
    raise ProtocolError(f"{where}: cannot decode type {tp}")  # pragma: no cover (a bug here)


def from_dict(cls: type[T], data: Any, where: str = "") -> T:
    """Build a dataclass from JSON values, strictly: unknown or missing fields are errors."""
    where = where or cls.__name__
    if not isinstance(data, dict):
        raise ProtocolError(f"{where}: expected an object, got {type(data).__name__}")
    hints = _hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = set(data) - set(fields)
    if unknown:
        raise ProtocolError(f"{where}: unknown fields {sorted(unknown)}")
    kwargs = {}
    for name, f in fields.items():
        if name in data:
            kwargs[name] = _build(hints[name], data[name], f"{where}.{name}")
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ProtocolError(f"{where}: missing field {name!r}")
    return cls(**kwargs)


def loads(cls: type[T], text: str) -> T:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ProtocolError(f"{cls.__name__}: not JSON ({exc})") from None
    return from_dict(cls, data)


def encode_event(event: Event, t: float) -> str:
    """One event as its line (without the newline)."""
    payload = {"event": str(event.kind), "t": round(t, 3), **to_dict(event)}
    return EVENT_PREFIX + json.dumps(payload, allow_nan=False)


def decode_event(line: str) -> tuple[float, Event] | None:
    """``(t, event)`` for an event line; None for any other line; ProtocolError if malformed."""
    line = line.strip()
    if not line.startswith(EVENT_PREFIX):
        return None
    try:
        payload = json.loads(line[len(EVENT_PREFIX) :])
    except ValueError as exc:
        raise ProtocolError(f"event line is not JSON ({exc})") from None
    if not isinstance(payload, dict):
        raise ProtocolError("event line is not a JSON object")
    try:
        kind = EventKind(payload.pop("event", None))
    except ValueError:
        raise ProtocolError("event line has an unknown kind") from None
    t = payload.pop("t", 0.0)
    if isinstance(t, bool) or not isinstance(t, int | float):
        raise ProtocolError(f"{kind} event: t is not a number")
    event: Event = from_dict(EVENT_TYPES[kind], payload)
    return float(t), event
