"""Load profile of the cache challenge: Zipf-distributed product reads that verify every answer.

The key set is drawn per run (from a private generator: a set derived from ASSESS_SEED alone
could be computed by the service in advance) from the same id range the checks use
(20000..99000, so load requests look like check requests), preferring ids the upstream has never
been asked for: HOT_KEYS ids requested with Zipf weights (s = 1.1), so a handful of products get
most of the traffic and the tail keeps arriving for the whole run. The key set fits in the cache
(CACHE_MAX_ENTRIES = 100), so a correct cache serves almost everything as HITs after warm-up; a
pass-through proxy pays the upstream's 100 ms on every request. About 2 % of requests ask for
ids above the catalogue, drawn like the checks' unknown ids (404, negatively cached).

Answers are verified, not just shaped: each product body must equal the upstream's current
version of it (read from the upstream's control API when the plan hands the load generator the
sidecar's token). Some users also update products during the load, as the checks do: bump the
product on the upstream, send ``product.updated`` to the service, and read it back; the answer
must be the new version. A cache answering from a fake store fails those requests.

Figures from the generator's own observation: the rate and latency (Locust's clock around each
request); errors: a status other than the brief's, or a body other than the upstream's current
version as the grader's own upstream sidecar reports it (its control API, never the service).
Response headers such as ``X-Cache`` are not read: a hit ratio the service claims is no figure.

No host and no wait_time: the runner sets the host and paces users to the target rate.
"""

from __future__ import annotations

import bisect
import itertools
import json
import os
import random
import threading
import urllib.error
import urllib.request
import uuid
from typing import Any

from locust import task

from graders.load.user import LoadUser

SEED = int(os.environ.get("ASSESS_SEED", "1") or "1")
# The checks' ranges (checks/conftest.py): products 20000..99000, catalogue 1..100000.
ID_LOW, ID_HIGH = 20_000, 99_000
CATALOGUE_SIZE = 100_000
HOT_KEYS = 80
UPDATE_KEYS = 10  # products some users update during the load (one user each)
ZIPF_S = 1.1
UNKNOWN_SHARE = 0.02
CONTROL_TIMEOUT_S = 5.0
MAX_CONTROL_BODY = 64 * 1024
MAX_PLAN_BYTES = 1 << 20

_rng = random.Random(f"cache-load-{SEED}-{uuid.uuid4()}")
CANDIDATES = _rng.sample(range(ID_LOW, ID_HIGH), 4 * (HOT_KEYS + UPDATE_KEYS))
UNKNOWN_IDS = [CATALOGUE_SIZE + 1 + _rng.randrange(0, 1_000_000) for _ in range(3)]
CUMULATIVE = list(itertools.accumulate(1.0 / (rank**ZIPF_S) for rank in range(1, HOT_KEYS + 1)))
_user_counter = itertools.count()


def plan_sidecar(user_class: type, name: str) -> dict[str, Any] | None:
    """The sidecar's control endpoint and token, as the load generator hands them to the user
    class (``assess_sidecars``: name -> {"url", "token"}); None when run without a plan."""
    sidecars = getattr(user_class, "assess_sidecars", None) or {}
    sidecar = sidecars.get(name)
    return sidecar if isinstance(sidecar, dict) else None


class Control:
    """The upstream's control API (grader side: never the candidate's service)."""

    def __init__(self, sidecar: dict[str, Any]) -> None:
        self.url = str(sidecar["url"]).rstrip("/")
        self.token = str(sidecar.get("token", ""))

    def call(self, method: str, path: str) -> Any:
        req = urllib.request.Request(
            self.url + path, method=method, headers={"Authorization": f"Bearer {self.token}"}
        )
        with urllib.request.urlopen(req, timeout=CONTROL_TIMEOUT_S) as r:
            return json.loads(r.read(MAX_CONTROL_BODY) or b"null")

    def untouched(self, pid: int) -> bool:
        """Never requested and never changed by a check: its current version is the default."""
        stats = self.call("GET", f"/control/stats/{pid}")
        info = self.call("GET", f"/control/products/{pid}")
        return (
            stats.get("total") == 0
            and info.get("exists") is True
            and info.get("max_age_s_override") is None
            and info.get("delay_ms_override") is None
        )

    def product(self, pid: int) -> dict[str, Any]:
        return dict(self.call("GET", f"/control/products/{pid}")["product"])

    def bump(self, pid: int) -> dict[str, Any]:
        return dict(self.call("POST", f"/control/products/{pid}/bump")["product"])


