"""Helpers for the events checks: the grader's own broker connection, the ledger's record, ids.

What a check concludes comes from what the grader itself did and saw: the transfers it published
(with a confirm from the broker), the ledger's record of every call the service made (postings
applied, calls and their answers, in order), and the events it read from its own queue
``grader.events`` (bound to ``transfers.events``; the service's broker user cannot read it).
The service's ``/stats`` is only checked for shape and plausibility.

Every check uses transfer and account ids nobody else uses (a prefix per run, a counter), so
checks are independent of each other and of their order. The ledger's fault is shared state:
it is always scoped to the check's own transfer ids and cleared in a ``finally``.
"""

from __future__ import annotations

import json
import random
import threading
import time
import tomllib
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pika
import pika.exceptions
import pytest

from graders import Client, Response, fail
from graders.bounded import load_json

CHALLENGE_TOML = Path(__file__).resolve().parent.parent / "challenge.toml"
_ENV: dict[str, str] = tomllib.loads(CHALLENGE_TOML.read_text()).get("env", {})
MAX_IN_FLIGHT = int(_ENV.get("MAX_IN_FLIGHT", "20"))
MAX_ATTEMPTS = int(_ENV.get("MAX_ATTEMPTS", "3"))

AMQP_HOST, AMQP_PORT, VHOST = "127.0.0.1", 5672, "events"
QUEUE, DLQ, EVENTS_QUEUE = "transfers", "transfers.dlq", "grader.events"
CONNECT_S = 30.0  # the broker may be restarting
SETTLE_S = 20.0  # a stream's transfers all applied, and their events seen, within this
QUIET_S = 1.0  # after settling, wait this long and read again: late duplicates show up
LEDGER_MAX_BODY = 8 * 1024 * 1024


@dataclass
class Transfer:
    id: str
    src: str
    dst: str
    amount: int
    published_at: float = 0.0  # the grader's clock when the broker confirmed it

    def body(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "from": self.src,
            "to": self.dst,
            "amount": self.amount,
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }

    def describe(self) -> str:
        return f"{self.id} ({self.src} -> {self.dst}, {self.amount})"


class Ids:
    """Transfer and account ids unique to this run and check."""

    def __init__(self, seed: int) -> None:
        rng = random.Random(f"{seed}-{uuid.uuid4()}")
        self.run = f"{rng.randrange(16**6):06x}"
        self.n = 0
        self.lock = threading.Lock()

    def _next(self) -> int:
        with self.lock:
            self.n += 1
            return self.n

    def transfer(self) -> str:
        return f"t-{self.run}-{self._next()}"

    def account(self) -> str:
        return f"acc-{self.run}-{self._next()}"

    def accounts(self, n: int) -> list[str]:
        return [self.account() for _ in range(n)]


