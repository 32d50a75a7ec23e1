"""Flawed: every concurrent miss sends its own upstream request (no request coalescing)."""

from app import CacheService, main


class NoCoalescing(CacheService):
    coalesce = False


if __name__ == "__main__":
    main(NoCoalescing)
