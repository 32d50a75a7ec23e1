"""Flawed: ignores CACHE_MAX_ENTRIES; the cache grows without bound."""

from app import CacheService, LruStore, main


class UnboundedStore(LruStore):
    def evict(self, keep):
        pass


class Unbounded(CacheService):
    store_class = UnboundedStore


if __name__ == "__main__":
    main(Unbounded)
