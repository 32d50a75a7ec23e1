"""Flawed: accepts POST /events but never invalidates anything."""

from app import CacheService, main


class NoInvalidation(CacheService):
    def invalidate(self, key):
        pass


if __name__ == "__main__":
    main(NoInvalidation)