# -- the broker, through the grader's own user ------------------------------------------------
class Broker:
    """The grader's AMQP connection (user ``grader``, password: this grading's secret).
    Reconnects by itself: the broker may have been restarted by a check."""

    def __init__(self, password: str) -> None:
        self.password = password
        self.conn: Any = None
        self.ch: Any = None
        self.events: dict[str, list[dict[str, Any]]] = {}
        self.event_keys: dict[str, list[str]] = {}
        self.event_props: dict[str, list[Any]] = {}

    def channel(self) -> Any:
        if self.conn is not None and self.conn.is_open and self.ch is not None and self.ch.is_open:
            return self.ch
        self.close()
        deadline = time.monotonic() + CONNECT_S
        last = ""
        while time.monotonic() < deadline:
            try:
                params = pika.ConnectionParameters(
                    AMQP_HOST,
                    AMQP_PORT,
                    VHOST,
                    pika.PlainCredentials("grader", self.password),
                    connection_attempts=1,
                    socket_timeout=3,
                    blocked_connection_timeout=10,
                    heartbeat=30,
                )
                self.conn = pika.BlockingConnection(params)
                self.ch = self.conn.channel()
                self.ch.confirm_delivery()
                return self.ch
            except (pika.exceptions.AMQPError, OSError) as exc:
                last = type(exc).__name__
                time.sleep(0.3)
        raise RuntimeError(
            f"the grader could not connect to RabbitMQ within {CONNECT_S:.0f} s ({last})"
        )

    def close(self) -> None:
        if self.conn is not None:
            try:
                if self.conn.is_open:
                    self.conn.close()
            except Exception:
                pass
        self.conn = self.ch = None

    def _retry(self, fn: Callable[[Any], Any]) -> Any:
        for attempt in range(3):
            try:
                return fn(self.channel())
            except (
                pika.exceptions.AMQPConnectionError,
                pika.exceptions.ChannelClosed,
                pika.exceptions.StreamLostError,
                pika.exceptions.ConnectionClosed,
            ):
                self.close()
                if attempt == 2:
                    raise
        return None

    def publish_raw(self, body: bytes, message_id: str | None) -> float:
        """Publish to ``transfers`` (persistent); returns the grader's time of the confirm."""
        props = pika.BasicProperties(
            delivery_mode=2, content_type="application/json", message_id=message_id
        )
        self._retry(lambda ch: ch.basic_publish("", QUEUE, body, props, mandatory=True))
        return time.time()

    def publish(self, transfers: Sequence[Transfer]) -> None:
        for t in transfers:
            t.published_at = self.publish_raw(json.dumps(t.body()).encode(), t.id)

    def ready(self, queue: str = QUEUE) -> int:
        """Messages ready (not delivered, or given back) in ``queue``."""
        return int(
            self._retry(lambda ch: ch.queue_declare(queue, passive=True)).method.message_count
        )

    def wait_queue_empty(self, timeout_s: float = 15.0) -> None:
        deadline = time.monotonic() + timeout_s
        while self.ready() > 0:
            if time.monotonic() > deadline:
                fail(
                    f"the `{QUEUE}` queue still holds {self.ready()} ready messages after "
                    f"{timeout_s:.0f} s: the service is not consuming"
                )
            time.sleep(0.2)

    def drain(self, queue: str, limit: int = 10_000) -> list[tuple[Any, Any, bytes]]:
        out = []

        def get(ch: Any) -> Any:
            return ch.basic_get(queue, auto_ack=True)

        for _ in range(limit):
            method, props, body = self._retry(get)
            if method is None:
                break
            out.append((method, props, body))
        return out

    def read_events(self) -> None:
        for method, props, body in self.drain(EVENTS_QUEUE):
            try:
                ev = load_json(body, "an event")  # bounded: the candidate published it
            except (ValueError, UnicodeDecodeError):
                continue
            if not isinstance(ev, dict) or not isinstance(ev.get("id"), str):
                continue
            self.events.setdefault(ev["id"], []).append(ev)
            self.event_keys.setdefault(ev["id"], []).append(method.routing_key)
            self.event_props.setdefault(ev["id"], []).append(props)

    def dead_letters(self) -> list[tuple[Any, bytes]]:
        return [(props, body) for _, props, body in self.drain(DLQ)]


# -- the ledger's record -----------------------------------------------------------------------
@dataclass
class Record:
    postings: list[dict[str, Any]]
    calls: list[dict[str, Any]]
    rejected: int


class Ledger:
    def __init__(self, control: Client) -> None:
        self.client = Client(
            control.base_url,
            headers=control.default_headers,
            max_body=LEDGER_MAX_BODY,
            timeout_s=20,
        )

    def _ok(self, r: Response) -> Any:
        if r.status not in (200, 204):
            raise RuntimeError(f"ledger control call failed: {r.describe()}")
        return r.json() if r.status == 200 else None

    def fund(self, account: str, balance: int) -> None:
        self._ok(self.client.put(f"/control/accounts/{account}", json={"balance": balance}))

    def balance(self, account: str) -> int:
        return int(self._ok(self.client.get(f"/control/accounts/{account}"))["balance"])

    def records(self, ids: Sequence[str]) -> dict[str, Record]:
        out: dict[str, Record] = {}
        for i in range(0, len(ids), 1000):
            chunk = list(ids[i : i + 1000])
            got = self._ok(self.client.post("/control/transfers", json={"ids": chunk}))
            for tid, r in got["transfers"].items():
                out[tid] = Record(r["postings"], r["calls"], r["rejected"])
        return out

    def sequence(self, accounts: Sequence[str]) -> list[dict[str, Any]]:
        return list(
            self._ok(self.client.post("/control/sequence", json={"accounts": list(accounts)}))[
                "postings"
            ]
        )

    def stats(self) -> dict[str, int]:
        return dict(self._ok(self.client.get("/control/stats")))

    def reset_max_in_flight(self) -> None:
        self._ok(self.client.post("/control/reset"))

    @contextmanager
    def failing(self, mode: str, transfer_ids: Sequence[str] | None, **kw: Any) -> Iterator[None]:
        """Make the ledger fail for these transfers only (see the ledger's docstring)."""
        self.fail(mode, transfer_ids, **kw)
        try:
            yield
        finally:
            self.clear()

    def fail(self, mode: str, transfer_ids: Sequence[str] | None, **kw: Any) -> None:
        body = {
            "mode": mode,
            "transfer_ids": None if transfer_ids is None else list(transfer_ids),
            **kw,
        }
        self._ok(self.client.put("/control/failure", json=body))

    def clear(self) -> None:
        self._ok(self.client.delete("/control/failure"))


# -- fixtures ---------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def ids(seed: int) -> Ids:
    return Ids(seed)


@pytest.fixture(scope="session")
def broker(sidecar_tokens: dict[str, str]) -> Iterator[Broker]:
    password = sidecar_tokens.get("rabbitmq", "")
    if not password:
        raise RuntimeError("the grader was not given the rabbitmq sidecar's secret")
    b = Broker(password)
    yield b
    b.close()


