"""The one results model: every report is a view of it; the JSON Schema is generated from it.

Scoring (documented in the README):
- A check earns its points when it passes. A skill's percentage is its earned / possible points.
- Correctness (0-100) is the average of the skill percentages weighted by the challenge's skill
  weights (skills with no checks in this run are left out).
- With a load phase, the score is correctness and load combined by the challenge's
  ``correctness_weight`` and ``load_weight``; without one, the score is the correctness.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION: Literal[1] = 1
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


Outcome = Literal["passed", "failed", "error", "skipped"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CheckOutcome(_Model):
    id: str
    title: str
    skill: str
    outcome: Outcome
    points: float
    max_points: float
    hidden: bool
    message: str = ""
    duration_s: float = 0.0
    phase: Literal["checks", "after_load"] = "checks"


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
    oom_killed: bool = False
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
    schema_version: Literal[1] = SCHEMA_VERSION
    challenge: str
    challenge_title: str
    submission: str
    mode: Literal["interviewer", "candidate"] = "interviewer"
    verdict: Verdict
    verdict_detail: str = ""
    score: float = Field(ge=0, le=100)
    max_score: float = 100.0
    correctness_score: float = Field(0.0, ge=0, le=100)
    load_score: float | None = None
    checks: list[CheckOutcome] = []
    skills: list[SkillScore] = []
    timings: Timings = Timings()
    resources: Resources | None = None
    build_log_tail: str = ""
    service_log: CapturedOutput = CapturedOutput()
    load: dict[str, Any] | None = None
    calibration: dict[str, Any] | None = None  # load figures as ratios to the reference's
    manifest: Manifest

    @property
    def passed(self) -> int:
        return sum(c.outcome == "passed" for c in self.checks)

    def failed_ids(self) -> set[str]:
        return {c.id for c in self.checks if c.outcome != "passed"}

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
    if load is None or load_weight <= 0:
        return correct
    total = correctness_weight + load_weight
    return round((correct * correctness_weight + load * load_weight) / total, 2)


def json_schema() -> dict[str, Any]:
    schema = Results.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://github.com/assess/assess/schemas/results.schema.json"
    return schema
