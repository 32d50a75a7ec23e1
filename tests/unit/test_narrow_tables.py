"""Tables that survive 80 columns (every CI log): rank, name, verdict and score are never cut,
notes and secondary figures yield; `assess list` and `assess coverage` keep ids whole."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from runner.batch.jobs import Row
from runner.batch.view import table


def rows() -> list[Row]:
    return [
        Row(
            f"candidate-with-a-long-name-{i}",
            "resource_limit" if i % 2 else "graded",
            87.25 - i,
            90.0,
            71.5,
            40,
            49,
            critical_failed=["concurrent_bookings_one_winner", "after_load_no_double_bookings"],
            not_run=3,
        )
        for i in range(3)
    ]


@pytest.mark.parametrize("width", [60, 80, 100, 200])
def test_the_batch_table_never_cuts_rank_name_verdict_or_score(width: int) -> None:
    out = io.StringIO()
    Console(file=out, width=width).print(table("batch", rows(), width))
    lines = out.getvalue().splitlines()
    assert all(len(line) <= width for line in lines)
    for rank, (name, verdict, score) in enumerate(
        [
            ("candidate-with-a-long-name-0", "graded", "87.2"),
            ("candidate-with-a-long-name-2", "graded", "85.2"),
            ("candidate-with-a-long-name-1", "resource_limit", "86.2"),
        ],
        start=1,
    ):
        line = next(li for li in lines if name in li)
        assert line.split()[:4] == [str(rank), name, verdict, score], line
    if width >= 200:
        assert "critical: concurrent_bookings_one_winner" in out.getvalue()


def run_cli(*args: str) -> str:
    import os
    import subprocess
    import sys

    from tests.conftest import ROOT

    env = {**os.environ, "COLUMNS": "80", "TERM": "dumb"}
    proc = subprocess.run(
        [sys.executable, "-m", "runner.cli", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        check=True,
        timeout=60,
    )
    return proc.stdout


def test_assess_list_and_coverage_keep_ids_whole_at_80_columns() -> None:
    from runner.challenges.registry import Registry

    listing = run_cli("list")
    assert all(len(line) <= 80 for line in listing.splitlines())
    for ch in Registry().all():
        assert f"{ch.id} {ch.config.version}" in listing
        for req in ch.config.requirements:
            assert req in listing.replace("\n", " ")
    cov = run_cli("coverage")
    matrix = cov.split(" requirements covered by ")[0]  # the summary lines below are prose
    assert all(len(line) <= 80 for line in matrix.splitlines()[:-1])
    assert "P000.performance-troubleshooting  " in matrix  # a long id, whole
    assert "…" not in matrix


# docker-py leaves the socket of its failed version probe to the garbage collector
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.filterwarnings("ignore::ResourceWarning")
def test_an_unreachable_engine_names_the_address_and_the_ways_to_start_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from runner.errors import InfraError
    from runner.grading.pod import docker_client

    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    with pytest.raises(InfraError) as info:
        docker_client()
    message = str(info.value)
    import gc

    del info
    gc.collect()  # the leaked socket is finalised here, under this test's filters
    assert "at unix:///nonexistent/docker.sock" in message
    assert "No such file or directory" in message
    assert "sudo systemctl start docker" in message


def test_show_checks_lists_the_visible_ids_and_only_counts_the_hidden() -> None:
    from runner.challenges.checkscan import scan
    from runner.challenges.registry import Registry

    out = run_cli("show", "rest-api", "--checks")
    defs = scan(Registry().get("rest-api").checks_dir)
    for d in defs:
        if d.hidden:
            assert d.id not in out.split(), d.id
        else:
            assert d.id in out.split()
    hidden = sum(d.hidden for d in defs)
    assert f"{hidden} hidden checks are run by the interviewer" in out
