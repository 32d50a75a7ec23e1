"""Load figures from the generator's own truth (issue 18, item 2): hostile realtime services.

Each hostile variant passes the checks (``assess verify`` proves that) and plays one trick on
the load phase that a generator trusting the service would miss: answers that hide lost
messages, restamped payloads that fake low latency, channels told apart by their names. Each
test grades it with a short load phase and shows the figure that catches it; the reference's
deliveries come out clean under the same accounting (no honest service is accused)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from runner.challenges.solutions import overlay
from runner.results import Results, Verdict
from tests.conftest import ROOT
from tests.integration.conftest import Grader

pytestmark = [pytest.mark.docker, pytest.mark.load]

SOLUTIONS = ROOT / "challenges" / "realtime" / "solutions"
REFERENCE = SOLUTIONS / "reference"
# one quick check keeps the run short; the variants pass every check (assess verify)
CHECK = "publish_assigns_consecutive_seqs"
DELIVERY_ERRORS = (
    "MessageLost",
    "MessageDuplicated",
    "MessageOutOfOrder",
    "MessageCorrupted",
    "SequenceError",
)


def grade_variant(graded: Grader, tmp_path: Path, name: str) -> Results:
    d = SOLUTIONS / name
    if (d / "expected.toml").exists():
        d = overlay(REFERENCE, SOLUTIONS / name, tmp_path / name, "expected.toml", "node_modules")
    r = graded("realtime", d, skip_load=False, load_duration_s=5, keyword=CHECK)
    assert r.verdict == Verdict.GRADED, r.verdict_detail
    assert r.load is not None, r.load_missing
    return r


def errors(r: Results) -> dict[str, int]:
    """Delivery errors over the whole load phase (measured stage and any capacity stages)."""
    assert r.load is not None
    found: dict[str, int] = {}
    for stage in (r.load.measured, *r.load.steps):
        for kind in DELIVERY_ERRORS:
            if stage.failures_by_kind.get(kind):
                found[kind] = found.get(kind, 0) + stage.failures_by_kind[kind]
    return found


@pytest.mark.parametrize("honest", ["reference", "stranger-python"])
def test_honest_services_deliver_clean(graded: Grader, tmp_path: Path, honest: str) -> None:
    r = grade_variant(graded, tmp_path, honest)
    assert r.load is not None
    assert errors(r) == {}
    assert r.load.measured.requests > 0
    assert r.load.measured.p95_ms is not None


def test_acknowledged_but_dropped_messages_are_lost_whatever_the_seqs_say(
    graded: Grader, tmp_path: Path
) -> None:
    """hides-lost-messages answers a dropped publish with the previous seq: subscribers see no
    gap. The generator's record counts the acknowledged publish lost at every subscriber, and
    the repeated seq in the answer as an error."""
    r = grade_variant(graded, tmp_path, "hides-lost-messages")
    found = errors(r)
    assert found.get("MessageLost", 0) > 0, found
    assert found.get("SequenceError", 0) > 0, found
    assert r.load is not None
    assert not r.load.slo_met


def test_a_restamped_payload_cannot_fake_latency(graded: Grader, tmp_path: Path) -> None:
    """fakes-latency holds messages and restamps ts (and i): the payload matches no publish
    (corrupted), the real message never arrived (lost), and no latency is read from it."""
    r = grade_variant(graded, tmp_path, "fakes-latency")
    found = errors(r)
    assert found.get("MessageCorrupted", 0) > 0, found
    assert found.get("MessageLost", 0) > 0, found
    assert r.load is not None
    assert not r.load.slo_met


def test_load_channels_cannot_be_spotted_by_name(graded: Grader, tmp_path: Path) -> None:
    """spots-load-channels cheats on channels not shaped like the checks': its test tells the
    old load names (tag, user, 'x', channel) from check names, but not today's, which come from
    the checks' own generator. It never spots one, so its load is as clean as the reference's."""
    source = (SOLUTIONS / "spots-load-channels" / "flawed.js").read_text()
    found_re = re.search(r"const CHECK_SHAPED = /(.+)/;", source)
    assert found_re is not None
    check_shaped = re.compile(found_re.group(1))
    assert not check_shaped.match("ticker.BTC-USD.ab12cd3x0")  # the old load shape: spotted
    r = grade_variant(graded, tmp_path, "spots-load-channels")
    assert "spotted a load channel" not in r.service_log.text
    assert errors(r) == {}


AUDITED = {
    # challenge -> one quick check (the load phase is what is tested here)
    "rest-api": "get_booking",
    "cache": "healthz_ok",
    "monitoring": "alert_rules_valid",
    "data": "healthz_ok",
}


@pytest.mark.parametrize("challenge", sorted(AUDITED))
def test_audited_profiles_verify_their_references_clean(graded: Grader, challenge: str) -> None:
    """rest-api, cache and monitoring draw names and keys from private generators now (shapes
    as the checks'); their references still pass every verification the load makes."""
    ref = ROOT / "challenges" / challenge / "solutions" / "reference"
    r = graded(challenge, ref, skip_load=False, load_duration_s=3, keyword=AUDITED[challenge])
    assert r.verdict == Verdict.GRADED, r.verdict_detail
    assert r.load is not None, r.load_missing
    m = r.load.measured
    assert m.requests > 0
    assert m.failures == 0, [(g.name, g.example) for g in r.load.measured.failure_groups]
