"""The challenge registry: every ``challenges/<id>/challenge.toml``, validated on load.

A challenge is data (the toml, a brief, pytest checks, a load profile, sidecars, solutions);
adding one touches no runner code.
"""

from __future__ import annotations

import os
import tomllib
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from runner.challenges.checkscan import authoring_errors, hidden_count
from runner.errors import ChallengeError, UsageError

ID_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Scoring(_Strict):
    default_points: float = Field(1.0, gt=0)
    correctness_weight: float = Field(1.0, ge=0)
    load_weight: float = Field(0.0, ge=0)


class Sandbox(_Strict):
    cpus: float = Field(1.0, gt=0, le=16)
    memory_mb: int = Field(512, ge=32, le=65536)
    pids: int = Field(256, ge=16, le=65536)
    tmpfs_mb: int = Field(64, ge=1, le=4096)


class Limits(_Strict):
    build_s: float = Field(300, gt=0)
    ready_s: float = Field(30, gt=0)
    checks_s: float = Field(180, gt=0)
    check_s: float = Field(20, gt=0)
    load_s: float = Field(180, gt=0)


class Slo(_Strict):
    p95_ms: float = Field(gt=0)
    p99_ms: float = Field(gt=0)
    max_error_rate: float = Field(0.01, ge=0, le=1)


class LoadCounter(_Strict):
    """A sidecar figure read before and after the measured phase (e.g. upstream requests)."""

    sidecar: str
    path: str = Field(pattern=r"^/")
    field: str
    label: str


class Load(_Strict):
    locustfile: str = "load/locustfile.py"
    users: int = Field(10, ge=1, le=1000)
    # > users: capacity stages run rate x p95 SLO users (at most this many), so the rate is
    # not capped at users / latency; for profiles whose users are interchangeable
    max_users: int = Field(0, ge=0, le=2000)
    target_rps: float = Field(gt=0)
    warmup_s: float = Field(3, ge=0)
    duration_s: float = Field(10, gt=0)
    # The knee search above the target (graders.load.capacity): x step_factor until a stage misses
    # an SLO, then bisection to capacity_resolution; at most max_steps stages of step_s each
    # (0: no search) within capacity_budget_s of wall time.
    step_factor: float = Field(2.0, gt=1)
    max_steps: int = Field(10, ge=0, le=30)
    step_s: float = Field(5, ge=2)
    capacity_budget_s: float = Field(60, ge=0, le=900)
    capacity_resolution: float = Field(0.10, gt=0, le=1)
    slo: Slo
    counter: LoadCounter | None = None
    # sidecar figures reported per request of the measured stage, never scored
    figures: list[LoadCounter] = []
    # Which Locust request names the figures are taken from (None: every request). A WebSocket
    # profile offers publishes (rate_of) and is judged on deliveries (latency_of).
    rate_of: str | None = None
    latency_of: str | None = None


class Sidecar(_Strict):
    """A helper service of the pod: a script on the shared sidecar image (``command``), or a
    server with its own image (``dockerfile``, built from ``path``; e.g. PostgreSQL)."""

    name: str = Field(pattern=ID_PATTERN)
    path: str
    dockerfile: str | None = None  # relative to path; FROM assess/base:bookworm
    command: list[str] = []  # with dockerfile: empty = the image's own CMD
    port: int = Field(ge=1, le=65535)
    control_port: int = Field(0, ge=0, le=65535)  # 0: none (only with dockerfile)
    env: dict[str, str] = {}
    ready_s: float = Field(20, gt=0, le=600)  # port held (and ready_cmd exits 0) within this
    ready_cmd: list[str] = []  # exec'd in the sidecar until it exits 0
    user: str = ""  # docker --user; "" = the image's USER (script sidecars: root)
    memory_mb: int = Field(0, ge=0, le=65536)  # 0: 256 (script) or 512 (dockerfile)
    cpus: float = Field(0.5, gt=0, le=16)
    pids: int = Field(512, ge=16, le=65536)
    tmpfs: dict[str, int] = {}  # mount point -> MB (fresh on every start)

    @model_validator(mode="after")
    def _kind(self) -> Sidecar:
        if self.dockerfile is None:
            if not self.command:
                raise ValueError(f"sidecar {self.name!r}: give command (or dockerfile)")
            if not self.control_port:
                raise ValueError(f"sidecar {self.name!r}: give control_port (or dockerfile)")
        elif self.dockerfile.startswith("/") or ".." in self.dockerfile.split("/"):
            raise ValueError(f"sidecar {self.name!r}: dockerfile must be inside its path")
        for mount in self.tmpfs:
            if not mount.startswith("/") or ":" in mount or "," in mount:
                raise ValueError(f"sidecar {self.name!r}: tmpfs mount {mount!r} is not a path")
        return self

    @property
    def memory(self) -> int:
        return self.memory_mb or (512 if self.dockerfile else 256)


