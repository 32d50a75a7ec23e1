"""Slow consumers: a client that stops reading delays nobody and is closed with 4008."""

from __future__ import annotations

import threading
import time

import pytest
from conftest import SLOW_CONSUMER_BYTES, keepalive, publish

from graders import fail

MESSAGE_BYTES = 32 * 1024
# Enough to overflow any compliant server: the kernel buffers on both sides (at most a few MiB
# on Linux, the stalled client asks for a 4 KiB receive buffer) plus SLOW_CONSUMER_BYTES.
FLOOD_BYTES = 12 * 1024 * 1024 + 2 * SLOW_CONSUMER_BYTES
DELIVERY_BOUND_S = 1.0


@pytest.mark.critical
@pytest.mark.points(4)
@pytest.mark.skill("backpressure")
def test_slow_consumer_isolated_and_closed_4008(api, channels, connect):
    """While one subscriber stops reading, another gets each message within 1 s of its publish;
    the stalled one ends with close code 4008 after a gap-free run of messages."""
    ch = channels.new()
    stalled = connect(name="stalled subscriber", recv_buffer=4096)
    healthy = connect(name="healthy subscriber")
    stalled.subscribe(ch)
    start = healthy.subscribe(ch)
    count = FLOOD_BYTES // MESSAGE_BYTES
    pad = "x" * (MESSAGE_BYTES - 200)
    sent_at: dict[int, float] = {}
    late: list[tuple[int, float]] = []
    problems: list[str] = []

    def read_healthy() -> None:
        try:
            last_ping = time.monotonic()
            for n in range(count):
                m = healthy.next_message(timeout_s=10)
                now = time.monotonic()
                want = start + 1 + n
                if m.get("channel") != ch or m.get("seq") != want:
                    problems.append(
                        f"the healthy subscriber expected message {want} of {ch}; "
                        f"got seq {m.get('seq')} of {m.get('channel')}"
                    )
                    return
                published = sent_at.get(want)
                if published is not None and now - published > DELIVERY_BOUND_S:
                    late.append((want, now - published))
                if now - last_ping > 1:
                    healthy.ws.send_ping(b"keepalive")
                    last_ping = now
        except AssertionError as exc:
            problems.append(str(exc))

    reader = threading.Thread(target=read_healthy, daemon=True)
    reader.start()
    flood_started = time.monotonic()
    with keepalive(stalled):
        for i in range(count):
            seq_guess = start + 1 + i
            sent_at[seq_guess] = time.monotonic()
            seq = publish(api, ch, {"i": i, "pad": pad}, timeout_s=5)
            if seq != seq_guess:
                fail(f"publish {i + 1} to {ch}: expected seq {seq_guess}; got {seq}")
        flood_s = time.monotonic() - flood_started
        reader.join(timeout=15)
    if reader.is_alive():
        fail(
            f"the healthy subscriber had not received all {count} messages 15 s after the "
            f"flood ended"
        )
    if problems:
        fail(problems[0])
    if late:
        worst = max(late, key=lambda x: x[1])
        fail(
            f"while one subscriber stalled, {len(late)} of {count} messages reached the healthy "
            f"subscriber more than {DELIVERY_BOUND_S:g} s after their publish (worst: seq "
            f"{worst[0]} after {worst[1]:.2f} s; the flood of {FLOOD_BYTES >> 20} MiB took "
            f"{flood_s:.1f} s)"
        )
    code, messages = stalled.ws.expect_close(15)
    seqs = []
    for opcode, payload in messages:
        event = stalled._parse(payload, opcode)
        if event.get("channel") == ch:
            seqs.append(event.get("seq"))
    if seqs != list(range(start + 1, start + 1 + len(seqs))):
        gap = next((i for i, s in enumerate(seqs) if s != start + 1 + i), 0)
        fail(
            f"the stalled subscriber's messages before the close were not a gap-free run from "
            f"{start + 1}: {seqs[max(gap - 2, 0) : gap + 3]} around position {gap}"
        )
    if code != 4008:
        fail(
            f"the stalled subscriber ({len(seqs)} of {count} messages delivered) was closed "
            f"with {'no close code' if code is None else f'code {code}'}; expected code 4008"
        )
