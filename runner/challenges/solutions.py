"""A challenge's own solutions: the reference and flawed variants that prove its checks work.

A variant directory holds ``expected.toml`` (``fails``: the exact set of check ids it must fail,
optional ``base``: a sibling solution whose files it overlays). Materialising copies the base,
overlays the variant's files, and yields an ordinary submission directory.
"""

from __future__ import annotations

import shutil
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from runner.challenges.registry import Challenge
from runner.errors import ChallengeError

EXPECTED = "expected.toml"


class Expected(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    fails: list[str] = []
    base: str | None = None
    description: str = ""
    # A test suite of a kind = "tests" challenge (runner.grading.mutation): what its reference runs
    # must show; ``fails`` is then the mutants it must let survive.
    reference: Literal["passes", "flaky", "fails", "flaky-or-fails"] = "passes"


@dataclass(frozen=True)
class Solution:
    challenge: Challenge
    name: str
    expected: Expected

    @property
    def path(self) -> Path:
        return self.challenge.solutions_dir / self.name

    def materialize(self, dest: Path) -> Path:
        """Write the solution as a plain submission directory under ``dest``; return it."""
        base = None
        if self.expected.base:
            base = self.challenge.solutions_dir / self.expected.base
            if not base.is_dir():
                raise ChallengeError(f"{self.path / EXPECTED}: field 'base': {base} not found")
        return overlay(base, self.path, dest / self.name, EXPECTED)


def overlay(base: Path | None, layer: Path, out: Path, *skip: str) -> Path:
    """Copy ``base`` (if any) to ``out``, then ``layer``'s files on top, leaving out ``skip``.

    How a flawed variant (or a hostile test case) shares a reference's code and still builds as
    an ordinary submission directory. Symlinks are copied as links, never followed.
    """
    ignore = shutil.ignore_patterns(*skip, "__pycache__")
    if base is not None:
        shutil.copytree(base, out, symlinks=True, ignore=ignore)
    shutil.copytree(layer, out, symlinks=True, dirs_exist_ok=True, ignore=ignore)
    return out


def load_solution(challenge: Challenge, name: str) -> Solution:
    path = challenge.solutions_dir / name
    if not path.is_dir():
        known = ", ".join(challenge.solutions) or "none"
        raise ChallengeError(f"challenge {challenge.id} has no solution {name!r}; known: {known}")
    exp_path = path / EXPECTED
    raw = {}
    if exp_path.is_file():
        try:
            raw = tomllib.loads(exp_path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ChallengeError(f"{exp_path}: invalid TOML: {exc}") from None
    try:
        expected = Expected.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise ChallengeError(f"{exp_path}: field '{err['loc'][0]}': {err['msg']}") from None
    return Solution(challenge, name, expected)


def all_solutions(challenge: Challenge) -> list[Solution]:
    return [load_solution(challenge, n) for n in challenge.solutions]