class Publication(_Strict):
    """Present in a public bundle (``assess pack --public``): the private part lives elsewhere."""

    part: Literal["public"]
    hidden_checks: int = Field(ge=0)


class Target(_Strict):
    """What a ``kind = "tests"`` challenge's suites are run against (runner.grading.mutation): a
    solution of another challenge, with a layer of mutant switches overlaid on it."""

    challenge: str = Field(pattern=ID_PATTERN)  # whose brief the suites test (e.g. rest-api)
    solution: str = "reference"  # that challenge's solution the mutants are made from
    mutants: str = "mutants"  # directory: mutants.toml (the table) and the layer's files
    start: str = Field(min_length=1)  # the layer's start command (reads ASSESS_MUTANT)
    reference_runs: int = Field(3, ge=1, le=10)  # passes in a row on the reference
    run_s: float = Field(60, gt=0, le=900)  # wall-clock budget of one suite run
    parallel: int = Field(2, ge=1, le=8)  # pods at once


class ChallengeConfig(_Strict):
    id: str = Field(pattern=ID_PATTERN)
    title: str
    version: str
    # "service": the candidate writes a service, checks grade it; "tests": the candidate
    # writes a test suite, the mutants of [target] it kills grade it
    kind: Literal["service", "tests"] = "service"
    target: Target | None = None
    summary: str = ""
    requirements: list[str] = []
    skills: dict[str, float] = Field(min_length=1)
    scoring: Scoring = Scoring()
    sandbox: Sandbox = Sandbox()
    limits: Limits = Limits()
    env: dict[str, str] = {}
    sidecars: list[Sidecar] = []
    load: Load | None = None
    publication: Publication | None = None

    @field_validator("skills")
    @classmethod
    def _positive_weights(cls, v: dict[str, float]) -> dict[str, float]:
        bad = [k for k, w in v.items() if w <= 0]
        if bad:
            raise ValueError(f"skill weights must be > 0 (not {', '.join(bad)})")
        return v

    @model_validator(mode="after")
    def _ports_distinct(self) -> ChallengeConfig:
        ports = [8080]
        for s in self.sidecars:
            ports += [s.port, s.control_port] if s.control_port else [s.port]
        if len(ports) != len(set(ports)):
            raise ValueError("sidecar ports must differ from each other and from 8080")
        if (self.kind == "tests") != (self.target is not None):
            raise ValueError('[target] goes with kind = "tests", and only with it')
        return self


class Challenge:
    """A loaded challenge: its validated config plus the paths of its parts."""

    def __init__(self, root: Path, config: ChallengeConfig) -> None:
        self.root = root
        self.config = config
        # Where the private part was joined from (a pack path or URL), if it was.
        self.private: str | None = None

    @property
    def complete(self) -> bool:
        """Both parts present: a bundled challenge, or a public bundle joined with its pack."""
        return self.config.publication is None or self.private is not None

    @property
    def hidden_checks(self) -> int:
        """How many hidden checks the challenge has (announced by a public bundle)."""
        if self.config.publication is not None and self.private is None:
            return self.config.publication.hidden_checks
        if self.config.kind == "tests":  # its mutants are its hidden checks
            return len(load_mutants(self))

        return hidden_count(self.checks_dir)

    @property
    def id(self) -> str:
        return self.config.id

    @property
    def checks_dir(self) -> Path:
        return self.root / "checks"

    @property
    def brief(self) -> Path:
        return self.root / "README.md"

    @property
    def solutions_dir(self) -> Path:
        return self.root / "solutions"

    @cached_property
    def solutions(self) -> list[str]:
        if not self.solutions_dir.is_dir():
            return []
        return sorted(p.name for p in self.solutions_dir.iterdir() if p.is_dir())

    def __repr__(self) -> str:
        return f"<Challenge {self.id} {self.config.version}>"


def _format_validation(path: Path, exc: ValidationError) -> str:
    err = exc.errors()[0]
    field = ".".join(str(p) for p in err["loc"]) or "(top level)"
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{path}: field '{field}': {err['msg']}{more}"


