"""Flawed: /stats counters that do not count."""

from app import Processor, Stats, main


class FrozenStats(Stats):
    def add(self, name, n=1):
        if name == "in_flight":
            super().add(name, n)


class Frozen(Processor):
    def __init__(self):
        super().__init__()
        self.stats = FrozenStats()


if __name__ == "__main__":
    main(Frozen)
