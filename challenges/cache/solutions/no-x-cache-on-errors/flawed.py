"""Flawed: 502 and 504 answers carry no X-Cache header (the brief asks for X-Cache: MISS)."""

import time

from app import CacheService, main, problem, product_reply


class NoXCacheOnErrors(CacheService):
    def upstream_failed(self, key, entry, status, detail):
        if entry is not None and self.stale_allowed(entry, time.monotonic()):
            self.store.touch(key)
            return product_reply(entry, "STALE")
        return problem(status, detail)


if __name__ == "__main__":
    main(NoXCacheOnErrors)