def load_challenge(root: Path) -> Challenge:
    """Load and validate one challenge directory."""
    path = root / "challenge.toml"
    try:
        raw: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ChallengeError(
            f"{root}: no challenge.toml; a challenge directory needs one"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ChallengeError(f"{path}: invalid TOML: {exc}") from None
    try:
        config = ChallengeConfig.model_validate(raw)
    except ValidationError as exc:
        raise ChallengeError(_format_validation(path, exc)) from None
    if config.id != root.name:
        raise ChallengeError(
            f"{path}: field 'id' is {config.id!r} but the directory is {root.name!r}"
        )
    if config.kind == "tests":
        # a public bundle has no mutants (they are its hidden checks, in the private pack)
        errors = mutant_errors(root, config) if config.publication is None else []
        if errors:
            raise ChallengeError(f"{path}: {errors[0]}")
        return Challenge(root, config)
    if not (root / "checks").is_dir():
        raise ChallengeError(f"{root}: no checks/ directory")
    if config.load and not (root / config.load.locustfile).is_file():
        raise ChallengeError(f"{path}: field 'load.locustfile': {config.load.locustfile} not found")
    counter = config.load.counter if config.load else None
    if counter and counter.sidecar not in {s.name for s in config.sidecars}:
        raise ChallengeError(
            f"{path}: field 'load.counter.sidecar': no sidecar {counter.sidecar!r}"
        )
    for i, fig in enumerate(config.load.figures if config.load else []):
        if fig.sidecar not in {s.name for s in config.sidecars}:
            raise ChallengeError(
                f"{path}: field 'load.figures[{i}].sidecar': no sidecar {fig.sidecar!r}"
            )
    for s in config.sidecars:
        if not (root / s.path).is_dir():
            raise ChallengeError(f"{path}: sidecar {s.name!r}: path {s.path} not found")
        if s.dockerfile and not (root / s.path / s.dockerfile).is_file():
            raise ChallengeError(
                f"{path}: sidecar {s.name!r}: dockerfile {s.path}/{s.dockerfile} not found"
            )

    # A check without a skill, or with a misspelled one, would silently score under "general":
    # an authoring error, refused wherever the challenge is loaded.
    errors = authoring_errors(root / "checks", set(config.skills))
    if errors:
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise ChallengeError(f"{root}: {errors[0]}{more}")
    return Challenge(root, config)


def default_challenges_dir() -> Path:
    env = os.environ.get("ASSESS_CHALLENGES")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "challenges"


class Registry:
    """All challenges under one directory, discovered by their challenge.toml."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root or default_challenges_dir()

    def ids(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.parent.name for p in self.root.glob("*/challenge.toml"))

    def get(self, challenge_id: str) -> Challenge:
        candidate = Path(challenge_id)
        if candidate.is_dir() and (candidate / "challenge.toml").is_file():
            return load_challenge(candidate.resolve())
        if challenge_id not in self.ids():
            known = ", ".join(self.ids()) or "none"
            raise UsageError(
                f"unknown challenge {challenge_id!r}; known: {known} (see `assess list`)"
            )
        return load_challenge(self.root / challenge_id)

    def all(self) -> list[Challenge]:
        return [self.get(i) for i in self.ids()]


# -- a tests challenge's mutants and target (its hidden checks are its mutants) -----------------
MUTANTS_FILE = "mutants.toml"


class Mutant(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    skill: str
    description: str = Field(min_length=1)
    hidden: bool = True


class MutantTable(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    mutant: list[Mutant] = Field(min_length=1)


def _read_table(path: Path) -> MutantTable:
    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    return MutantTable.model_validate(raw)


def mutant_errors(root: Path, config: ChallengeConfig) -> list[str]:
    """What is wrong with a tests challenge's target and mutant table (empty: nothing)."""
    target = config.target
    assert target is not None
    layer = root / target.mutants
    if not (target_root(root, target.challenge) / "challenge.toml").is_file():
        return [f"field 'target.challenge': no challenge {target.challenge!r} beside this one"]
    if not (layer / MUTANTS_FILE).is_file():
        return [f"field 'target.mutants': {target.mutants}/{MUTANTS_FILE} not found"]
    try:
        table = _read_table(layer / MUTANTS_FILE)
    except (tomllib.TOMLDecodeError, ValidationError) as exc:
        return [f"{target.mutants}/{MUTANTS_FILE}: {str(exc).splitlines()[0]}"]
    errors = []
    ids = [m.id for m in table.mutant]
    if len(ids) != len(set(ids)):
        errors.append(f"{target.mutants}/{MUTANTS_FILE}: mutant ids must be unique")
    for m in table.mutant:
        if m.skill not in config.skills:
            errors.append(
                f"{target.mutants}/{MUTANTS_FILE}: mutant {m.id!r}: skill {m.skill!r} is not in "
                f"[skills] ({', '.join(sorted(config.skills))})"
            )
    return errors


def load_mutants(challenge: Challenge) -> list[Mutant]:
    target = challenge.config.target
    assert target is not None
    return list(_read_table(challenge.root / target.mutants / MUTANTS_FILE).mutant)


def target_root(root: Path, name: str) -> Path:
    """The target challenge's directory: beside this one, else in the registry (a challenge
    joined from a private pack lives in a work directory of its own)."""
    beside = root.parent / name
    return beside if (beside / "challenge.toml").is_file() else default_challenges_dir() / name


def target_challenge(challenge: Challenge) -> Challenge:
    assert challenge.config.target is not None
    return load_challenge(target_root(challenge.root, challenge.config.target.challenge))
