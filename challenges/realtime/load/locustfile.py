"""Load profile of the realtime challenge: paced publishes fanned out to hundreds of WebSockets.

Each user owns CHANNELS_PER_USER channels (named like the checks' channels) and holds
CONNECTIONS_PER_USER WebSocket connections, each subscribed to all of them, each read by its
own greenlet that pings every second (the brief's idle timeout spares only active clients). The
user's paced task publishes one tick (``POST /publish``) on one of its channels; the data looks
like the checks' ticks and carries the publisher's send time (``ts``) and a per-user counter
(``i``).

Every receipt is verified and reported as a WS request named ``delivery``: its response time is
the time from publish to receipt. Per connection and channel the seqs must run on from the
subscription's acknowledgement without gaps or repeats, and each message's data must be the
data published under its counter. Failures are reported by exception class: MessageLost (a gap
that did not fill within GAP_DEADLINE_S, or a published seq never received by the end),
MessageDuplicated, MessageOutOfOrder (a gap that filled late), MessageCorrupted. Connection
set-up is reported as ``connect``.

WebSocket client: graders.ws, the checks' own client (stdlib sockets, cooperative once gevent
has monkey-patched the process). It caps frame sizes before reading payloads and bounds every
call by a deadline, so a hostile service cannot grow or stall the generator, and load traffic
is byte-for-byte the checks' traffic.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import time
from typing import Any

import gevent
from locust import events, task

from graders.expect import CheckFailed
from graders.load.user import LoadUser
from graders.ws import WebSocket
from graders.ws import connect as ws_connect

SEED = int(os.environ.get("ASSESS_SEED", "1") or "1")
CHANNELS_PER_USER = 2
CONNECTIONS_PER_USER = 15
PING_EVERY_S = 1.0
GAP_DEADLINE_S = 2.0
DRAIN_S = 2.0  # at the end, how long receivers may take to catch up with the last publish
WS_TIMEOUT_S = 10.0
PAIRS = ["BTC-USD", "ETH-USD", "SOL-USD", "ETH-EUR", "BTC-EUR", "ADA-USD", "XRP-USD", "DOT-USD"]
KINDS = ["ticker", "trades", "book"]

_rng = random.Random(f"realtime-load-{SEED}-{os.getpid()}-{time.time_ns()}")
_tag = "".join(_rng.choices("abcdefghijklmnopqrstuvwxyz0123456789", k=6))
_user_counter = itertools.count(1)
_open = 0


class MessageLost(Exception):
    pass


class MessageDuplicated(Exception):
    pass


class MessageOutOfOrder(Exception):
    pass


class MessageCorrupted(Exception):
    pass


class ConnectFailed(Exception):
    pass


def assess_gauges() -> dict[str, float]:
    """Sampled each second by the load generator (summed over workers)."""
    return {"connections_open": float(_open)}


def _fire(name: str, ms: float, length: int = 0, exc: Exception | None = None) -> None:
    events.request.fire(
        request_type="WS",
        name=name,
        response_time=ms,
        response_length=length,
        exception=exc,
        context={},
    )


class Receiver:
    """One subscriber connection and what it has received, per channel."""

    def __init__(self, user: RealtimeUser, index: int) -> None:
        self.user = user
        self.index = index
        self.ws: WebSocket | None = None
        self.next: dict[str, int] = {}  # channel -> next expected seq
        self.missing: dict[str, dict[int, float]] = {}  # channel -> seq -> give-up time
        self.ready = False
        self.stopping = False

    def run(self) -> None:
        global _open
        start = time.perf_counter()
        try:
            ws = ws_connect(self.user.host, "/ws", timeout_s=WS_TIMEOUT_S)
        except CheckFailed as exc:
            _fire("connect", (time.perf_counter() - start) * 1000, exc=ConnectFailed(str(exc)))
            return
        self.ws = ws
        _open += 1
        try:
            self._subscribe(ws)
            _fire("connect", (time.perf_counter() - start) * 1000)
            self.ready = True
            self._receive(ws)
        except CheckFailed as exc:
            if not self.stopping:
                _fire("connect" if not self.ready else "delivery", 0, exc=ConnectFailed(str(exc)))
        finally:
            _open -= 1
            ws.close()

    def _subscribe(self, ws: WebSocket) -> None:
        for ch in self.user.channels:
            ws.send_json({"op": "subscribe", "channel": ch})
        acked = 0
        while acked < len(self.user.channels):
            event = json.loads(ws.recv_text(WS_TIMEOUT_S))
            if event.get("type") == "subscribed" and event.get("channel") in self.user.channels:
                self.next[event["channel"]] = int(event["seq"]) + 1
                self.missing[event["channel"]] = {}
                acked += 1
            elif event.get("type") == "message":
                raise CheckFailed(f"a message before its subscription was acknowledged: {event}")
            else:
                raise CheckFailed(f"subscribe: expected an acknowledgement; got {event}")

    def _receive(self, ws: WebSocket) -> None:
        last_ping = time.monotonic()
        while not self.stopping:
            got = ws.poll_message(0.25)
            now = time.monotonic()
            if now - last_ping >= PING_EVERY_S:
                ws.send_ping(b"hb")
                last_ping = now
            if got is not None:
                self._on_message(got[1])
            self._expire(now)

    def _on_message(self, payload: bytes) -> None:
        received = time.time()
        event = json.loads(payload)
        ch, seq, data = event.get("channel"), event.get("seq"), event.get("data")
        if event.get("type") != "message" or ch not in self.next or not isinstance(seq, int):
            _fire("delivery", 0, len(payload), MessageCorrupted(f"unexpected event {event}"))
            return
        latency_ms = max(0.0, (received - float(data.get("ts", received))) * 1000)
        published = self.user.sent.get((ch, data.get("i")))
        if published is not None and published != data:
            _fire("delivery", latency_ms, len(payload), MessageCorrupted(f"{ch} seq {seq}"))
            return
        expected = self.next[ch]
        if seq == expected:
            self.next[ch] = seq + 1
            _fire("delivery", latency_ms, len(payload))
        elif seq > expected:
            give_up = time.monotonic() + GAP_DEADLINE_S
            for s in range(expected, seq):
                self.missing[ch][s] = give_up
            self.next[ch] = seq + 1
            _fire("delivery", latency_ms, len(payload))
        elif self.missing[ch].pop(seq, None) is not None:
            _fire("delivery", latency_ms, len(payload), MessageOutOfOrder(f"{ch} seq {seq}"))
        else:
            _fire("delivery", latency_ms, len(payload), MessageDuplicated(f"{ch} seq {seq}"))

    def _expire(self, now: float) -> None:
        for ch, gaps in self.missing.items():
            for s in [s for s, t in gaps.items() if t <= now]:
                del gaps[s]
                _fire("delivery", 0, 0, MessageLost(f"{ch} seq {s} (gap never filled)"))

    def finish(self) -> None:
        """At the end: every seq the service confirmed must have arrived (or count as lost)."""
        if not self.ready:
            return
        for ch, gaps in self.missing.items():
            for s in list(gaps):
                _fire("delivery", 0, 0, MessageLost(f"{ch} seq {s} (gap never filled)"))
            gaps.clear()
        for ch, last in self.user.last_seq.items():
            for s in range(self.next.get(ch, last + 1), last + 1):
                _fire("delivery", 0, 0, MessageLost(f"{ch} seq {s} (never received)"))


class RealtimeUser(LoadUser):
    def on_start(self) -> None:
        uid = next(_user_counter)
        self.channels = [
            f"{_rng.choice(KINDS)}.{_rng.choice(PAIRS)}.{_tag}{uid}x{k}"
            for k in range(CHANNELS_PER_USER)
        ]
        self.counter = itertools.count(1)
        self.sent: dict[tuple[str, int], dict[str, Any]] = {}
        self.last_seq: dict[str, int] = {}
        self.receivers = [Receiver(self, k) for k in range(CONNECTIONS_PER_USER)]
        self.greenlets = [gevent.spawn(r.run) for r in self.receivers]
        deadline = time.monotonic() + WS_TIMEOUT_S
        while time.monotonic() < deadline and not all(
            r.ready or g.dead for r, g in zip(self.receivers, self.greenlets, strict=True)
        ):
            gevent.sleep(0.05)

    @task
    def publish(self) -> None:
        ch = _rng.choice(self.channels)
        i = next(self.counter)
        price = round(_rng.uniform(10, 70_000), 2)
        size = round(_rng.uniform(0.001, 5), 4)
        data = {
            "i": i,
            "price": price,
            "size": size,
            "side": "buy" if i % 2 else "sell",
            "ts": time.time(),
        }
        self.sent[(ch, i)] = data
        with self.client.post(
            "/publish",
            json={"channel": ch, "data": data},
            name="POST /publish",
            catch_response=True,
        ) as resp:
            body = self.json_or_fail(resp, "publish")
            if body is None:
                return
            seq = body.get("seq") if isinstance(body, dict) else None
            if not isinstance(seq, int) or body.get("channel") != ch:
                resp.failure(f"publish: expected {{channel, seq}}; got {str(body)[:200]}")
                return
            self.last_seq[ch] = max(self.last_seq.get(ch, 0), seq)

    def on_stop(self) -> None:
        deadline = time.monotonic() + DRAIN_S
        while time.monotonic() < deadline and not all(
            r.next.get(ch, 0) > last
            for r in self.receivers
            if r.ready
            for ch, last in self.last_seq.items()
        ):
            gevent.sleep(0.05)
        for r in self.receivers:
            r.stopping = True
            r.finish()
        gevent.joinall(self.greenlets, timeout=1.0)
        gevent.killall([g for g in self.greenlets if not g.dead], block=False)
