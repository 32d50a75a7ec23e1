"""Flawed: a pass-through proxy: every request goes to the upstream, nothing is cached."""

from app import CacheService, main


class PassThrough(CacheService):
    coalesce = False

    def keep(self, key, entry, flight):
        pass  # never store anything


if __name__ == "__main__":
    main(PassThrough)
