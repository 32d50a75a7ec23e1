"""Load profile of the events challenge: transfers published at a fixed rate over AMQP, each
verified in the ledger.

Each user holds one AMQP connection through the grader's broker user (its password is the
broker sidecar's secret, never the candidate's) and publishes paced transfers between two
account pairs of its own (funded through the ledger's control port at start, so nothing is
rejected), round robin, alternating direction, as persistent messages with publisher confirms.

Figures from the generator's own observation, none from the service:
- ``publish``: the time the broker took to confirm a publish (the offered rate is counted here);
- ``effect`` latency: the generator's wall clock when it published to the ledger's wall clock
  when the posting was applied (same host, same kernel clock), read from the ledger's record of
  every call by one poller per worker;
- ``MessageLost``: a transfer with no posting EFFECT_DEADLINE_S after it was published;
  ``MessageDuplicated``: a transfer with more than one posting;
- the gauge ``consumer_lag``: transfers published and not yet applied, sampled each second.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import gevent
import pika
import pika.exceptions
from locust import events, task

from graders.http import Client
from graders.load.user import LoadUser

EFFECT_DEADLINE_S = 10.0
POLL_EVERY_S = 0.25
QUERY_MAX = 1000
PAIRS_PER_USER = 4  # transfers on one pair are ordered (serial at the service); pairs are not
RUN = uuid.uuid4().hex[:6]

_pending: dict[str, float] = {}  # transfer id -> publish time (time.time())
_ledger: Client | None = None
_poller: Any = None
_n = 0


class MessageLost(Exception):
    pass


class MessageDuplicated(Exception):
    pass


def assess_gauges() -> dict[str, float]:
    """Sampled each second by the load generator (summed over workers)."""
    return {"consumer_lag": float(len(_pending))}


def _fire(name: str, ms: float, exc: Exception | None = None) -> None:
    events.request.fire(
        request_type="AMQP",
        name=name,
        response_time=ms,
        response_length=0,
        exception=exc,
        context={},
    )


def _poll() -> None:
    """Read the ledger's record of the pending transfers; fire their effects."""
    while True:
        gevent.sleep(POLL_EVERY_S)
        if not _pending or _ledger is None:
            continue
        ids = list(_pending)[:QUERY_MAX]
        try:
            r = _ledger.post("/control/transfers", json={"ids": ids})
            recs = r.json()["transfers"] if r.status == 200 else None
        except Exception:
            recs = None
        if recs is None:
            continue
        now = time.time()
        for tid in ids:
            published = _pending.get(tid)
            if published is None:
                continue
            postings = recs.get(tid, {}).get("postings", [])
            if postings:
                del _pending[tid]
                ms = max(0.0, (float(postings[0]["t"]) - published) * 1000)
                if len(postings) > 1:
                    _fire("effect", ms, MessageDuplicated(f"{len(postings)} postings"))
                else:
                    _fire("effect", ms)
            elif now - published > EFFECT_DEADLINE_S:
                del _pending[tid]
                _fire("effect", EFFECT_DEADLINE_S * 1000, MessageLost("no posting in 10 s"))


class TransferFlow(LoadUser):
    def on_start(self) -> None:
        global _ledger, _poller
        sidecars = self.assess_sidecars  # type: ignore[attr-defined]
        ledger = sidecars["ledger"]
        if _ledger is None:
            _ledger = Client(
                ledger["url"],
                headers={"Authorization": f"Bearer {ledger['token']}"},
                max_body=16 * 1024 * 1024,
                timeout_s=10,
            )
        if _poller is None:
            _poller = gevent.spawn(_poll)
        tag = uuid.uuid4().hex[:8]
        self.pairs = [
            (f"load-{RUN}-{tag}-{i}a", f"load-{RUN}-{tag}-{i}b") for i in range(PAIRS_PER_USER)
        ]
        for pair in self.pairs:
            for acc in pair:
                _ledger.put(f"/control/accounts/{acc}", json={"balance": 10**9})
        self.turn = 0
        self.ch: Any = None
        self.conn: Any = None
        self.password = sidecars["rabbitmq"]["token"]

    def channel(self) -> Any:
        if self.ch is None or not self.ch.is_open:
            params = pika.ConnectionParameters(
                "127.0.0.1",
                5672,
                "events",
                pika.PlainCredentials("grader", self.password),
                connection_attempts=1,
                socket_timeout=5,
                heartbeat=30,
            )
            self.conn = pika.BlockingConnection(params)
            self.ch = self.conn.channel()
            self.ch.confirm_delivery()
        return self.ch

    @task
    def publish(self) -> None:
        global _n
        _n += 1
        tid = f"load-{RUN}-{_n}"
        a, b = self.pairs[self.turn % len(self.pairs)]
        if (self.turn // len(self.pairs)) % 2:
            a, b = b, a
        self.turn += 1
        published = time.time()
        created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(published))
        body = {"id": tid, "from": a, "to": b, "amount": 1, "created_at": created}
        started = time.monotonic()
        try:
            props = pika.BasicProperties(
                delivery_mode=2, content_type="application/json", message_id=tid
            )
            self.channel().basic_publish("", "transfers", json.dumps(body).encode(), props)
        except (pika.exceptions.AMQPError, OSError) as exc:
            self.ch = None
            _fire("publish", (time.monotonic() - started) * 1000, exc)
            return
        _pending[tid] = published
        _fire("publish", (time.monotonic() - started) * 1000)

    def on_stop(self) -> None:
        try:
            if self.conn is not None and self.conn.is_open:
                self.conn.close()
        except Exception:
            pass
