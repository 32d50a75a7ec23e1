"""Flawed: freshness is judged with a whole-second clock (the brief asks for 100 ms or better).

Expiry times are exact, but "now" is truncated to the second when deciding whether an entry is
fresh, so an entry stays fresh for up to 1 s past its expiry (how long depends on where in its
second it was stored). A fast path many services take for "cheap" time.
"""

import math
import time

from app import CacheService, main, product_reply


class CoarseClock(CacheService):
    async def get_product(self, key):
        entry = self.store.peek(key)
        if entry is not None and math.floor(time.monotonic()) < entry.expires_at:
            self.store.touch(key)
            return product_reply(entry, "HIT")
        return await super().get_product(key)


if __name__ == "__main__":
    main(CoarseClock)
