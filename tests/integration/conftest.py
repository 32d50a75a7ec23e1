"""Integration fixtures: the real Docker engine, and graded runs whose JSON is schema-checked."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from runner.challenges.registry import Challenge, Registry
from runner.grading.labels import LABEL_MANAGED, LABEL_PID
from runner.grading.pipeline import RunOptions, grade
from runner.grading.pod import _alive
from runner.intake.submission import load_submission
from runner.results import Results
from tests.conftest import validate_results_json

pytestmark = pytest.mark.docker


@pytest.fixture(scope="session")
def client() -> Any:
    from runner.grading.pod import docker_client

    return docker_client()


def managed_containers(client: Any, owner: int | None = None) -> list[Any]:
    """Our labelled containers: those of ``owner`` if given, else of this process or of any
    dead process (a leak). Runs of other live processes (parallel sessions) are not ours."""
    out = []
    for c in client.containers.list(
        all=True, ignore_removed=True, filters={"label": f"{LABEL_MANAGED}=true"}
    ):
        pid = int(c.labels.get(LABEL_PID, "0") or 0)
        if owner is not None:
            if pid == owner:
                out.append(c)
        elif pid == os.getpid() or not _alive(pid):
            out.append(c)
    return out


@pytest.fixture
def no_leaks(client: Any) -> Iterator[None]:
    """Fails the test if it leaves any labelled container behind."""
    yield
    left = [c.name for c in managed_containers(client)]
    assert not left, f"containers left behind: {left}"


Grader = Callable[..., Results]


@pytest.fixture
def graded(client: Any, tmp_path: Path, no_leaks: None) -> Grader:
    """Grade a submission for real; validate its results JSON against the shipped schema."""

    def run(challenge: Challenge | str, submission: Path, **opts: Any) -> Results:
        ch = challenge if isinstance(challenge, Challenge) else Registry().get(challenge)
        opts.setdefault("skip_load", True)
        results = grade(client, ch, load_submission(submission), RunOptions(**opts))
        path = tmp_path / f"results-{ch.id}-{submission.name}.json"
        results.write_json(path)
        validate_results_json(path.read_text())
        return results

    return run
