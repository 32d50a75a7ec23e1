"""Batches on one machine: names, content keys, resuming, the leaderboard, the pod lock, exit codes.

Grading is faked at its one seam (the executor's ``grade_one``); the real thing runs in
tests/integration/test_batch.py.
"""

from __future__ import annotations

import csv
import json
import os
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from runner.batch.driver import run_batch
from runner.batch.jobs import (
    FAILED,
    InProcess,
    OutDir,
    Progress,
    Row,
    files_digest,
    ledger_key,
    rank_key,
    unique_names,
)
from runner.batch.leaderboard import csv_cell, save_pairs, write_junit, write_leaderboard
from runner.batch.similarity import Pair, Region
from runner.batch.slots import PodLock
from runner.challenges.registry import Challenge, load_challenge
from runner.commands import batch_exit_code
from runner.errors import ExitCode, InfraError
from tests.conftest import TINY
from tests.unit.conftest import XSS, make_sample_results


def submission(root: Path, rel: str, body: str = "print('hi')\n") -> Path:
    d = root / rel
    d.mkdir(parents=True)
    (d / "assess.toml").write_text('runtime = "python"\nstart = "python3 app.py"\n')
    (d / "app.py").write_text(body)
    return d


class Counting:
    """A fake grader: scores by name, counts what it graded."""

    def __init__(self, scores: dict[str, float] | None = None) -> None:
        self.scores = scores or {}
        self.graded: list[str] = []

    def __call__(self, path: Path, listener: Any) -> Any:
        self.graded.append(path.parent.name + "/" + path.name)
        r = make_sample_results(with_load=False)
        r.score = self.scores.get(path.name, self.scores.get(path.parent.name, 70.0))
        return r


@pytest.fixture
def tiny() -> Challenge:
    return load_challenge(TINY)


def test_names_come_from_the_path_and_stay_readable(tmp_path: Path) -> None:
    subs = tmp_path / "subs"
    paths = [subs / "alice" / "solution", subs / "bob" / "solution", subs / "carol"]
    assert unique_names(paths) == ["alice-solution", "bob-solution", "carol"]
    assert unique_names([subs / "alice", subs / "bob"]) == ["alice", "bob"]
    assert unique_names([subs / "x y!"]) == ["x-y"]
    # the same tail twice below different roots, and cleaning that makes names collide
    assert unique_names([tmp_path / "a" / "s", tmp_path / "b" / "s"]) == ["a-s", "b-s"]
    assert unique_names([tmp_path / "a b", tmp_path / "a-b"]) == ["a-b", "a-b-2"]


def test_content_digest_ignores_timestamps_not_content(tmp_path: Path) -> None:
    d = submission(tmp_path, "s")
    files = [Path("app.py"), Path("assess.toml")]
    before = files_digest(d, files)
    os.utime(d / "app.py", (1, 1))
    assert files_digest(d, files) == before
    (d / "app.py").write_text("print('changed')\n")
    assert files_digest(d, files) != before


def test_ledger_key_holds_version_options_and_content(tiny: Challenge) -> None:
    key = ledger_key(tiny, {"skip_load": True}, "abc")
    assert key.startswith(f"tiny@{tiny.config.version}:")
    assert key.endswith(":abc")
    assert key != ledger_key(tiny, {"skip_load": False}, "abc")


def test_resume_skips_graded_and_force_grades_again(tmp_path: Path, tiny: Challenge) -> None:
    subs = [submission(tmp_path, "subs/alice/solution"), submission(tmp_path, "subs/bob/solution")]
    out = tmp_path / "out"
    first = Counting()
    run_batch(tiny, subs, out, InProcess(first))
    assert len(first.graded) == 2
    again = Counting()
    result = run_batch(tiny, subs, out, InProcess(again))
    assert again.graded == []
    assert all(r.skipped for r in result.rows)
    (subs[1] / "app.py").write_text("print('v2')\n")  # bob changed: graded again, alice not
    changed = Counting()
    run_batch(tiny, subs, out, InProcess(changed))
    assert changed.graded == ["bob/solution"]
    forced = Counting()
    run_batch(tiny, subs, out, InProcess(forced), force=True)
    assert len(forced.graded) == 2


