"""Helpers for the cache checks: the upstream's control API, unique product ids, timing.

Every check uses product ids nobody else uses (a random block per run, one id at a time), so
checks are independent of each other and of their order. Product-level settings on the upstream
(max-age, delay, missing) are per id and need no restoring; the one piece of shared upstream
state, the failure mode, is always scoped to the check's own ids and cleared in a ``finally``.

Timing tolerances (the grader may run on a loaded 2-core machine):

- "still fresh" is asserted at least 1 s before expiry, "expired" at least 0.8 s after it;
- the 2 s upstream timeout is accepted anywhere in 1.5-4.5 s;
- expiry is measured from when the grader got the response, which is never earlier than when
  the service got it from the upstream, so a service that starts the clock when it *sends* the
  upstream request is never penalised.

Clock resolution: the brief asks for a clock of 100 ms or better. A whole-second clock errs by
up to 1 s depending on where in its second an entry was stored, so one entry exposes it only
about one time in five. Timing checks therefore run their timeline on STAGGER products stored
1/STAGGER s apart (see :func:`staggered`): whatever the phase of the service's clock, one of
them lands in the first 1/STAGGER s of a second, where truncation errs by more than the margin.
"""

from __future__ import annotations

import random
import threading
import time
import tomllib
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import pytest

from graders import Client, Response, expect, fail

CHALLENGE_TOML = Path(__file__).resolve().parent.parent / "challenge.toml"
_ENV: dict[str, str] = tomllib.loads(CHALLENGE_TOML.read_text()).get("env", {})

MAX_ENTRIES = int(_ENV.get("CACHE_MAX_ENTRIES", "100"))
STALE_IF_ERROR_S = float(_ENV.get("STALE_IF_ERROR_S", "5"))
NEGATIVE_TTL_S = float(_ENV.get("NEGATIVE_TTL_S", "2"))

CATALOGUE_SIZE = 100_000  # the upstream's default: ids 1..100000 exist
# The load test uses ids 1..10000; checks stay well clear of them.
CHECK_ID_LOW, CHECK_ID_HIGH = 20_000, 99_000

EXPIRED_MARGIN_S = 0.8  # how long after expiry "expired" is asserted
TIMEOUT_MIN_S, TIMEOUT_MAX_S = 1.5, 4.5  # the brief's 2 s upstream timeout, with tolerance
SLOW_CLIENT_TIMEOUT_S = 10.0
# Timelines per timing check, started 1/STAGGER s apart: a whole-second clock then always has
# one entry stored within 1/16 s after its tick, which it keeps fresh ~0.94 s too long, more
# than EXPIRED_MARGIN_S.
STAGGER = 16
STAGGER_NOTE = (
    f"(the check ran this on {STAGGER} products stored 1/{STAGGER} s apart; a clock "
    "coarser than the brief's 100 ms keeps some of them fresh too long)"
)

T = TypeVar("T")


class Ids:
    """Hands out product ids no other check uses: a random block per run."""

    def __init__(self, seed: int) -> None:
        rng = random.Random(f"{seed}-{uuid.uuid4()}")
        self._next = rng.randrange(CHECK_ID_LOW, CHECK_ID_HIGH - 5_000)
        self._missing = CATALOGUE_SIZE + 1 + rng.randrange(0, 1_000_000)
        self._lock = threading.Lock()

    def new(self) -> int:
        with self._lock:
            self._next += 1
            if self._next >= CHECK_ID_HIGH:
                self._next = CHECK_ID_LOW
            return self._next

    def many(self, n: int) -> list[int]:
        return [self.new() for _ in range(n)]

    def unknown(self) -> int:
        """An id above the catalogue: the upstream answers 404 for it."""
        with self._lock:
            self._missing += 1
            return self._missing


class Upstream:
    """The upstream sidecar's control API (already authorised)."""

    def __init__(self, client: Client) -> None:
        self.client = client

    def _ok(self, r: Response) -> Any:
        if r.status not in (200, 204):
            raise RuntimeError(f"upstream control call failed: {r.describe()}")
        return r.json() if r.status == 200 else None

    def stats(self, pid: int) -> dict[str, int]:
        return dict(self._ok(self.client.get(f"/control/stats/{pid}")))

    def product(self, pid: int) -> dict[str, Any]:
        """The product body the upstream serves for ``pid`` right now."""
        return dict(self._ok(self.client.get(f"/control/products/{pid}"))["product"])

    def set(self, pid: int, **fields: Any) -> dict[str, Any]:
        """PATCH a product: max_age_s, delay_ms, missing, bump."""
        return dict(self._ok(self.client.patch(f"/control/products/{pid}", json=fields)))

    def bump(self, pid: int) -> dict[str, Any]:
        return dict(self._ok(self.client.post(f"/control/products/{pid}/bump")))

    @contextmanager
    def failing(self, mode: str, ids: list[int], status: int = 503) -> Iterator[None]:
        """Make the upstream fail ("error": a 5xx; "hang": no answer) for these ids only."""
        self._ok(
            self.client.put("/control/failure", json={"mode": mode, "status": status, "ids": ids})
        )
        try:
            yield
        finally:
            self._ok(self.client.delete("/control/failure"))


