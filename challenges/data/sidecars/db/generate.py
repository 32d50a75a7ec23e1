#!/usr/bin/env python3
"""Writes the data challenge's catalogue as TSV files for COPY, deterministically from a seed.

    generate.py OUTDIR [SEED]

products.tsv (100,000), customers.tsv (20,000), orders.tsv (250,000), order_items.tsv (about
1,000,000: 1-7 items per order, 4 on average). Product popularity is Zipf-like, so the revenue
report has a clear top. Orders are spread over 2025-01-01 .. 2026-07-01 (UTC) at whole seconds;
their totals are the sums of their items. Same seed, same bytes.
"""

from __future__ import annotations

import bisect
import itertools
import random
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

PRODUCTS, CUSTOMERS, ORDERS = 100_000, 20_000, 250_000
CATEGORIES = [
    "books", "garden", "kitchen", "toys", "tools", "audio", "office", "sports",
    "outdoor", "pets", "beauty", "games", "music", "video", "lighting", "storage",
]  # fmt: skip
ADJECTIVES = ["red", "blue", "steel", "oak", "mini", "pro", "eco", "smart", "classic", "ultra"]
NOUNS = ["lamp", "kettle", "drill", "chair", "speaker", "ball", "brush", "crate", "pen", "mug"]
START = datetime(2025, 1, 1, tzinfo=UTC)
SPAN_S = int((datetime(2026, 7, 1, tzinfo=UTC) - START).total_seconds())


def ts(t: datetime) -> str:
    return t.strftime("%Y-%m-%d %H:%M:%S+00")


def main() -> None:
    out = Path(sys.argv[1])
    rng = random.Random(int(sys.argv[2]) if len(sys.argv) > 2 else 20)
    out.mkdir(parents=True, exist_ok=True)
    prices = []
    with open(out / "products.tsv", "w") as f:
        for i in range(1, PRODUCTS + 1):
            price = rng.randrange(99, 50_000)
            prices.append(price)
            name = f"{rng.choice(ADJECTIVES)} {rng.choice(NOUNS)} {i}"
            created = START - timedelta(seconds=rng.randrange(0, 86400 * 365))
            f.write(
                f"{i}\tSKU-{i:06d}\t{name}\t{rng.choice(CATEGORIES)}\t{price}\t"
                f"{rng.randrange(0, 500)}\t1\t{ts(created)}\n"
            )
    with open(out / "customers.tsv", "w") as f:
        for i in range(1, CUSTOMERS + 1):
            created = START - timedelta(seconds=rng.randrange(0, 86400 * 365))
            f.write(f"{i}\tcustomer{i}@example.test\tCustomer {i}\t{ts(created)}\n")
    # Zipf-like popularity over a shuffled product order: weight 1/rank.
    ranked = list(range(1, PRODUCTS + 1))
    rng.shuffle(ranked)
    cumulative = list(itertools.accumulate(1.0 / r for r in range(1, PRODUCTS + 1)))
    top = cumulative[-1]
    times = sorted(rng.randrange(0, SPAN_S) for _ in range(ORDERS))
    item_id = 0
    with open(out / "orders.tsv", "w") as fo, open(out / "order_items.tsv", "w") as fi:
        for oid in range(1, ORDERS + 1):
            customer = rng.randrange(1, CUSTOMERS + 1)
            chosen: set[int] = set()
            for _ in range(rng.randrange(1, 8)):
                chosen.add(ranked[bisect.bisect_left(cumulative, rng.random() * top)])
            total = 0
            for pid in sorted(chosen):
                qty = rng.randrange(1, 4)
                item_id += 1
                total += qty * prices[pid - 1]
                fi.write(f"{item_id}\t{oid}\t{pid}\t{qty}\t{prices[pid - 1]}\n")
            fo.write(
                f"{oid}\t{customer}\t{ts(START + timedelta(seconds=times[oid - 1]))}\t{total}\n"
            )


if __name__ == "__main__":
    main()
