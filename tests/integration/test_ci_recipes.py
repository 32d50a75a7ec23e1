"""The CI recipes in docs/ci/ run as written: their shell steps, taken from the YAML, are
executed with a fake CI environment against a clone of a local git repository.

What is not run: the steps that are another vendor's action (``uses:``: checkout is a local
clone here, artifact upload and JUnit publishing are checked as the files they would take) and
the ``pip install "$ASSESS_PACKAGE"`` line (no package index to install from here; the project's
own venv is first on PATH instead). Everything else runs verbatim, in ``bash -eo pipefail`` as
both CI systems do.
"""

from __future__ import annotations

import os
import re
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import yaml

from runner.challenges.registry import load_challenge
from runner.challenges.solutions import load_solution
from tests.conftest import ROOT, TINY
from tests.unit.test_packs import bare_repo_of

pytestmark = pytest.mark.docker

RECIPES = ROOT / "docs" / "ci"
VENV_BIN = ROOT / ".venv" / "bin"
INSTALL = re.compile(r'^\s*python3 -m pip install [^\n]*"\$ASSESS_PACKAGE"\s*$', re.M)
HIDDEN_CHECK = "healthz"  # the tiny challenge's one hidden check
STEP_TIMEOUT_S = 240


def _without_install(script: str) -> str:
    assert len(INSTALL.findall(script)) <= 1
    return INSTALL.sub(": install skipped in the test, assess is on PATH", script)


def _bash(script: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=STEP_TIMEOUT_S,
        check=False,
    )


def _checkout(solution: str, tmp_path: Path) -> Path:
    tree = load_solution(load_challenge(TINY), solution).materialize(tmp_path / "solutions")
    url = bare_repo_of(tree, tmp_path / "candidate.git")
    work = tmp_path / "workspace"
    subprocess.run(["git", "clone", "-q", url, str(work)], check=True, capture_output=True)
    return work


def _env(job_env: dict[str, Any], tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        "PATH": f"{VENV_BIN}:{os.environ['PATH']}",
        "HOME": os.environ.get("HOME", str(tmp_path)),
        "CI": "true",
        "LANG": "C.UTF-8",
    }
    for key in ("DOCKER_HOST", "ASSESS_HOME"):
        if key in os.environ:
            env[key] = os.environ[key]
    env.update({k: str(v) for k, v in job_env.items() if k not in ("DOCKER_HOST",)})
    env.pop("DOCKER_TLS_CERTDIR", None)
    env.update(extra)
    return env


def _expand(script: str, outputs: dict[str, dict[str, str]]) -> str:
    """GitHub's ``${{ steps.ID.outputs.NAME }}`` (the only expression the recipe uses)."""

    def one(m: re.Match[str]) -> str:
        return outputs.get(m.group(1), {}).get(m.group(2), "")

    return re.sub(r"\$\{\{\s*steps\.([\w-]+)\.outputs\.([\w-]+)\s*\}\}", one, script)


def test_github_actions_recipe_grades_a_repository(tmp_path: Path) -> None:
    recipe = yaml.safe_load((RECIPES / "github-actions.yml").read_text())
    job = recipe["jobs"]["grade"]
    work = _checkout("reference", tmp_path)
    summary = tmp_path / "step_summary.md"
    env = _env(
        job["env"],
        tmp_path,
        ASSESS_CHALLENGE=str(TINY),
        GITHUB_STEP_SUMMARY=str(summary),
        GITHUB_WORKSPACE=str(work),
    )
    outputs: dict[str, dict[str, str]] = {}
    failed = False
    log = ""
    uses = []
    for step in job["steps"]:
        if "uses" in step:
            uses.append(step["uses"].split("@")[0])
            continue
        if failed and "always()" not in str(step.get("if", "")):
            continue
        out_file = tmp_path / f"output-{len(outputs)}"
        out_file.touch()
        script = _expand(_without_install(step["run"]), outputs)
        proc = _bash(script, work, {**env, "GITHUB_OUTPUT": str(out_file)})
        log += proc.stdout + proc.stderr
        if "id" in step:
            outputs[step["id"]] = dict(
                line.split("=", 1) for line in out_file.read_text().splitlines() if "=" in line
            )
        failed |= proc.returncode != 0
        assert proc.returncode == 0, f"step {step.get('name')!r} failed:\n{log}"
    assert {"actions/checkout", "actions/upload-artifact", "mikepenz/action-junit-report"} <= set(
        uses
    )
    out = work / "assess-out"
    assert outputs["grade"]["code"] == "0"
    assert (out / "report.html").stat().st_size > 1000  # what upload-artifact takes
    cases = list(ET.parse(out / "junit.xml").iter("testcase"))
    assert any(p.get("name") == "points" for c in cases for p in c.iter("property"))
    assert "Tiny fixture challenge" in summary.read_text()
    assert "phase: checks" in log  # a line per phase in a log without a terminal
    # candidate mode by default: the public log and reports never name a hidden check
    for text in (log, (out / "junit.xml").read_text(), summary.read_text()):
        assert HIDDEN_CHECK not in text
    # the reports now inside the repository do not make the next build differ
    grade = next(step for step in job["steps"] if step.get("id") == "grade")
    again = _bash(grade["run"], work, {**env, "GITHUB_OUTPUT": str(tmp_path / "again")})
    assert "image reused" in again.stdout, again.stdout + again.stderr


def test_gitlab_recipe_fails_under_the_threshold_and_keeps_artifacts(tmp_path: Path) -> None:
    recipe = yaml.safe_load((RECIPES / "gitlab-ci.yml").read_text())
    job = recipe["assess"]
    assert job["artifacts"]["when"] == "always"
    work = _checkout("wrong-hello", tmp_path)
    env = _env(job["variables"], tmp_path, ASSESS_CHALLENGE=str(TINY), CI_PROJECT_DIR=str(work))
    # GitLab runs before_script and script in one shell; any failing line fails the job.
    script = _without_install("\n".join(job["before_script"] + job["script"]))
    proc = _bash(script, work, env)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 1, log  # below --fail-under: the job fails
    assert "below --fail-under" in log
    for path in [*job["artifacts"]["paths"], job["artifacts"]["reports"]["junit"]]:
        assert (work / path).exists(), path  # the artifacts are there to upload
    failures = [
        c
        for c in ET.parse(work / "assess-out/junit.xml").iter("testcase")
        if c.find("failure") is not None
    ]
    assert [c.get("name") for c in failures] == ["hello"]
    assert HIDDEN_CHECK not in log
