"""Every bench/ script runs on today's code: its ``--smoke`` mode (seconds, tiny sizes) exits 0
and prints the machine, the date, the load average and its figures, so a bench can no longer
rot silently when the code under it changes. The figures themselves are not judged here (a
smoke run on a shared machine measures nothing worth asserting); that they were printed is."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.conftest import ROOT

pytestmark = [pytest.mark.docker, pytest.mark.load]

BENCH = ROOT / "bench"
# script -> a line only its figures print
FIGURES = {
    "batch_throughput.py": r"gradings/min",
    "capacity_accuracy.py": r"(?m)^slow\s+[\d,]+\s",
    "capacity_spread.py": r"(?m)^\s*credited: mean [\d,.]+ .* CV",
    "data_sidecar.py": r"(?m)^db start to ready: [\d.]+",
    "events_broker.py": r"(?m)^broker restart .*: median [\d.]+ s",
    "grading_walltime.py": r"(?m)^figures: median total_s.*\n\s+rest-api\s+[\d.]+ s",
    "harness_overhead.py": r"assess / bare\s+[\d.]+",
    "honest_soak.py": r"(?m)^tampered: 0",
    "score_stability.py": r"(?m)^\s+score\s+mean\s+[\d.]+",
    "soak.py": r"(?m)^leaks \(containers, networks, volumes left\): 0",
    "upstream_capacity.py": r"(?m)^\s+0ms\s+\d+\s+\d+",
    "ws_generator.py": r"(?m)^sustained: \d+ connections",
}


SCRIPTS = sorted(p.name for p in BENCH.glob("*.py") if not p.name.startswith("_"))


def test_every_bench_script_has_a_smoke_mode() -> None:
    """A new bench comes with --smoke (and, here, the line its figures print)."""
    without = [s for s in SCRIPTS if "--smoke" not in (BENCH / s).read_text()]
    assert without == [], f"bench scripts without a --smoke mode: {without}"
    assert set(FIGURES) <= set(SCRIPTS)


@pytest.mark.parametrize("script", SCRIPTS)
def test_bench_smoke(script: str) -> None:
    proc = subprocess.run(
        [sys.executable, str(BENCH / script), "--smoke"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    out = proc.stdout
    assert proc.returncode == 0, (
        f"{script} exited {proc.returncode}:\n{out[-3000:]}\n{proc.stderr[-3000:]}"
    )
    assert re.search(r"(?m)^date:\s+\d{4}-\d\d-\d\d", out), out[-2000:]  # the date
    assert re.search(r"(?m)^cores:\s+\d+\s+cpu:", out), out[-2000:]  # the machine
    assert re.search(r"load\D{0,20}\d+\.\d\d", out), out[-2000:]  # the load average
    figures = FIGURES.get(script, r"(?m)^load at end:")  # a new bench: at least its footer
    assert re.search(figures, out), f"{script}: no figures in\n{out[-3000:]}"
