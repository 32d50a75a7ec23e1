"""The one results model: every report is a view of it; the JSON Schema is generated from it.

Scoring (documented in the README), failing closed:
- Every check the run planned is in the results. A check earns its points only when it passed;
  one that never ran (``not_run``: phase timeout, crash, interruption, grader error) earns 0.
  A skill's percentage is its earned / possible points over every planned check.
- Correctness (0-100) is the average of the skill percentages weighted by the challenge's skill
  weights.
- With a load phase requested, the score is correctness and load combined by the challenge's
  ``correctness_weight`` and ``load_weight``; a requested load phase that produced no result
  counts as 0 load points (``load_missing`` says why). Without one, the score is the correctness.
- A failed (or not run) critical check caps the score at :data:`CRITICAL_CAP`.
- ``tampered`` scores 0.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from graders.protocol import CheckResult, LoadResult, Outcome, ServiceAnswer

SCHEMA_VERSION: Literal[2] = 2
CRITICAL_CAP = 50.0
SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schemas" / "results.schema.json"


class Verdict(StrEnum):
    GRADED = "graded"  # the service ran and was graded (its score says how well)
    BUILD_FAILED = "build_failed"
    NOT_READY = "not_ready"  # never answered GET /healthz with 200 in time
    CRASHED = "crashed"  # exited while being graded
    TIMEOUT = "timeout"  # a phase exceeded its wall-time limit
    RESOURCE_LIMIT = "resource_limit"  # killed by a limit (memory: the OOM killer)
    TAMPERED = "tampered"  # tried to impersonate the grader or a sidecar
    ERROR = "error"  # the grader itself failed
    INTERRUPTED = "interrupted"  # Ctrl-C: the checks run so far, the rest not_run (exit 130)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


# One check's outcome: the protocol's dataclass, shared with the grader.
CheckOutcome = CheckResult
__all__ = ["CheckOutcome", "LoadResult", "Outcome"]


class SkillScore(_Model):
    skill: str
    weight: float
    points: float
    max_points: float
    percent: float
    passed: int
    total: int


class Timings(_Model):
    build_s: float = 0.0
    ready_s: float = 0.0
    checks_s: float = 0.0
    load_s: float = 0.0
    total_s: float = 0.0


class ResourceSample(_Model):
    t: float
    cpu_s: float
    mem_mb: float
    pids: int


class Resources(_Model):
    """What the candidate's container used, as a judge's meta file would say."""

    cpus: float
    memory_limit_mb: int
    pids_limit: int
    cpu_s: float = 0.0
    peak_memory_mb: float = 0.0
    peak_pids: int = 0
    oom_killed: bool = False  # the main process was killed by the OOM killer
    oom_kills: int = 0  # processes of the candidate the OOM killer killed (children included)
    exit_code: int | None = None
    signal: str | None = None
    samples: list[ResourceSample] = []


class CapturedOutput(_Model):
    text: str = ""
    total_bytes: int = 0
    dropped_bytes: int = 0


class Manifest(_Model):
    """What is needed to reproduce (or distrust) a result."""

    assess_version: str
    run_id: str
    started_at: str
    challenge_version: str
    seed: int
    candidate_image: str | None = None
    grader_image: str | None = None
    grader_code_sha256: str | None = None
    tools: dict[str, str] = {}
    host: dict[str, Any] = {}


class Results(_Model):
    schema_version: Literal[2] = SCHEMA_VERSION
    challenge: str
    challenge_title: str
    submission: str
    mode: Literal["interviewer", "candidate"] = "interviewer"
    # "tests": a candidate's test suite graded by the mutants it kills (checks are mutants,
    # service_log is the suite's output, there is no service start-up to time)
    kind: Literal["service", "tests"] = "service"
    verdict: Verdict
    verdict_detail: str = ""
    score: float = Field(ge=0, le=100)
    max_score: float = 100.0
    correctness_score: float = Field(0.0, ge=0, le=100)
    load_score: float | None = None
    checks: list[CheckResult] = []
    critical_failed: list[str] = []  # ids of critical checks that did not pass
    score_notes: list[str] = []  # why the score is what it is (caps, missing phases)
    skills: list[SkillScore] = []
    timings: Timings = Timings()
    resources: Resources | None = None
    build_log_tail: str = ""
    service_log: CapturedOutput = CapturedOutput()
    load: LoadResult | None = None
    load_requested: bool = False
    load_missing: str = ""  # why a requested load phase has no result (it then scores 0)
    # what checks asked the host to do to the pod's services (kill, stop, start, restart)
    service_actions: list[ServiceAnswer] = []
    grader_errors: list[str] = []
    calibration: dict[str, Any] | None = None  # load figures as ratios to the reference's
    manifest: Manifest

    @property
    def passed(self) -> int:
        return sum(c.outcome == "passed" for c in self.checks)

    def failed_ids(self) -> set[str]:
        return {c.id for c in self.checks if c.outcome != "passed"}

    @property
    def not_run(self) -> int:
        return sum(c.outcome == Outcome.NOT_RUN for c in self.checks)

    def to_json(self) -> str:
        return self.model_dump_json(indent=2)

    def write_json(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.to_json() + "\n", encoding="utf-8")


def score_skills(checks: list[CheckOutcome], weights: dict[str, float]) -> list[SkillScore]:
    out = []
    for skill in sorted({c.skill for c in checks}, key=lambda s: (-weights.get(s, 1.0), s)):
        mine = [c for c in checks if c.skill == skill]
        possible = sum(c.max_points for c in mine)
        earned = sum(c.points for c in mine)
        out.append(
            SkillScore(
                skill=skill,
                weight=weights.get(skill, 1.0),
                points=earned,
                max_points=possible,
                percent=round(100.0 * earned / possible, 2) if possible else 0.0,
                passed=sum(c.outcome == "passed" for c in mine),
                total=len(mine),
            )
        )
    return out


def correctness(skills: list[SkillScore]) -> float:
    total_weight = sum(s.weight for s in skills)
    if not total_weight:
        return 0.0
    return round(sum(s.percent * s.weight for s in skills) / total_weight, 2)


def combine(
    correct: float, load: float | None, correctness_weight: float, load_weight: float
) -> float:
    """Correctness and load by weight; ``load`` None means no load phase was requested (a
    requested phase without a result is passed in as 0, never as None)."""
    if load is None or load_weight <= 0:
        return correct
    total = correctness_weight + load_weight
    return round((correct * correctness_weight + load * load_weight) / total, 2)


def apply_caps(score: float, checks: list[CheckResult]) -> tuple[float, list[str], list[str]]:
    """The score after the critical-check cap: (score, failed critical ids, notes)."""
    failed = [c.id for c in checks if c.critical and c.outcome != Outcome.PASSED]
    notes: list[str] = []
    if failed and score > CRITICAL_CAP:
        notes.append(
            f"capped at {CRITICAL_CAP:g} (from {score:g}): critical check"
            f"{'s' if len(failed) > 1 else ''} not passed: {', '.join(failed)}"
        )
        score = CRITICAL_CAP
    return score, failed, notes


def json_schema() -> dict[str, Any]:
    schema = Results.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://github.com/assess/assess/schemas/results.schema.json"
    return schema
