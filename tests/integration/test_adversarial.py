"""Hostile submissions, graded through the real sandbox: each must end in its expected verdict,
in bounded time, with partial results kept, without a traceback, and with nothing left behind.

The cases live in tests/adversarial/<case>/ (a submission, or an overlay on the base its
case.toml names, plus case.toml); see its README.
"""

from __future__ import annotations

import os
import socket
import time
import tomllib
from pathlib import Path
from typing import Any

import pytest

from runner.challenges.registry import load_challenge
from runner.challenges.solutions import overlay
from runner.grading.labels import LABEL_HOST, LABEL_PID, LABEL_RUN
from runner.grading.pipeline import RunOptions, grade
from runner.grading.pod import docker_client
from runner.intake.submission import load_submission
from runner.results import Results, Verdict

from ..conftest import validate_results_json

pytestmark = pytest.mark.docker

REPO = Path(__file__).resolve().parents[2]
ROOT = REPO / "tests" / "adversarial"
CASE = "case.toml"
CHALLENGES = ROOT / "_challenges"
CASES = sorted(p.parent for p in ROOT.glob(f"*/{CASE}"))
KNOWN_FIELDS = {
    "base",
    "verdict",
    "max_seconds",
    "challenge",
    "detail_contains",
    "passed_checks",
    "failed_checks",
    "message_contains",
    "log_contains",
    "log_excludes",
    "exit_code",
    "min_peak_pids",
    "min_dropped_bytes",
    "build_log_contains",
    "max_score",
}
# Verdicts for which the service answered /healthz, so the checks ran and must be reported.
CHECKS_RAN = {Verdict.GRADED, Verdict.RESOURCE_LIMIT}


def load_case(case_dir: Path) -> dict[str, Any]:
    case = tomllib.loads((case_dir / CASE).read_text())
    unknown = set(case) - KNOWN_FIELDS
    assert not unknown, f"{case_dir.name}/{CASE}: unknown fields {sorted(unknown)}"
    assert Verdict(case["verdict"])
    assert case["max_seconds"] > 0
    if "base" in case:
        assert (REPO / case["base"]).is_dir(), f"{case_dir.name}/{CASE}: no base {case['base']}"
    return case


def materialize(case_dir: Path, case: dict[str, Any], dest: Path) -> Path:
    """The submission the case stands for, under ``dest``: its base (if any), then its own
    files on top, without case.toml (as runner.challenges.solutions.Solution.materialize does)."""
    base = REPO / case["base"] if "base" in case else None
    return overlay(base, case_dir, dest / case_dir.name, CASE)


@pytest.fixture(scope="module")
def client() -> Any:
    try:
        return docker_client()
    except Exception as exc:
        pytest.skip(f"no Docker engine: {exc}")


def ours(client: Any) -> list[Any]:
    """Containers started by this process (concurrent runs of others are left alone)."""
    return client.containers.list(
        all=True,
        filters={
            "label": [
                f"{LABEL_PID}={os.getpid()}",
                f"{LABEL_HOST}={socket.gethostname()}",
            ]
        },
    )


def test_corpus_is_complete(tmp_path: Path) -> None:
    assert len(CASES) >= 20, [c.name for c in CASES]
    for case_dir in CASES:
        case = load_case(case_dir)
        assert (case_dir / "assess.toml").is_file() or (case_dir / "Dockerfile").is_file()
        load_submission(materialize(case_dir, case, tmp_path))


@pytest.mark.parametrize("case_dir", CASES, ids=[c.name for c in CASES])
def test_hostile_submission(client: Any, case_dir: Path, tmp_path: Path) -> None:
    case = load_case(case_dir)
    name = case.get("challenge", "adv")  # one under _challenges/, or a real one by its path
    challenge = load_challenge(REPO / name if "/" in name else CHALLENGES / name)
    submission = load_submission(materialize(case_dir, case, tmp_path))
    events: list[dict[str, Any]] = []
    start = time.monotonic()
    try:
        results = grade(
            client, challenge, submission, RunOptions(skip_load=True, listener=events.append)
        )
    finally:
        elapsed = time.monotonic() - start
        left = ours(client)
        for c in left:  # never leak into the next case, even when failing
            c.remove(force=True, v=True)
    assert not left, f"containers left behind: {[c.name for c in left]}"
    assert isinstance(results, Results)
    run_label = f"{LABEL_RUN}={results.manifest.run_id}"
    assert not client.containers.list(all=True, filters={"label": run_label})
    validate_results_json(results.to_json())
    summary = (
        f"{case_dir.name}: verdict {results.verdict.value} ({results.verdict_detail}) "
        f"in {elapsed:.1f} s; checks " + ", ".join(f"{c.id}={c.outcome}" for c in results.checks)
    )
    print(summary)

    assert results.verdict == Verdict(case["verdict"]), summary
    assert elapsed <= case["max_seconds"], summary
    if "detail_contains" in case:
        assert case["detail_contains"] in results.verdict_detail, summary

    # No traceback anywhere: the runner and the grader handled the hostility themselves.
    texts = [results.verdict_detail, results.build_log_tail] + [c.message for c in results.checks]
    assert not any("Traceback" in t for t in texts), summary
    errored = [c.id for c in results.checks if c.outcome == "error"]
    assert not errored, f"checks raised instead of failing: {errored}; {summary}"
    if results.verdict != Verdict.ERROR:
        assert not [e for e in events if e.get("event") == "error"], summary
    if "max_score" in case:  # the ceiling the case deserves, not only its verdict
        assert results.score <= case["max_score"], summary
    if results.verdict != Verdict.GRADED:  # every planned check is accounted for
        assert all(c.outcome != "skipped" for c in results.checks), summary

    # Partial results are kept: checks that ran keep their outcome.
    outcomes = {c.id: c.outcome for c in results.checks}
    if results.verdict in CHECKS_RAN or case.get("passed_checks"):
        assert outcomes, f"no check outcomes kept; {summary}"
    for cid in case.get("passed_checks", []):
        assert outcomes.get(cid) == "passed", f"{cid} should pass; {summary}"
    for cid in case.get("failed_checks", []):
        assert outcomes.get(cid) == "failed", f"{cid} should fail; {summary}"
    messages = {c.id: c.message for c in results.checks}
    for cid, needle in case.get("message_contains", {}).items():
        assert needle in messages.get(cid, ""), f"{cid}: {messages.get(cid)!r}"

    resources = results.resources
    if results.verdict != Verdict.BUILD_FAILED:
        assert resources is not None
        if "exit_code" in case:
            assert resources.exit_code == case["exit_code"], summary
        if "min_peak_pids" in case:
            assert resources.peak_pids >= case["min_peak_pids"], resources.peak_pids
        if results.verdict == Verdict.RESOURCE_LIMIT and "memory" in results.verdict_detail:
            assert resources.oom_killed or resources.oom_kills, resources
    else:
        assert results.build_log_tail, summary
    for needle in case.get("build_log_contains", []):
        assert needle in results.build_log_tail, results.build_log_tail[-2000:]

    log = results.service_log
    for needle in case.get("log_contains", []):
        assert needle in log.text, f"service log lacks {needle!r}: {log.text[-2000:]!r}"
    for needle in case.get("log_excludes", []):
        assert needle not in log.text, f"service log holds {needle!r}: {log.text[-2000:]!r}"
    assert len(log.text) <= 64 * 1024, "the captured service log must stay capped"
    if "min_dropped_bytes" in case:
        assert log.dropped_bytes >= case["min_dropped_bytes"], (log.total_bytes, log.dropped_bytes)
        assert "bytes dropped" in log.text
