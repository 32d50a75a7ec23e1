"""Load profile of the cache challenge: Zipf-distributed product reads, a few unknown ids.

The key set is drawn from the catalogue per run (seeded by ASSESS_SEED): HOT_KEYS product ids
out of 1..10000, requested with Zipf weights (s = 1.1), so a handful of products get most of
the traffic and the tail keeps arriving for the whole run. The key set fits in the cache
(CACHE_MAX_ENTRIES = 100), so a correct cache serves almost everything as HITs after warm-up;
a pass-through proxy pays the upstream's 100 ms on every request. About 2 % of requests ask
for ids the upstream does not have (404, negatively cached for NEGATIVE_TTL_S).

No host and no wait_time: the runner sets the host and paces users to the target rate.
"""

from __future__ import annotations

import bisect
import itertools
import json
import os
import random

from locust import FastHttpUser, task

SEED = int(os.environ.get("ASSESS_SEED", "1") or "1")
CATALOGUE = 10_000  # ids 1..10000; the checks use other ids
HOT_KEYS = 80
ZIPF_S = 1.1
UNKNOWN_SHARE = 0.02
UNKNOWN_IDS = [100_001 + i for i in range(3)]

_keys_rng = random.Random(f"cache-load-{SEED}")
KEYS = _keys_rng.sample(range(1, CATALOGUE + 1), HOT_KEYS)
CUMULATIVE = list(itertools.accumulate(1.0 / (rank ** ZIPF_S) for rank in range(1, HOT_KEYS + 1)))
_user_counter = itertools.count()


class ProductReader(FastHttpUser):
    def on_start(self) -> None:
        self.rng = random.Random(f"cache-user-{SEED}-{next(_user_counter)}")

    def pick(self) -> tuple[int, bool]:
        if self.rng.random() < UNKNOWN_SHARE:
            return self.rng.choice(UNKNOWN_IDS), False
        rank = bisect.bisect_left(CUMULATIVE, self.rng.random() * CUMULATIVE[-1])
        return KEYS[min(rank, HOT_KEYS - 1)], True

    @task
    def get_product(self) -> None:
        pid, known = self.pick()
        name = "/products/[id]" if known else "/products/[unknown id]"
        with self.client.get(f"/products/{pid}", name=name, catch_response=True) as resp:
            if not known:
                if resp.status_code != 404:
                    resp.failure(f"unknown product {pid}: expected 404, got {resp.status_code}")
                else:
                    resp.success()
                return
            if resp.status_code != 200:
                resp.failure(f"product {pid}: expected 200, got {resp.status_code}")
                return
            try:
                body = json.loads(resp.content or b"")
            except ValueError:
                resp.failure(f"product {pid}: body is not JSON")
                return
            if not isinstance(body, dict) or body.get("id") != pid:
                resp.failure(f"product {pid}: body has the wrong id ({str(body)[:80]})")
            else:
                resp.success()
