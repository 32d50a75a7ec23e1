"""Load profile of the realtime challenge: paced publishes fanned out to hundreds of WebSockets.

Each user owns CHANNELS_PER_USER channels and holds CONNECTIONS_PER_USER WebSocket connections,
each subscribed to all of them, each read by its own greenlet that pings every second (the
brief's idle timeout spares only active clients). The user's paced task publishes one tick
(``POST /publish``) on one of its channels.

Indistinguishable from the checks: channel names come from the checks' own generator
(:class:`graders.names.UniqueNames` with the checks' template and choices), ticks have the
checks' shape (``i``, ``price``, ``size``, ``side``, ``ts``), and the WebSocket client is the
checks' (graders.ws: stdlib sockets, cooperative under gevent, frame sizes capped before
payloads are read, every call deadlined).

Figures from the generator's own observation (graders.load.delivery), none from the service:
- ``delivery`` latency: the generator's monotonic clock when it sent the publish to its clock
  when the message arrived. The payload's ``ts`` is data, never read as a time.
- loss, duplication, order: against the generator's record of what it published and what the
  service acknowledged: every acknowledged publish must reach every connection whose
  subscription was acknowledged before the publish was sent, exactly once, in order.
  Messages are matched to publishes by their whole payload (random fields from a private
  generator make each unique); a payload that matches no publish is MessageCorrupted.
- the service's seqs are only checked: a publish answer or a delivery whose seq repeats or goes
  back, or a delivery whose seq differs from its publish's answer, is a SequenceError.
Failures are reported by exception class: MessageLost (a gap not filled within GAP_DEADLINE_S,
not delivered within DELIVERY_DEADLINE_S of its answer, or never received by the end),
MessageDuplicated, MessageOutOfOrder, MessageCorrupted, SequenceError; connection set-up is reported as ``connect``. The rate (``POST /publish``) is
the generator's count of publishes it sent and saw answered 200.
"""

from __future__ import annotations

import random
import time
import uuid
from typing import Any

import gevent
from locust import events, task

from graders.bounded import load_json
from graders.load.delivery import MessageCorrupted, Stream, Subscription
from graders.expect import CheckFailed
from graders.load.user import LoadUser
from graders.names import UniqueNames
from graders.ws import WebSocket
from graders.ws import connect as ws_connect

CHANNELS_PER_USER = 2
CONNECTIONS_PER_USER = 15
PING_EVERY_S = 1.0
GAP_DEADLINE_S = 2.0  # a message missing while a later one arrived: lost after this
DELIVERY_DEADLINE_S = 5.0  # an acknowledged publish not delivered this long after its answer
DRAIN_S = 2.0  # at the end, how long receivers may take to catch up with the last publish
WS_TIMEOUT_S = 10.0
# the checks' template and choices (challenges/realtime/checks/conftest.py)
PAIRS = ["BTC-USD", "ETH-USD", "SOL-USD", "ETH-EUR", "BTC-EUR", "ADA-USD", "XRP-USD", "DOT-USD"]
KINDS = ["ticker", "trades", "book"]
NAME_TEMPLATE = "{kind}.{pair}.{tag}{n}"

_names = UniqueNames(NAME_TEMPLATE, kind=KINDS, pair=PAIRS)
_rng = random.Random(uuid.uuid4().int)  # payloads: private, unpredictable to the service
_open = 0


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


def _delivery(ms: float, length: int, exc: Exception | None) -> None:
    _fire("delivery", ms, length, exc)


