"""Limits: message size (close 1009) and connection count (503)."""

from __future__ import annotations

import json
import time

import pytest
from conftest import MAX_CONNECTIONS, MAX_MESSAGE_BYTES

from graders import fail, ws_connect
from graders.ws import handshake_answer


@pytest.mark.points(2)
@pytest.mark.skill("limits")
def test_oversized_message_closed_1009(connect):
    """A client message over MAX_MESSAGE_BYTES closes the connection with code 1009."""
    sub = connect()
    big = json.dumps({"op": "subscribe", "channel": "a", "pad": "x" * MAX_MESSAGE_BYTES})
    sub.send(big)
    code, _ = sub.ws.expect_close(5)
    if code != 1009:
        fail(
            f"sent a {len(big)}-byte message (limit {MAX_MESSAGE_BYTES}); expected a close "
            f"with code 1009; got {'no close code' if code is None else f'code {code}'}"
        )


@pytest.mark.hidden
@pytest.mark.points(1)
@pytest.mark.skill("limits")
def test_message_at_the_limit_is_handled(channels, connect):
    """A command of exactly MAX_MESSAGE_BYTES bytes is handled normally."""
    sub = connect()
    ch = channels.new()
    base = json.dumps({"op": "subscribe", "channel": ch, "pad": ""})
    cmd = json.dumps(
        {"op": "subscribe", "channel": ch, "pad": "x" * (MAX_MESSAGE_BYTES - len(base))}
    )
    assert len(cmd.encode()) == MAX_MESSAGE_BYTES
    sub.send(cmd)
    event = sub.reply("a command of exactly the limit")
    if event.get("type") != "subscribed":
        fail(
            f"sent a {MAX_MESSAGE_BYTES}-byte subscribe; expected the subscribed "
            f"acknowledgement; got {event}"
        )


@pytest.mark.hidden
@pytest.mark.points(2)
@pytest.mark.skill("limits")
def test_max_connections_then_503(service_url):
    """MAX_CONNECTIONS connections are accepted; one more answers 503; a freed slot is reused."""
    held = []
    try:
        for i in range(MAX_CONNECTIONS):
            # A connection still closing from an earlier check may hold a slot for a moment.
            deadline = time.monotonic() + 2
            while True:
                try:
                    ws = ws_connect(service_url, "/ws", timeout_s=5)
                except AssertionError as exc:
                    if time.monotonic() > deadline:
                        fail(f"connection {i + 1} of {MAX_CONNECTIONS} was refused: {exc}")
                    time.sleep(0.05)  # retry pacing while an earlier connection finishes closing
                    continue
                held.append(ws)
                break
            if i % 50 == 0:
                for w in held:  # keep them all active past the idle timeout
                    w.send_ping(b"k")
        status, _ = handshake_answer(
            service_url,
            "/ws",
            {
                "Upgrade": "websocket",
                "Connection": "Upgrade",
                "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
                "Sec-WebSocket-Version": "13",
            },
        )
        if status != 503:
            fail(
                f"with {MAX_CONNECTIONS} connections open, one more upgrade: expected 503; "
                f"got status {status}"
            )
        held.pop().close()
        deadline = time.monotonic() + 3
        while True:
            try:
                held.append(ws_connect(service_url, "/ws", timeout_s=5))
                break
            except AssertionError as exc:
                if time.monotonic() > deadline:
                    fail(
                        f"after one of {MAX_CONNECTIONS} connections closed, a new one was "
                        f"still refused after 3 s: {exc}"
                    )
                time.sleep(0.05)  # retry pacing
    finally:
        for w in held:
            w.close()
