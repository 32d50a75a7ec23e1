"""POST /publish validation: 400, 413 and 422 as problem+json, and nothing published."""

from __future__ import annotations

import json

import pytest
from conftest import problem, publish

from graders import expect, fail


@pytest.mark.points(1)
@pytest.mark.skill("validation")
def test_publish_invalid_json_is_400(api, channels):
    """A body that is not JSON, empty, or JSON but not an object answers 400."""
    for body in ['{"channel": "x", "data": ', "", "[1, 2]", '"text"', "null"]:
        r = api.post("/publish", data=body, headers={"Content-Type": "application/json"})
        problem(r, 400)


@pytest.mark.points(2)
@pytest.mark.skill("validation")
def test_publish_invalid_channel_is_422(api, channels):
    """A missing, non-string or badly formed channel answers 422."""
    for body in [
        {"data": 1},
        {"channel": 5, "data": 1},
        {"channel": "", "data": 1},
        {"channel": "no spaces", "data": 1},
        {"channel": "y" * 65, "data": 1},
    ]:
        problem(api.post("/publish", json=body), 422)


@pytest.mark.points(1)
@pytest.mark.skill("validation")
def test_publish_missing_data_is_422_null_is_fine(api, channels):
    """data must be present (422 without it); null is a value like any other."""
    ch = channels.new()
    problem(api.post("/publish", json={"channel": ch}), 422)
    if (seq := publish(api, ch, None)) != 1:
        fail(f"the first publish to {ch} after a rejected one: expected seq 1; got {seq}")


@pytest.mark.hidden
@pytest.mark.points(1)
@pytest.mark.skill("validation")
def test_rejected_publish_takes_no_seq(api, channels, connect):
    """Rejected publishes reach nobody and take no sequence number."""
    ch = channels.new()
    sub = connect()
    sub.subscribe(ch)
    publish(api, ch, channels.tick())
    problem(api.post("/publish", json={"channel": ch}), 422)
    problem(api.post("/publish", data="{", headers={"Content-Type": "application/json"}), 400)
    if (seq := publish(api, ch, channels.tick())) != 2:
        fail(f"after one accepted and two rejected publishes to {ch}: expected seq 2; got {seq}")
    sub.expect_messages(ch, 1, 2)
    sub.expect_quiet(ch)


@pytest.mark.hidden
@pytest.mark.points(1)
@pytest.mark.skill("limits")
def test_publish_too_large_is_413(api, channels):
    """A body over 65536 bytes answers 413; one just under is published."""
    ch = channels.new()
    over = json.dumps({"channel": ch, "data": "x" * 65_536})
    problem(api.post("/publish", data=over, headers={"Content-Type": "application/json"}), 413)
    envelope = len(json.dumps({"channel": ch, "data": ""}))
    under = json.dumps({"channel": ch, "data": "y" * (65_536 - envelope)})
    r = api.post("/publish", data=under, headers={"Content-Type": "application/json"})
    expect(r).status(200)
    if r.json().get("seq") != 1:
        fail(
            f"{r.request_line}: a body of exactly 65536 bytes is allowed; expected seq 1; "
            f"got {r.text[:200]}"
        )