class Receiver:
    """One subscriber connection: a Subscription per channel of its user."""

    def __init__(self, user: RealtimeUser, index: int) -> None:
        self.user = user
        self.index = index
        self.subs: dict[str, Subscription] = {}
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
        streams = self.user.streams
        for ch in streams:
            ws.send_json({"op": "subscribe", "channel": ch})
        while len(self.subs) < len(streams):
            event = load_json(ws.recv_text(WS_TIMEOUT_S), "an acknowledgement")  # bounded
            if not isinstance(event, dict):
                raise CheckFailed(f"subscribe: expected a JSON object; got {str(event)[:200]}")
            ch = event.get("channel")
            if event.get("type") == "subscribed" and ch in streams and ch not in self.subs:
                # from this moment on, every acknowledged publish of ch is owed to us
                self.subs[ch] = Subscription(
                    streams[ch], _delivery, GAP_DEADLINE_S, DELIVERY_DEADLINE_S
                )
            elif event.get("type") == "message":
                raise CheckFailed(f"a message before its subscription was acknowledged: {event}")
            else:
                raise CheckFailed(f"subscribe: expected an acknowledgement; got {event}")

    def _receive(self, ws: WebSocket) -> None:
        last_ping = last_expire = time.monotonic()
        while not self.stopping:
            got = ws.poll_message(0.25)
            now = time.monotonic()
            if now - last_ping >= PING_EVERY_S:
                ws.send_ping(b"hb")
                last_ping = now
            if got is not None:
                self._on_message(got[1])
            if now - last_expire >= 0.25:  # not per message: the generator's CPU is precious
                last_expire = now
                for sub in self.subs.values():
                    sub.expire()

    def _on_message(self, payload: bytes) -> None:
        try:
            event = load_json(payload, "a delivery", max_bytes=len(payload) + 1)  # bounded
        except ValueError:
            event = None
        sub = self.subs.get(event.get("channel")) if isinstance(event, dict) else None
        if sub is None or event.get("type") != "message" or "data" not in event:
            _delivery(0, len(payload), MessageCorrupted(f"unexpected event {payload[:200]!r}"))
            return
        sub.on_message(event.get("seq"), event["data"], len(payload))

    def caught_up(self) -> bool:
        return not self.ready or all(not s.outstanding() for s in self.subs.values())

    def finish(self) -> None:
        """At the end: every acknowledged publish owed to this connection arrived, or is lost."""
        if self.ready:
            for sub in self.subs.values():
                sub.finish()


class RealtimeUser(LoadUser):
    def on_start(self) -> None:
        names = [_names.new() for _ in range(CHANNELS_PER_USER)]
        self.streams = {name: Stream(name) for name in names}
        self.channels = list(self.streams)
        self.counter = 0
        self.receivers = [Receiver(self, k) for k in range(CONNECTIONS_PER_USER)]
        self.greenlets = [gevent.spawn(r.run) for r in self.receivers]
        deadline = time.monotonic() + WS_TIMEOUT_S
        while time.monotonic() < deadline and not all(
            r.ready or g.dead for r, g in zip(self.receivers, self.greenlets, strict=True)
        ):
            gevent.sleep(0.05)

    def tick(self, stream: Stream) -> dict[str, Any]:
        """A tick of the checks' shape, unique in its stream (random fields act as a nonce)."""
        while True:
            self.counter += 1
            i = self.counter
            data = {
                "i": i,
                "price": round(_rng.uniform(10, 70_000), 2),
                "size": round(_rng.uniform(0.001, 5), 4),
                "side": "buy" if i % 2 else "sell",
                "ts": time.time(),
            }
            if stream.is_unique(data):
                return data

    @task
    def publish(self) -> None:
        ch = _rng.choice(self.channels)
        stream = self.streams[ch]
        data = self.tick(stream)
        rec = stream.sent(data)  # before the request: its message may arrive before the answer
        with self.client.post(
            "/publish",
            json={"channel": ch, "data": data},
            name="POST /publish",
            catch_response=True,
        ) as resp:
            body = self.json_or_fail(resp, "publish")
            seq = body.get("seq") if isinstance(body, dict) else None
            if (
                not isinstance(seq, int)
                or isinstance(seq, bool)
                or body.get("channel") != ch
                or not 200 <= resp.status_code < 300
            ):
                stream.failed(rec)
                if body is not None:
                    resp.failure(f"publish: expected {{channel, seq}}; got {str(body)[:200]}")
                return
            error = stream.acked(rec, seq)
            if error is not None:
                resp.failure(error)

    def on_stop(self) -> None:
        deadline = time.monotonic() + DRAIN_S
        while time.monotonic() < deadline and not all(r.caught_up() for r in self.receivers):
            gevent.sleep(0.05)
        for r in self.receivers:
            r.stopping = True
            r.finish()
        gevent.joinall(self.greenlets, timeout=1.0)
        gevent.killall([g for g in self.greenlets if not g.dead], block=False)
