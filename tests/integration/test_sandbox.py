"""The sandbox for real: grading, isolation, verdicts, cleanup on every exit path."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from runner.grading.images import PYTHON_TAG
from runner.grading.pod import Limits, Pod
from runner.results import Verdict
from tests.conftest import ROOT, TINY
from tests.integration.conftest import Grader, managed_containers

pytestmark = pytest.mark.docker
REFERENCE = TINY / "solutions" / "reference"


def assess_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the assess command as a user would, capturing its output."""
    return subprocess.run(
        [sys.executable, "-m", "runner.cli", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
        timeout=timeout,
    )


def submission(tmp_path: Path, code: str, name: str = "svc") -> Path:
    d = tmp_path / name
    d.mkdir()
    (d / "assess.toml").write_text('runtime = "python"\nstart = "python3 app.py"\n')
    (d / "app.py").write_text(code)
    return d


def test_reference_scores_full_marks(graded: Grader) -> None:
    r = graded(str(TINY), REFERENCE)
    assert r.verdict == Verdict.GRADED
    assert r.score == 100.0
    assert {c.id for c in r.checks} == {"hello", "unknown_is_404", "healthz"}
    assert r.manifest.candidate_image
    assert r.manifest.grader_image
    assert r.manifest.tools["docker_engine"]
    assert r.manifest.host["cores"] >= 1
    assert r.resources is not None
    assert r.resources.memory_limit_mb == 128


def test_candidate_mode_runs_visible_checks_only(graded: Grader) -> None:
    r = graded(str(TINY), REFERENCE, mode="candidate")
    assert {c.id for c in r.checks} == {"hello", "unknown_is_404"}
    assert not any(c.hidden for c in r.checks)


def test_flawed_variant_loses_its_check(graded: Grader, tmp_path: Path) -> None:
    from runner.challenges.registry import load_challenge
    from runner.challenges.solutions import load_solution

    sol = load_solution(load_challenge(TINY), "wrong-hello")
    r = graded(str(TINY), sol.materialize(tmp_path))
    assert r.failed_ids() == {"hello"}
    assert "mars" in next(c.message for c in r.checks if c.id == "hello")


def test_build_failure_is_a_verdict_with_the_log_tail(graded: Grader, tmp_path: Path) -> None:
    d = tmp_path / "broken"
    d.mkdir()
    (d / "Dockerfile").write_text(f"FROM {PYTHON_TAG}\nRUN echo about-to-fail && exit 7\n")
    r = graded(str(TINY), d)
    assert r.verdict == Verdict.BUILD_FAILED
    assert r.score == 0
    assert "about-to-fail" in r.build_log_tail


def test_a_service_that_never_listens_is_not_ready(graded: Grader, tmp_path: Path) -> None:
    d = submission(tmp_path, "import time\nprint('warming up', flush=True)\ntime.sleep(3600)\n")
    start = time.monotonic()
    r = graded(str(TINY), d)
    assert r.verdict == Verdict.NOT_READY
    assert "not ready within 10 s" in r.verdict_detail
    assert "warming up" in r.service_log.text
    assert time.monotonic() - start < 40


def test_a_service_that_exits_at_once_crashed(graded: Grader, tmp_path: Path) -> None:
    d = submission(tmp_path, "import sys\nprint('bye', flush=True)\nsys.exit(3)\n")
    r = graded(str(TINY), d)
    assert r.verdict == Verdict.CRASHED
    assert "code 3" in r.verdict_detail
    assert r.resources is not None
    assert r.resources.exit_code == 3


def test_candidate_has_only_loopback_and_no_route(client: Any, no_leaks: None) -> None:
    """No egress, proven without sending a packet anywhere."""
    code = (
        "import os, socket, time\n"
        "print('NET', sorted(os.listdir('/sys/class/net')))\n"
        "print('ROUTES', len(open('/proc/net/route').read().splitlines()) - 1)\n"
        "print('UID', os.getuid())\n"
        "print('DOCKER_SOCK', os.path.exists('/var/run/docker.sock'))\n"
        "root = [l.split() for l in open('/proc/mounts') if l.split()[1] == '/'][0]\n"
        "print('ROOT_OPTS', root[3].split(',')[0])\n"
        "open('/tmp/x', 'w').write('ok')\nprint('TMP_WRITABLE')\n"
        "print('CAPS', [l.split()[1] for l in open('/proc/self/status') if l.startswith('CapEff')])\n"
        "t = time.monotonic()\n"
        "try:\n    socket.getaddrinfo('example.invalid', 80)\n    print('DNS ok')\n"
        "except OSError:\n    print('DNS failed in', round(time.monotonic() - t, 2))\n"
    )
    with Pod(client) as pod:
        pod.start_holder()
        image = client.images.get(PYTHON_TAG).id
        probe = pod.start_candidate(image, {}, Limits(memory_mb=64), ["python3", "-c", code])
        status = probe.wait(timeout=30)["StatusCode"]
        out = probe.logs().decode()
        assert status == 0, out
    assert "NET ['lo']" in out
    assert "ROUTES 0" in out
    assert "UID 65534" in out
    assert "DOCKER_SOCK False" in out
    assert "ROOT_OPTS ro" in out
    assert "TMP_WRITABLE" in out
    assert "CAPS ['0000000000000000']" in out
    assert "DNS failed in" in out


def _wait_for_candidate(client: Any, owner: int, deadline_s: float = 60) -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        roles = {c.labels.get("assess.role") for c in managed_containers(client, owner)}
        if "grader" in roles:
            return
        time.sleep(0.2)
    raise AssertionError("the run never started its grader")


@pytest.mark.serial
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_run_cleans_up_and_exits_130(
    client: Any, tmp_path: Path, no_leaks: None, sig: int
) -> None:
    slow = submission(tmp_path, "import time\ntime.sleep(3600)\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "runner.cli", "run", str(TINY), str(slow)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    _wait_for_candidate(client, proc.pid)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, out + err
    assert "interrupted" in err
    assert "Traceback" not in err
    assert managed_containers(client, proc.pid) == []


@pytest.mark.serial
def test_gc_removes_what_a_killed_run_left(client: Any, tmp_path: Path, no_leaks: None) -> None:
    slow = submission(tmp_path, "import time\ntime.sleep(3600)\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "runner.cli", "run", str(TINY), str(slow)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=ROOT,
    )
    _wait_for_candidate(client, proc.pid)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert managed_containers(client, proc.pid), "SIGKILL leaves the pod behind: gc must find it"
    result = assess_cli("gc")
    assert result.returncode == 0
    assert "removed" in result.stdout
    assert managed_containers(client, proc.pid) == []


def test_url_mode_grades_a_local_service(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, str(REFERENCE / "app.py")],
        env={**os.environ, "PORT": str(port)},
        cwd=REFERENCE,
    )
    try:
        out = tmp_path / "r.json"
        result = assess_cli(
            "run",
            str(TINY),
            "--url",
            f"http://127.0.0.1:{port}",
            "--json",
            str(out),
            "--fail-under",
            "100",
            timeout=120,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        from tests.conftest import validate_results_json

        data = validate_results_json(out.read_text())
        assert data["score"] == 100.0
    finally:
        server.kill()
        server.wait()


def test_fail_under_exits_1(tmp_path: Path) -> None:
    from runner.challenges.registry import load_challenge
    from runner.challenges.solutions import load_solution

    sub = load_solution(load_challenge(TINY), "wrong-hello").materialize(tmp_path)
    result = assess_cli("run", str(TINY), str(sub), "--fail-under", "90", timeout=180)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "below --fail-under 90" in result.stdout


@pytest.mark.parametrize("solution", ["python-deps", "node-deps"])
def test_presets_install_dependencies_through_the_host_ca(
    graded: Grader, solution: str, tmp_path: Path
) -> None:
    """requirements.txt / package.json are installed at build (pip, npm: the host's CA bundle)."""
    from runner.challenges.registry import load_challenge
    from runner.challenges.solutions import load_solution

    sub = load_solution(load_challenge(TINY), solution).materialize(tmp_path)
    r = graded(str(TINY), sub)
    assert r.verdict == Verdict.GRADED, r.build_log_tail
    assert r.score == 100.0


# Seeded "random" moments: during the build, the pod's start, readiness and the checks.
KILL_POINTS = [round(random.Random(seed).uniform(0.2, 4.0), 2) for seed in range(4)]


@pytest.mark.serial
@pytest.mark.parametrize("delay_s", KILL_POINTS)
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_killed_at_any_point_leaves_nothing_after_gc(
    client: Any, tmp_path: Path, no_leaks: None, sig: int, delay_s: float
) -> None:
    """SIGINT cleans up by itself; after SIGKILL the next `assess gc` does."""
    sub = tmp_path / "svc"
    shutil.copytree(REFERENCE, sub)
    # a fresh build each time, so early kills land inside it
    (sub / "assess.toml").write_text(
        f'runtime = "python"\nstart = "python3 app.py"\n[env]\nNONCE = "{time.time_ns()}"\n'
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "runner.cli", "run", str(TINY), str(sub)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    time.sleep(delay_s)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    if sig == signal.SIGINT:
        assert proc.returncode in (0, 130), err  # 0: it finished before the signal
        assert "Traceback" not in err
    else:
        assess_cli("gc", timeout=60).check_returncode()
    assert managed_containers(client, proc.pid) == []
    strays = [
        c.name
        for c in client.containers.list(
            all=True, ignore_removed=True, filters={"status": "running"}
        )
        if "assess.run" not in (c.labels or {}) and "assess.managed" in (c.labels or {})
    ]
    if sig == signal.SIGINT:
        assert strays == [], f"build containers left running: {strays}"


def test_a_build_that_eats_the_disk_is_stopped(
    graded: Grader, client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No per-container disk quota exists on overlay2 over ext4, so a guard watches free space.

    The floor is set a few hundred MiB below the free space now, so the guard trips early and
    the test never endangers the host."""
    from runner.grading.images import docker_root

    root = docker_root(client)
    free_mb = shutil.disk_usage(root).free / 2**20
    monkeypatch.setenv("ASSESS_MIN_FREE_DISK_MB", str(int(free_mb - 300)))
    d = tmp_path / "filler"
    d.mkdir()
    (d / "Dockerfile").write_text(
        f"FROM {PYTHON_TAG}\nRUN dd if=/dev/zero of=/fill bs=1M count=50000 status=none\n"
    )
    start = time.monotonic()
    r = graded(str(TINY), d)
    assert r.verdict == Verdict.BUILD_FAILED
    assert "free disk fell below" in r.verdict_detail
    assert time.monotonic() - start < 60
    # the step container was removed with what it wrote
    assert shutil.disk_usage(root).free / 2**20 > free_mb - 200


def test_verify_catches_a_wrong_expectation(tmp_path: Path) -> None:
    challenge = tmp_path / "tiny"
    shutil.copytree(TINY, challenge, ignore=shutil.ignore_patterns("*-deps"))
    expected = challenge / "solutions" / "wrong-hello" / "expected.toml"
    expected.write_text(expected.read_text().replace('fails = ["hello"]', 'fails = ["healthz"]'))
    result = assess_cli("verify", str(challenge), timeout=300)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "✓ reference" in result.stdout
    assert "unexpectedly failed: hello" in result.stdout
    assert "expected to fail but passed: healthz" in result.stdout


def test_verify_writes_each_solutions_reports(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = assess_cli(
        "verify",
        str(TINY),
        "--solution",
        "reference",
        "--solution",
        "wrong-hello",
        "--out",
        str(out),
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    from tests.conftest import validate_results_json

    for name, passed in (("reference", 3), ("wrong-hello", 2)):
        data = validate_results_json((out / name / "results.json").read_text())
        assert sum(c["outcome"] == "passed" for c in data["checks"]) == passed
        for report in ("report.html", "junit.xml", "summary.md"):
            assert (out / name / report).stat().st_size > 0
