"""Bad commands get JSON errors and the connection stays open with its subscriptions."""

from __future__ import annotations

import json

import pytest
from conftest import publish

from graders import fail


def _still_delivers(api, channels, sub, ch: str) -> None:
    seq = publish(api, ch, channels.tick())
    sub.expect_messages(ch, seq, 1)


@pytest.mark.points(2)
@pytest.mark.skill("validation")
def test_bad_json_keeps_connection_open(api, channels, connect):
    """Text that is not JSON, or JSON that is not an object, is a bad_json error; the
    subscription keeps delivering."""
    ch = channels.new()
    sub = connect()
    sub.subscribe(ch)
    sub.error("this is not json {", "bad_json")
    sub.error("[1, 2, 3]", "bad_json")
    sub.error('"subscribe"', "bad_json")
    _still_delivers(api, channels, sub, ch)


@pytest.mark.points(1)
@pytest.mark.skill("validation")
def test_unknown_op_is_an_error(api, channels, connect):
    """A missing or unknown op is an unknown_op error; the connection stays usable."""
    ch = channels.new()
    sub = connect()
    sub.error({"op": "publish", "channel": ch}, "unknown_op")
    sub.error({"channel": ch}, "unknown_op")
    sub.error({"op": 7, "channel": ch}, "unknown_op")
    sub.subscribe(ch)
    _still_delivers(api, channels, sub, ch)


@pytest.mark.points(2)
@pytest.mark.skill("validation")
def test_invalid_channel_is_an_error(channels, connect):
    """Channel names outside ^[A-Za-z0-9._-]{1,64}$ are invalid_channel errors."""
    sub = connect()
    for bad in ["", "has space", "slash/es", "x" * 65, "ünïcode", 42, None, ["a"]]:
        sub.error({"op": "subscribe", "channel": bad}, "invalid_channel")
    sub.error({"op": "subscribe"}, "invalid_channel")
    sub.error({"op": "unsubscribe", "channel": "bad name"}, "invalid_channel")
    ok = "A" * 64
    sub.subscribe(ok)


@pytest.mark.hidden
@pytest.mark.points(1)
@pytest.mark.skill("validation")
def test_invalid_last_seq_is_an_error(channels, connect):
    """last_seq must be an integer >= 0: -1, "3", 1.5 and null are invalid_last_seq errors."""
    ch = channels.new()
    sub = connect()
    for bad in [-1, "3", 1.5, None, True]:
        sub.error({"op": "subscribe", "channel": ch, "last_seq": bad}, "invalid_last_seq")
    sub.subscribe(ch, last_seq=0)


@pytest.mark.hidden
@pytest.mark.points(1)
@pytest.mark.skill("validation")
def test_already_and_not_subscribed_errors(api, channels, connect):
    """Subscribing twice is already_subscribed (and delivers once); unsubscribing a channel
    not subscribed is not_subscribed."""
    ch, other = channels.new(), channels.new()
    sub = connect()
    sub.subscribe(ch)
    sub.error({"op": "subscribe", "channel": ch}, "already_subscribed")
    sub.error({"op": "unsubscribe", "channel": other}, "not_subscribed")
    seq = publish(api, ch, channels.tick())
    sub.expect_messages(ch, seq, 1)
    sub.expect_quiet(ch)


@pytest.mark.hidden
@pytest.mark.points(1)
@pytest.mark.skill("validation")
def test_binary_message_is_bad_json(api, channels, connect):
    """A binary message is a bad_json error, even one holding a valid command."""
    ch = channels.new()
    sub = connect()
    sub.subscribe(ch)
    sub.ws.send_frame(0x2, json.dumps({"op": "subscribe", "channel": channels.new()}).encode())
    event = sub.reply("a binary message")
    if event.get("type") != "error" or event.get("code") != "bad_json":
        fail(f"sent a binary message; expected an error with code bad_json; got {event}")
    _still_delivers(api, channels, sub, ch)
