"""The queue's pieces that need no broker: what travels with a job, refusals, status lines.

Real workers on a real Redis: tests/integration/test_batch_queue.py.
"""

from __future__ import annotations

import io
import os
import shutil
import socket
import tarfile
from pathlib import Path

import pytest

from runner.batch.celery_queue import (
    _held,
    check_url,
    configure,
    grading_bound_s,
    pack_files,
    pack_results,
    redact,
    status_lines,
    unpack_files,
    unpack_results,
)
from runner.batch.jobs import challenge_digest, files_digest
from runner.challenges.registry import load_challenge
from runner.errors import SubmissionError, UsageError
from tests.conftest import TINY
from tests.unit.conftest import make_sample_results


def test_files_travel_intact(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "pkg").mkdir(parents=True)
    (src / "app.py").write_text("print('hi')\n")
    (src / "run.sh").write_text("#!/bin/sh\n")
    (src / "run.sh").chmod(0o755)
    os.symlink("app.py", src / "pkg" / "link.py")
    files = (Path("app.py"), Path("pkg/link.py"), Path("run.sh"))
    dest = tmp_path / "dest"
    dest.mkdir()
    unpack_files(pack_files(src, files), dest, 1 << 20)
    assert files_digest(dest, files) == files_digest(src, files)
    assert os.readlink(dest / "pkg" / "link.py") == "app.py"


def hostile(member: tarfile.TarInfo, data: bytes = b"x") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        member.size = len(data) if member.isfile() else 0
        tar.addfile(member, io.BytesIO(data) if member.isfile() else None)
    return buf.getvalue()


@pytest.mark.parametrize(
    "member",
    [
        tarfile.TarInfo("../escape.py"),
        (
            lambda t: (
                setattr(t, "type", tarfile.LNKTYPE),
                setattr(t, "linkname", "/etc/passwd"),
                t,
            )[-1]
        )(tarfile.TarInfo("hard")),
        (lambda t: (setattr(t, "type", tarfile.SYMTYPE), setattr(t, "linkname", "/etc"), t)[-1])(
            tarfile.TarInfo("out")
        ),
        (lambda t: (setattr(t, "type", tarfile.CHRTYPE), t)[-1])(tarfile.TarInfo("dev")),
    ],
    ids=["dotdot", "hardlink-out", "symlink-out", "device"],
)
def test_a_hostile_job_is_refused(tmp_path: Path, member: tarfile.TarInfo) -> None:
    with pytest.raises(SubmissionError):
        unpack_files(hostile(member), tmp_path, 1 << 20)
    assert not (tmp_path.parent / "escape.py").exists()


def test_an_absolute_path_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SubmissionError, match="cannot be unpacked"):
        unpack_files(hostile(tarfile.TarInfo("/tmp/evil")), tmp_path / "job", 1 << 20)
    assert not (tmp_path / "job").exists()


def test_a_job_cannot_write_through_its_own_links(tmp_path: Path) -> None:
    """The chain tarfile's data filter missed before 3.11.13 (CVE-2025-4517): a link to a
    folder inside, then a member written through it, then a link that re-points it outside."""
    outside = tmp_path / "outside"
    outside.mkdir()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, target in (("d", "."), ("d/x", "../outside")):
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            tar.addfile(info)
        body = b"owned"
        info = tarfile.TarInfo("d/x/pwned")
        info.size = len(body)
        tar.addfile(info, io.BytesIO(body))
    dest = tmp_path / "job"
    dest.mkdir()
    with pytest.raises(SubmissionError, match="cannot be unpacked"):
        unpack_files(buf.getvalue(), dest, 1 << 20)
    assert list(outside.iterdir()) == []


def test_unpacked_size_is_capped(tmp_path: Path) -> None:
    with pytest.raises(SubmissionError, match="more than"):
        unpack_files(hostile(tarfile.TarInfo("big.bin"), b"0" * 4096), tmp_path, 1024)


def test_garbage_is_not_a_job(tmp_path: Path) -> None:
    with pytest.raises(SubmissionError, match="cannot be unpacked"):
        unpack_files(b"not a tar", tmp_path, 1 << 20)


def test_results_travel_with_their_worker() -> None:
    results = make_sample_results()
    secret = b"k" * 32
    back, worker = unpack_results(pack_results(results, "w1", secret, "key1"), secret, "key1")
    assert worker == "w1"
    assert back == results


