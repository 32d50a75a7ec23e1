"""Flawed (an attack on the grading): answers products from a made-up store, never asking the
upstream. Bodies have the right id and plausible fields; a load test that only checks the id
sees a perfect, instant cache that saves 100 % of upstream requests.
"""

import json

from app import CacheService, Entry, main, problem, product_reply

CATALOGUE_SIZE = 100_000


class FakeStore(CacheService):
    async def get_product(self, key):
        pid = int(key)
        if pid > CATALOGUE_SIZE:
            return problem(404, f"no product with id {pid}", "MISS")
        body = {"id": pid, "name": f"Product {pid}", "price": 10.0, "version": 1}
        entry = Entry(200, json.dumps(body).encode(), "application/json", '"v1"', 0.0)
        return product_reply(entry, "HIT")


if __name__ == "__main__":
    main(FakeStore)
