"""Flawed: ignores Cache-Control max-age and keeps every entry fresh for five minutes."""

from app import CacheService, main


class IgnoresMaxAge(CacheService):
    def freshness_lifetime(self, headers):
        return 300.0


if __name__ == "__main__":
    main(IgnoresMaxAge)