def test_an_interrupted_batch_continues_where_it_stopped(tmp_path: Path, tiny: Challenge) -> None:
    subs = [submission(tmp_path, f"s{i}") for i in range(3)]
    out = tmp_path / "out"
    seen: list[Path] = []

    def dies_on_second(path: Path, listener: Any) -> Any:
        seen.append(path)
        if len(seen) == 2:
            raise KeyboardInterrupt
        return make_sample_results(with_load=False)

    with pytest.raises(KeyboardInterrupt):
        run_batch(tiny, subs, out, InProcess(dies_on_second))
    rest = Counting()
    run_batch(tiny, subs, out, InProcess(rest))
    assert [g.split("/")[-1] for g in rest.graded] == ["s1", "s2"]


def test_a_failure_on_our_side_is_a_row_and_is_graded_next_time(
    tmp_path: Path, tiny: Challenge
) -> None:
    subs = [submission(tmp_path, "a"), submission(tmp_path, "b")]

    def engine_down(path: Path, listener: Any) -> Any:
        if path.name == "a":
            raise InfraError("Docker engine unreachable")
        return make_sample_results(with_load=False)

    result = run_batch(tiny, subs, tmp_path / "out", InProcess(engine_down))
    rows = {r.name: r for r in result.rows}
    assert rows["a"].verdict == FAILED
    assert "unreachable" in rows["a"].error
    assert batch_exit_code(result.rows, None)[0] == ExitCode.INFRA
    later = Counting()
    run_batch(tiny, subs, tmp_path / "out", InProcess(later))
    assert [g.split("/")[-1] for g in later.graded] == ["a"]


def test_progress_counts_and_eta() -> None:
    p = Progress(total=10, slots=2, done=4, skipped=2)
    p.running = {"x": {}, "y": {}}
    assert p.left == 4
    assert p.eta_s() is None  # nothing graded by this run yet: no pace to go by
    p.graded_here, p.graded_s = 2, 60.0  # 30 s a grading, 6 to go on 2 slots
    assert p.eta_s() == pytest.approx(90.0)
    assert p.line() == "4/10 done (2 already graded), 2 running, 4 left, ETA 1m30s"


def test_rank_keeps_graded_first() -> None:
    rows = [Row("a", "timeout", 100.0), Row("b", "graded", 40.0), Row("c", "invalid")]
    assert [r.name for r in sorted(rows, key=rank_key)] == ["b", "a", "c"]


def test_fail_under_and_exit_codes() -> None:
    ok, low, odd = Row("a", "graded", 90.0), Row("b", "graded", 40.0), Row("c", "crashed", 0.0)
    assert batch_exit_code([ok, low], None) == (ExitCode.OK, "")
    code, why = batch_exit_code([ok, low, odd], 50)
    assert code == ExitCode.BELOW_THRESHOLD
    assert "b, c" in why
    assert batch_exit_code([ok, Row("r", "refused", error="v2")], 50)[0] == ExitCode.INFRA


def hostile_pair(a: str, b: str) -> Pair:
    region = Region("app.py", (1, 3), "main.py", (4, 6), 5, f"x = '{XSS}'", "y = 1")
    return Pair(a, b, 0.9, 0.8, 40, "da", "db", [region])


def test_leaderboard_escapes_candidate_text(tmp_path: Path, tiny: Challenge) -> None:
    rows = [
        Row("a", "graded", 90.0, 90.0, None, 3, 3, 1.0, skills={"basics": 90.0}, digest="da"),
        Row("b", "graded", 60.0, 60.0, None, 2, 3, 1.0, digest="db", critical_failed=["c1"]),
        Row("c", "invalid", error=f"=cmd|' /C calc'!A0 {XSS}"),
    ]
    save_pairs(tmp_path, [hostile_pair("a", "b")], {"method": "test"})
    write_leaderboard(tmp_path, tiny, rows)
    html = (tmp_path / "leaderboard.html").read_text()
    assert XSS not in html
    assert "&lt;script&gt;" in html
    assert 'href="#pair-1"' in html
    assert "90%" in html
    assert "<script" not in html.lower()
    with open(tmp_path / "leaderboard.csv", newline="") as fh:
        table = list(csv.DictReader(fh))
    assert [r["name"] for r in table] == ["a", "b", "c"]
    assert table[2]["error"].startswith("'=")  # a spreadsheet shows it, never runs it
    assert table[0]["similar_to"] == "b (90%)"
    assert table[0]["skill:basics"] == "90.0"
    board = json.loads((tmp_path / "leaderboard.json").read_text())
    assert board["rows"][1]["critical_failed"] == ["c1"]
    assert board["similarity"]["pairs"][0]["regions"][0]["a_lines"] == [1, 3]


