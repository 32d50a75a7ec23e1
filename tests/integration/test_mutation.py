"""The tests kind for real: bundled suites of rest-api-tests graded against the reference and
every mutant, in pods (runner.grading.mutation). The two gradings run at once; the wall time is printed."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from runner.challenges.registry import Registry, load_mutants
from runner.challenges.solutions import load_solution
from runner.grading.mutation import REFERENCE_PASSES
from runner.results import Outcome, Verdict

pytestmark = pytest.mark.docker


def test_reference_suite_kills_every_mutant_and_always_pass_kills_none(graded, tmp_path: Path):
    challenge = Registry().get("rest-api-tests")
    mutants = load_mutants(challenge)
    dirs = {
        name: load_solution(challenge, name).materialize(tmp_path)
        for name in ("reference", "always-passes")
    }
    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {name: pool.submit(graded, challenge, d) for name, d in dirs.items()}
        strong, weak = futures["reference"].result(), futures["always-passes"].result()
    print(f"\ntwo gradings of {len(mutants)} mutants each: {time.monotonic() - start:.1f} s")

    assert strong.verdict == Verdict.GRADED, strong.verdict_detail
    assert strong.verdict_detail.startswith(REFERENCE_PASSES)
    assert [c.id for c in strong.checks] == [m.id for m in mutants]
    assert all(c.outcome == Outcome.PASSED for c in strong.checks), strong.failed_ids()
    assert strong.score == 100.0
    assert all(c.hidden for c in strong.checks)

    assert weak.verdict == Verdict.GRADED, weak.verdict_detail
    assert weak.verdict_detail.startswith(REFERENCE_PASSES)  # no false alarm: it runs mutants
    assert weak.failed_ids() == {m.id for m in mutants}
    assert all(c.message.startswith("survived") for c in weak.checks)
    assert weak.score == 0.0
    assert "killed 0 of" in weak.verdict_detail


def test_a_suite_that_floods_and_hangs_on_the_reference_times_out_with_capped_output(
    graded, tmp_path: Path
):
    import shutil

    for name in ("rest-api", "rest-api-tests"):
        shutil.copytree(
            Path(Registry().root) / name,
            tmp_path / "ch" / name,
            ignore=shutil.ignore_patterns("solutions", "__pycache__")
            if name == "rest-api-tests"
            else shutil.ignore_patterns("__pycache__"),
        )
    toml = tmp_path / "ch" / "rest-api-tests" / "challenge.toml"
    toml.write_text(toml.read_text().replace("run_s = 60", "run_s = 4"))
    challenge = Registry(tmp_path / "ch").get("rest-api-tests")
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "assess.toml").write_text(
        'runtime = "python"\n'
        'start = "python3 -c \'import sys, time; [sys.stdout.write(\\"x\\" * 4096 + \\"\\\\n\\") '
        "for _ in range(20000)]; sys.stdout.flush(); time.sleep(600)'\"\n"
    )
    start = time.monotonic()
    results = graded(challenge, suite)
    assert results.verdict == Verdict.TIMEOUT, results.verdict_detail
    assert "still running after its 4 s budget" in results.verdict_detail
    assert results.score == 0.0
    assert all(c.outcome == Outcome.NOT_RUN for c in results.checks)
    assert results.service_log.dropped_bytes > 0  # 80 MB of output, 16 KB kept
    assert len(results.service_log.text) <= 2 * 16 * 1024 + 100  # its first and last 16 KB
    assert time.monotonic() - start < 90
