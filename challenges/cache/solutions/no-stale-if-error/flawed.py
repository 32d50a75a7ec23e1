"""Flawed: never serves stale entries; every upstream failure is a 502/504."""

from app import CacheService, main


class NoStaleIfError(CacheService):
    def stale_allowed(self, entry, now):
        return False


if __name__ == "__main__":
    main(NoStaleIfError)