class Keys:
    """The run's keys and the product body each must be answered with (shared by all users)."""

    lock = threading.Lock()  # gevent-patched: a cooperative lock
    ready = False
    control: Control | None = None
    hot: list[int] = []
    updatable: list[int] = []
    current: dict[int, dict[str, Any]] = {}

    @classmethod
    def prepare(cls, user_class: type) -> None:
        with cls.lock:
            if cls.ready:
                return
            sidecar = plan_sidecar(user_class, "upstream")
            control = Control(sidecar) if sidecar else None
            chosen: list[int] = []
            for pid in CANDIDATES:
                if len(chosen) == HOT_KEYS + UPDATE_KEYS:
                    break
                try:
                    if control is None or control.untouched(pid):
                        chosen.append(pid)
                except (OSError, ValueError, KeyError, TypeError, urllib.error.URLError):
                    control = None  # no control API after all: verify ids only
                    chosen.append(pid)
            chosen += [p for p in CANDIDATES if p not in chosen][
                : HOT_KEYS + UPDATE_KEYS - len(chosen)
            ]
            cls.hot, cls.updatable = chosen[:HOT_KEYS], chosen[HOT_KEYS:]
            if control is not None:
                try:
                    cls.current = {pid: control.product(pid) for pid in chosen}
                except (OSError, ValueError, KeyError, TypeError, urllib.error.URLError):
                    control, cls.current = None, {}
            cls.control = control
            cls.ready = True


class ProductReader(LoadUser):
    def on_start(self) -> None:
        n = next(_user_counter)
        self.rng = random.Random(f"cache-user-{SEED}-{n}-{uuid.uuid4()}")
        Keys.prepare(type(self))
        # Each updatable product belongs to one user, so its bump, event and read-back never
        # race another user's update.
        self.own = Keys.updatable[n] if n < len(Keys.updatable) else None

    def pick(self) -> tuple[int, bool]:
        if self.rng.random() < UNKNOWN_SHARE:
            return self.rng.choice(UNKNOWN_IDS), False
        rank = bisect.bisect_left(CUMULATIVE, self.rng.random() * CUMULATIVE[-1])
        return Keys.hot[min(rank, HOT_KEYS - 1)], True

    def read(self, pid: int, name: str) -> None:
        with self.client.get(f"/products/{pid}", name=name, catch_response=True) as resp:
            if resp.status_code != 200:
                resp.failure(f"product {pid}: expected 200, got {resp.status_code}")
                return
            body = self.json_or_fail(resp, f"product {pid}")
            if body is None:
                return
            want = Keys.current.get(pid)
            if not isinstance(body, dict) or body.get("id") != pid:
                resp.failure(f"product {pid}: body has the wrong id ({str(body)[:80]})")
            elif want is None:
                return
            elif pid in Keys.updatable:
                # With several load workers, another process may have bumped it further.
                if not isinstance(body.get("version"), int) or body["version"] < want["version"]:
                    resp.failure(
                        f"product {pid}: served version {body.get('version')!r} after "
                        f"product.updated for version {want['version']}"
                    )
            elif body != want:
                resp.failure(f"product {pid}: expected {want}, got {str(body)[:120]}")

    @task(100)
    def get_product(self) -> None:
        pid, known = self.pick()
        if known:
            self.read(pid, "/products/[id]")
            return
        with self.client.get(
            f"/products/{pid}", name="/products/[unknown id]", catch_response=True
        ) as resp:
            if resp.status_code == 404:
                resp.success()  # the right answer for an id above the catalogue
            else:
                resp.failure(f"unknown product {pid}: expected 404, got {resp.status_code}")

    @task(2)
    def update_product(self) -> None:
        """Bump a product on the upstream, tell the service, read the new version back."""
        pid, control = self.own, Keys.control
        if pid is None or control is None:
            self.get_product()
            return
        self.read(pid, "/products/[id]")  # cached at its current version
        try:
            Keys.current[pid] = control.bump(pid)
        except (OSError, ValueError, KeyError, TypeError, urllib.error.URLError):
            return  # our side: nothing to hold against the service
        with self.client.post(
            "/events",
            json={"type": "product.updated", "id": pid},
            name="POST /events",
            catch_response=True,
        ) as resp:
            if resp.status_code != 204:
                resp.failure(f"product.updated {pid}: expected 204, got {resp.status_code}")
                return
        self.read(pid, "/products/[id]")
