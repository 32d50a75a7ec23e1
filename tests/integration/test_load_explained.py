"""A failing load phase, for real: the rest-api variant without ETags fails the locustfile's
conditional reads, and every report says which request failed, how often and with what message,
and that the error rate voids the other SLOs (issue 23)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from runner.reports import markdown, terminal
from runner.results import Verdict
from tests.conftest import ROOT
from tests.integration.conftest import Grader

pytestmark = [pytest.mark.docker, pytest.mark.load]


def test_a_failing_load_phase_names_its_failures(graded: Grader, tmp_path: Path) -> None:
    from runner.challenges.solutions import overlay

    base = ROOT / "challenges" / "rest-api" / "solutions" / "reference"
    variant = ROOT / "challenges" / "rest-api" / "solutions" / "no-etag"
    d = overlay(base, variant, tmp_path / "no-etag", "expected.toml", "node_modules")
    r = graded("rest-api", d, skip_load=False, load_duration_s=4)
    assert r.verdict == Verdict.GRADED, r.verdict_detail
    assert r.load is not None
    groups = r.load.measured.failure_groups
    assert groups, r.load.measured
    top = groups[0]
    assert "ETag" in top.message, groups
    assert top.count > 0
    out = io.StringIO()
    Console(file=out, width=80).print(terminal.render(r))
    text = out.getvalue()
    print(text)  # what README shows
    assert f"failed: {top.name}" in text
    assert "ETag" in text
    assert "ETag" in markdown.render(r)
    if not r.load.slo_met and r.load.measured.error_rate > r.load.slo.max_error_rate:
        assert "SLOs void" in text
        assert "(void)" in text  # figures within their targets are not called "not met"