def test_broker_urls_are_checked_and_passwords_never_shown() -> None:
    check_url("redis://:secret@10.0.0.5:6379/0")
    with pytest.raises(UsageError, match="redis://"):
        check_url("http://127.0.0.1:6379")
    assert redact("redis://:secret@host:6379/2") == "redis://:***@host:6379/2"
    assert redact("redis://host:6379/0") == "redis://host:6379/0"


def test_delivery_settings_give_at_least_once() -> None:
    app = configure("redis://127.0.0.1:1/0", visibility_timeout=900)
    assert app.conf.task_acks_late is True
    assert app.conf.task_reject_on_worker_lost is True
    assert app.conf.worker_prefetch_multiplier == 1
    assert app.conf.broker_transport_options["visibility_timeout"] == 900


def test_the_grading_bound_covers_every_phase() -> None:
    ch = load_challenge(TINY)
    lim = ch.config.limits
    assert grading_bound_s(ch) > lim.build_s + lim.ready_s + 2 * lim.checks_s


def test_a_worker_refuses_what_it_does_not_hold(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ch = load_challenge(TINY)
    job = {
        "challenge": "tiny",
        "challenge_version": "0.1.0",
        "challenge_digest": challenge_digest(ch),
    }
    monkeypatch.setenv("ASSESS_WORKER_NAME", "w9")
    monkeypatch.setenv("ASSESS_CHALLENGES", str(TINY.parent))
    held, why = _held(job)
    assert held is not None
    assert why == ""
    other = tmp_path / "tiny"
    shutil.copytree(TINY, other)
    toml = other / "challenge.toml"
    toml.write_text(toml.read_text().replace('version = "0.1.0"', 'version = "0.2.0"'))
    monkeypatch.setenv("ASSESS_CHALLENGES", str(tmp_path))
    assert "worker w9 holds tiny 0.2.0, the job needs tiny 0.1.0" in _held(job)[1]
    toml.write_text(toml.read_text().replace('version = "0.2.0"', 'version = "0.1.0"'))
    (other / "checks" / "test_tiny.py").write_text("# changed\n")
    assert "different files" in _held(job)[1]
    assert "does not hold" in _held({**job, "challenge": "nope"})[1]


def test_status_lines() -> None:
    state = {
        "broker": "redis://:***@h:1/0",
        "queued": 3,
        "unacked": 1,
        "workers": [{"name": "w1", "slots": 2, "challenges": {"tiny": "0.1.0"}}],
        "batch": "abc",
        "done": ["a"],
        "failed": [{"name": "b", "verdict": "refused", "worker": "w2", "error": "holds 0.2"}],
        "running": [{"name": "c", "worker": "w3", "for_s": 12, "stale": True}],
        "waiting": ["d"],
    }
    text = "\n".join(status_lines(state))
    assert "3 job(s) queued" in text
    assert "worker w1: 2 slot(s); holds tiny 0.1.0" in text
    assert "batch abc: 1/4 done, 1 failed, 1 running, 1 queued" in text
    assert "running c on w3 for 12 s (worker gone" in text
    assert "refused b (w2): holds 0.2" in text


def test_two_workers_on_one_host_have_distinct_default_names(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import subprocess
    import sys

    from runner.batch import celery_queue as cq

    monkeypatch.delenv("ASSESS_WORKER_NAME", raising=False)
    mine = cq.worker_name()
    assert mine == f"{socket.gethostname()}-{os.getpid()}"
    code = "from runner.batch.celery_queue import worker_name; print(worker_name())"
    env = {k: v for k, v in os.environ.items() if k != "ASSESS_WORKER_NAME"}
    other = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    ).stdout.strip()
    assert other.startswith(socket.gethostname() + "-")
    assert other != mine


def test_worker_logs_each_job_by_name_and_score(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from runner.batch import celery_queue as cq

    monkeypatch.setenv("ASSESS_WORKER_NAME", "w1")
    cq.job_log("graded", "alice\x1b[31m", "95.5")
    assert capsys.readouterr().out == "assess worker w1: graded alice\\x1b[31m: 95.5\n"


def test_root_warning_hidden_only_by_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    import warnings

    from celery.exceptions import SecurityWarning
    from celery.platforms import ROOT_DISCOURAGED

    from runner.batch import celery_queue as cq

    for choice, shown in (("", 1), ("1", 0)):
        monkeypatch.setenv("ASSESS_WORKER_AS_ROOT", choice)
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            assert cq.quiet_root_warning() is (choice == "1")
            warnings.warn(SecurityWarning(ROOT_DISCOURAGED), stacklevel=1)
        assert len(seen) == shown