def test_a_pair_is_shown_only_while_its_content_is_the_one_compared(
    tmp_path: Path, tiny: Challenge
) -> None:
    save_pairs(tmp_path, [hostile_pair("a", "b")], {})
    rows = [Row("a", "graded", 90.0, digest="da"), Row("b", "graded", 80.0, digest="changed")]
    write_leaderboard(tmp_path, tiny, rows)
    assert json.loads((tmp_path / "leaderboard.json").read_text())["similarity"]["pairs"] == []


def test_csv_cells_are_never_formulas() -> None:
    assert [csv_cell(v) for v in ("=1+1", "+x", "-x", "@x", "ok", 3.5)] == [
        "'=1+1",
        "'+x",
        "'-x",
        "'@x",
        "ok",
        3.5,
    ]


def test_junit_has_a_suite_per_submission(tmp_path: Path, tiny: Challenge) -> None:
    subs = [submission(tmp_path, "alice"), submission(tmp_path, "bob")]
    result = run_batch(tiny, subs, tmp_path / "out", InProcess(Counting({"alice": 90.0})))
    rows = [*result.rows, Row("zed", "invalid", error="no Dockerfile")]
    write_junit(tmp_path / "j.xml", tiny, rows, OutDir(tmp_path / "out"), 80)
    root = ET.parse(tmp_path / "j.xml").getroot()
    names = [s.get("name") for s in root.findall("testsuite")]
    assert names == ["assess.tiny.alice", "assess.tiny.bob", "assess.tiny.zed"]
    fail_under = {
        s.get("name"): s.find("testcase[@name='fail_under']/failure") is not None
        for s in root.findall("testsuite")
    }
    assert fail_under == {
        "assess.tiny.alice": False,
        "assess.tiny.bob": True,
        "assess.tiny.zed": True,
    }


@pytest.mark.slow_unit(reason="sleeps 0.6 s so a writer is waiting at the turnstile")
def test_pod_lock_load_is_exclusive_and_waits_for_shared(tmp_path: Path) -> None:
    order: list[str] = []
    shared = PodLock(exclusive=False, directory=tmp_path)
    shared.acquire()
    load = PodLock(exclusive=True, directory=tmp_path)
    t = threading.Thread(target=lambda: (load.acquire(), order.append("load")))
    t.start()
    time.sleep(0.3)  # the writer is now waiting at the turnstile
    late = PodLock(exclusive=False, directory=tmp_path)
    t2 = threading.Thread(target=lambda: (late.acquire(), order.append("late shared")))
    t2.start()
    time.sleep(0.3)
    assert order == []  # the writer waits for the reader; the new reader waits for the writer
    shared.release()
    t.join(5)
    assert order == ["load"]
    load.release()
    t2.join(5)
    assert order == ["load", "late shared"]
    late.release()


def test_shared_pods_run_together(tmp_path: Path) -> None:
    a, b = PodLock(False, tmp_path), PodLock(False, tmp_path)
    a.acquire()
    done = threading.Event()
    threading.Thread(target=lambda: (b.acquire(), done.set())).start()
    assert done.wait(5)
    a.release()
    b.release()


def test_the_lock_is_taken_between_build_and_pod(tmp_path: Path) -> None:
    """``grade()`` calls its listener synchronously: blocking on "build ended" holds the
    grading between its build and its pod. A failed build takes no lock."""
    lock = PodLock(True, tmp_path)
    seen: list[dict[str, Any]] = []
    listen = lock.listener(seen.append)
    listen({"event": "phase", "phase": "build", "state": "end", "ok": False})
    assert lock._main is None
    listen({"event": "phase", "phase": "build", "state": "end", "ok": True})
    assert lock._main is not None
    assert len(seen) == 2
    lock.release()
