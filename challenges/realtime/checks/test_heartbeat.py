"""Heartbeats: pings are answered; an idle connection is closed with 4000, an active one not."""

from __future__ import annotations

import time

import pytest
from conftest import IDLE_TIMEOUT_S, publish

from graders import fail

EARLY_S = 0.5  # a close this much before the timeout is too early
LATE_S = 2.5  # the brief allows 1 s; the rest is the grader's scheduling


@pytest.mark.points(2)
@pytest.mark.skill("heartbeats")
def test_ping_answered_with_pong(connect):
    """Every ping is answered by a pong with the same payload."""
    sub = connect()
    for payload in [b"", b"x", b"market-data-heartbeat-0123456789" * 3]:
        sub.ws.ping(payload, timeout_s=3)


@pytest.mark.hidden
@pytest.mark.points(1)
@pytest.mark.skill("heartbeats")
def test_ping_answered_while_busy(api, channels, connect):
    """Pings are answered promptly while the connection is receiving messages."""
    ch = channels.new()
    sub = connect()
    sub.subscribe(ch)
    for i in range(50):
        publish(api, ch, channels.tick(i))
        if i % 10 == 0:
            sub.ws.ping(f"busy-{i}".encode(), timeout_s=2)
    sub.expect_messages(ch, 1, 50)


@pytest.mark.points(2)
@pytest.mark.skill("heartbeats")
def test_idle_connection_closed_4000(connect):
    """A connection whose client sends nothing is closed with code 4000 after IDLE_TIMEOUT_S."""
    sub = connect()
    start = time.monotonic()
    code, _ = sub.ws.expect_close(IDLE_TIMEOUT_S + LATE_S)
    took = time.monotonic() - start
    if took < IDLE_TIMEOUT_S - EARLY_S:
        fail(
            f"the idle connection was closed after {took:.1f} s; the timeout is "
            f"{IDLE_TIMEOUT_S:g} s"
        )
    if code != 4000:
        fail(
            f"the idle connection was closed after {took:.1f} s with "
            f"{'no close code' if code is None else f'code {code}'}; expected code 4000"
        )


@pytest.mark.points(2)
@pytest.mark.skill("heartbeats")
def test_pings_keep_connection_open(api, channels, connect):
    """A listener that pings every second stays open past the idle timeout, and subscribed."""
    ch = channels.new()
    sub = connect()
    sub.subscribe(ch)
    deadline = time.monotonic() + IDLE_TIMEOUT_S + 1.5
    while time.monotonic() < deadline:
        sub.ws.ping(b"alive", timeout_s=3)
        time.sleep(0.9)  # the pacing of a client's heartbeat, not a synchronisation
    seq = publish(api, ch, channels.tick())
    sub.expect_messages(ch, seq, 1)


@pytest.mark.hidden
@pytest.mark.points(1)
@pytest.mark.skill("heartbeats")
def test_commands_keep_connection_open(channels, connect):
    """A client that sends a message now and then (no pings) is active too."""
    sub = connect()
    deadline = time.monotonic() + IDLE_TIMEOUT_S + 1.5
    while time.monotonic() < deadline:
        sub.error({"op": "hello"}, "unknown_op")
        time.sleep(0.9)  # the pacing of the client's messages
    sub.subscribe(channels.new())