@pytest.fixture(scope="session")
def ledger(sidecars: dict[str, Client]) -> Ledger:
    if "ledger" not in sidecars:
        raise RuntimeError("the ledger sidecar's control endpoint was not given to the grader")
    return Ledger(sidecars["ledger"])


@dataclass
class World:
    """What a check needs: the broker, the ledger, ids, and the helpers that tie them."""

    broker: Broker
    ledger: Ledger
    ids: Ids
    published: list[Transfer] = field(default_factory=list)

    def transfers(
        self, n: int, *, accounts: int | None = None, amount: int = 10, fund: int = 1_000_000
    ) -> list[Transfer]:
        """n transfers; over ``accounts`` funded accounts (default: a disjoint pair each)."""
        if accounts is None:
            out = []
            for _ in range(n):
                a, b = self.ids.account(), self.ids.account()
                self.ledger.fund(a, fund)
                out.append(Transfer(self.ids.transfer(), a, b, amount))
            return out
        accs = self.ids.accounts(accounts)
        for a in accs:
            self.ledger.fund(a, fund)
        out = []
        for i in range(n):
            a = accs[i % len(accs)]
            b = accs[(i * 7 + 1) % len(accs)]
            if a == b:
                b = accs[(i + 1) % len(accs)]
            out.append(Transfer(self.ids.transfer(), a, b, amount))
        return out

    def publish(self, transfers: Sequence[Transfer]) -> None:
        self.broker.publish(transfers)
        self.published.extend(transfers)

    def settle(
        self, transfers: Sequence[Transfer], timeout_s: float = SETTLE_S, *, events: bool = True
    ) -> dict[str, Record]:
        """Wait until the ledger answered every transfer (a posting or a rejection) and, with
        ``events``, the grader saw an event for each; then wait QUIET_S and read again."""
        want = [t.id for t in transfers]
        deadline = time.monotonic() + timeout_s
        while True:
            recs = self.ledger.records(want)
            self.broker.read_events()
            pending = [i for i in want if not (recs[i].postings or recs[i].rejected)]
            no_event = [i for i in want if events and i not in self.broker.events]
            if not pending and not no_event:
                break
            if time.monotonic() > deadline:
                return recs
            time.sleep(0.2)
        time.sleep(QUIET_S)
        self.broker.read_events()
        return self.ledger.records(want)

    def expect_applied_once(
        self, transfers: Sequence[Transfer], recs: dict[str, Record], what: str = ""
    ) -> None:
        by_id = {t.id: t for t in transfers}
        missing = [by_id[i] for i in by_id if not recs[i].postings]
        doubled = [(by_id[i], len(recs[i].postings)) for i in by_id if len(recs[i].postings) > 1]
        ctx = f" {what}" if what else ""
        if doubled:
            t, n = doubled[0]
            keys = sorted({p["key"] for p in recs[t.id].postings})
            fail(
                f"{len(doubled)} of {len(transfers)} transfers{ctx} took effect more than once "
                f"in the ledger: e.g. {t.describe()} has {n} postings, under Idempotency-Keys "
                f"{keys[:3]} (the key must be the transfer's id)"
            )
        if missing:
            t = missing[0]
            calls = len(recs[t.id].calls)
            fail(
                f"{len(missing)} of {len(transfers)} transfers{ctx} never took effect in the "
                f"ledger within {SETTLE_S:.0f} s: e.g. {t.describe()} ({calls} ledger calls "
                f"for it); published messages were lost"
            )

    def expect_events(self, transfers: Sequence[Transfer], exactly_one: bool = False) -> None:
        no_event = [t for t in transfers if t.id not in self.broker.events]
        if no_event:
            fail(
                f"{len(no_event)} of {len(transfers)} transfers got no event on "
                f"transfers.events within {SETTLE_S:.0f} s: e.g. {no_event[0].describe()}"
            )
        for t in transfers:
            evs = self.broker.events[t.id]
            if exactly_one and len(evs) > 1:
                fail(
                    f"{t.describe()} got {len(evs)} events; without duplicates, crashes or "
                    f"broker restarts the brief asks for exactly one: {evs[:2]}"
                )
            if any(e != evs[0] for e in evs[1:]):
                fail(f"{t.describe()} got events that differ: {evs[:2]}")


@pytest.fixture
def world(broker: Broker, ledger: Ledger, ids: Ids) -> World:
    return World(broker, ledger, ids)


def poll(predicate: Callable[[], Any], timeout_s: float, step_s: float = 0.1) -> Any:
    """The predicate's first truthy value within the timeout, else its last value."""
    deadline = time.monotonic() + timeout_s
    while True:
        got = predicate()
        if got or time.monotonic() > deadline:
            return got
        time.sleep(step_s)
