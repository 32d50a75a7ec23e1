"""Results travelling through the broker are authenticated: signed with a key the broker never
holds; unsigned, forged, tampered or replayed records are refused (runner.batch.celery_queue).

With a real Redis and a forged record written into it: tests/integration/test_batch_queue.py.
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import pytest

from runner.batch import celery_queue
from runner.batch.jobs import REFUSED, Job
from runner.errors import UsageError
from tests.unit.conftest import make_sample_results

SECRET = b"s" * 32
OTHER = b"o" * 32


def test_a_signed_record_reads_back() -> None:
    results = make_sample_results()
    record = celery_queue.pack_results(results, "w1", SECRET, "k1")
    assert SECRET not in record  # the key never travels
    assert celery_queue.unpack_results(record, SECRET, "k1") == (results, "w1")


@pytest.mark.parametrize(
    "forge",
    [
        # unsigned: what a ledger held before, or a write by anyone with broker access
        lambda r: zlib.compress(json.dumps({"worker": "x", "results": {}}).encode()),
        # signed with another key
        lambda r: celery_queue.pack_results(make_sample_results(), "w1", OTHER, "k1"),
        # a genuine record of another job, replayed for this one
        lambda r: celery_queue.pack_results(make_sample_results(), "w1", SECRET, "k2"),
        # a genuine record with its payload changed (score raised)
        lambda r: r[: r.rindex(b":") + 1] + zlib.compress(b'{"worker": "w1", "results": {}}'),
        lambda r: celery_queue.SIGNED + b"00:" + r,
        lambda r: celery_queue.SIGNED,
        lambda r: b"",
    ],
)
def test_forged_records_are_refused(forge: object) -> None:
    genuine = celery_queue.pack_results(make_sample_results(), "w1", SECRET, "k1")
    value = forge(genuine)  # type: ignore[operator]
    with pytest.raises(celery_queue.ForgedRecord):
        celery_queue.unpack_results(value, SECRET, "k1")


def test_outcomes_are_signed_too() -> None:
    doc = json.dumps({"verdict": "refused", "error": "e", "worker": "w"}).encode()
    signed = celery_queue.sign(SECRET, "outcome", "k1", doc)
    assert celery_queue.read_outcome(signed, SECRET, "k1")["verdict"] == "refused"
    with pytest.raises(celery_queue.ForgedRecord):
        celery_queue.read_outcome(doc, SECRET, "k1")
    with pytest.raises(celery_queue.ForgedRecord):  # a ledger signature is not an outcome's
        celery_queue.read_outcome(celery_queue.sign(SECRET, "ledger", "k1", doc), SECRET, "k1")


def test_jobs_are_signed_by_the_submitting_side() -> None:
    job = celery_queue.sign_job(SECRET, {"key": "k1", "archive": "AAAA", "options": {"seed": 1}})
    celery_queue.verify_job(SECRET, job)
    for changed in ({**job, "archive": "BBBB"}, {**job, "key": "k2"}, {**job, "mac": ""}):
        with pytest.raises(celery_queue.ForgedRecord):
            celery_queue.verify_job(SECRET, changed)
    with pytest.raises(celery_queue.ForgedRecord):
        celery_queue.verify_job(OTHER, job)


def test_the_submitting_side_reports_a_forged_record_as_refused(tmp_path: Path) -> None:
    executor = celery_queue.QueueExecutor.__new__(celery_queue.QueueExecutor)
    executor.secret = SECRET
    job = Job(name="cand0", path=tmp_path, digest="d", key="k1")
    done = executor._record("k1", job, b"forged", None)
    assert done.verdict == REFUSED
    assert done.results is None
    assert "not signed" in (done.error or "")
    done = executor._record("k1", job, None, b'{"verdict": "graded"}')
    assert done.verdict == REFUSED
    good = celery_queue.pack_results(make_sample_results(), "w1", SECRET, "k1")
    assert executor._record("k1", job, good, None).results is not None


def test_the_key_is_required_and_long_enough(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv(celery_queue.KEY_ENV, raising=False)
    monkeypatch.delenv(celery_queue.KEY_FILE_ENV, raising=False)
    with pytest.raises(UsageError, match="no queue key is set"):
        celery_queue.queue_key()
    monkeypatch.setenv(celery_queue.KEY_ENV, "short")
    with pytest.raises(UsageError, match="under 32"):
        celery_queue.queue_key()
    path = tmp_path / "key"
    path.write_text("x" * 44 + "\n")
    monkeypatch.setenv(celery_queue.KEY_FILE_ENV, str(path))
    assert celery_queue.queue_key() == b"x" * 44  # the file wins over the variable
    monkeypatch.setenv(celery_queue.KEY_FILE_ENV, str(tmp_path / "absent"))
    with pytest.raises(UsageError, match="cannot read the queue key"):
        celery_queue.queue_key()