@pytest.fixture(scope="session")
def ids(seed: int) -> Ids:
    return Ids(seed)


@pytest.fixture(scope="session")
def upstream(sidecars: dict[str, Client]) -> Upstream:
    if "upstream" not in sidecars:
        raise RuntimeError("the upstream sidecar's control endpoint was not given to the grader")
    return Upstream(sidecars["upstream"])


# -- assertions -------------------------------------------------------------------------------


def get_product(api: Client, pid: int, timeout_s: float | None = None) -> Response:
    return api.get(f"/products/{pid}", timeout_s=timeout_s)


def x_cache(r: Response, *allowed: str) -> None:
    got = r.headers.get("X-Cache")
    if got is None:
        fail(
            f"{r.request_line}: expected an X-Cache header ({' or '.join(allowed)}); "
            f"there was none (status {r.status})"
        )
    if got.strip().upper() not in allowed:
        fail(f"{r.request_line}: expected X-Cache: {' or '.join(allowed)}; got X-Cache: {got}")


def product_ok(r: Response, upstream_body: dict[str, Any], x: str | tuple[str, ...]) -> None:
    """A 200 JSON response equal to the upstream's product, with the expected X-Cache."""
    expect(r).status(200).content_type("application/json")
    body = r.json()
    if body != upstream_body:
        fail(f"{r.request_line}: expected the upstream's product {upstream_body}; got {body}")
    x_cache(r, *((x,) if isinstance(x, str) else x))


def upstream_count(
    upstream: Upstream,
    pid: int,
    what: str,
    *,
    equals: int | None = None,
    at_most: int | None = None,
    at_least: int | None = None,
    when: str = "",
) -> int:
    """Assert on one of the upstream's counters for /products/{pid}."""
    got = upstream.stats(pid)[what]
    label = {
        "total": "requests",
        "conditional": "conditional requests (If-None-Match)",
        "not_modified": "304 answers",
        "errors": "failed (5xx) answers",
        "hung": "hung requests",
    }.get(what, what)
    suffix = f" {when}" if when else ""
    if equals is not None and got != equals:
        fail(f"the upstream received {got} {label} for /products/{pid}{suffix}; expected {equals}")
    if at_most is not None and got > at_most:
        fail(
            f"the upstream received {got} {label} for /products/{pid}{suffix}; "
            f"expected at most {at_most}"
        )
    if at_least is not None and got < at_least:
        fail(
            f"the upstream received {got} {label} for /products/{pid}{suffix}; "
            f"expected at least {at_least}"
        )
    return got


def sleep_until(deadline: float) -> None:
    delay = deadline - time.monotonic()
    if delay > 0:
        time.sleep(delay)


def at_times(times: Sequence[float], fn: Callable[[int], T]) -> list[T]:
    """fn(i) in its own thread, started at monotonic time times[i]; the first failure is raised."""

    def run(i: int) -> T:
        sleep_until(times[i])
        return fn(i)

    with ThreadPoolExecutor(max_workers=len(times)) as pool:
        futures = [pool.submit(run, i) for i in range(len(times))]
        return [f.result() for f in futures]


def staggered(fn: Callable[[int], T], n: int = STAGGER) -> list[T]:
    """fn(0..n-1), the i-th started i/n s after the first (covering one second of phases)."""
    start = time.monotonic() + 0.05
    return at_times([start + i / n for i in range(n)], fn)


def store_staggered(
    api: Client, pids: list[int], expected: list[Any], x: str = "MISS"
) -> list[float]:
    """Request each product once, 1/len(pids) s apart; returns when each answer arrived."""

    def one(i: int) -> float:
        r = get_product(api, pids[i])
        if expected[i] is None:
            expect(r).problem(404)
            x_cache(r, x)
        else:
            product_ok(r, expected[i], x)
        return time.monotonic()

    return staggered(one, len(pids))


def fill(api: Client, pids: list[int], workers: int = 16) -> None:
    """GET each product once (concurrently); each must be a 200 MISS."""

    def one(pid: int) -> Response:
        return get_product(api, pid)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        responses = list(pool.map(one, pids))
    for r in responses:
        expect(r).status(200)
        x_cache(r, "MISS")
