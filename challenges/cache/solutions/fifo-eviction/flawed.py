"""Flawed: a bounded cache that evicts the oldest insertion (FIFO), not the least recently used."""

from app import CacheService, LruStore, main


class FifoStore(LruStore):
    def touch(self, key):
        pass  # use does not count: order is insertion order only


class FifoEviction(CacheService):
    store_class = FifoStore


if __name__ == "__main__":
    main(FifoEviction)
