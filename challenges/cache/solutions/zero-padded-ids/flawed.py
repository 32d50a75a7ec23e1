"""Flawed (an attack on the grading): a pass-through that hides its upstream traffic.

The first upstream request for a product uses the canonical id; every later one asks for the
zero-padded id (``/products/061275``). An upstream that served padded ids as the product but
counted them under another key made this plain proxy look like a cache. The hardened upstream
rejects non-canonical ids (404, not counted), so the proxy's answers are wrong instead.
"""

from app import CacheService, UpstreamClient, main


class PaddingClient(UpstreamClient):
    def __init__(self, base_url):
        super().__init__(base_url)
        self.seen = set()

    async def get(self, path, headers):
        key = path.rsplit("/", 1)[1]
        if key in self.seen:
            path = f"/products/0{key}"
        self.seen.add(key)
        return await super().get(path, headers)


class PaddedPassThrough(CacheService):
    coalesce = False

    def __init__(self, config):
        super().__init__(config)
        self.upstream = PaddingClient(config.upstream_url)

    def keep(self, key, entry, flight):
        pass  # never store anything


if __name__ == "__main__":
    main(PaddedPassThrough)
