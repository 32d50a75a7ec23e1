"""Flawed: prefetch 0 (unlimited): the broker pushes the whole queue at the service.

Only the prefetch is unbounded: the service still applies at most MAX_IN_FLIGHT transfers at a
time, as the reference does, so this variant differs from it in the one behaviour its check
names (with a pool as wide as the queue, a 100-transfer stream finished in one ledger round
trip, before the crash check's kill could land, and failed that check too, now and then)."""

from concurrent.futures import ThreadPoolExecutor

from app import MAX_IN_FLIGHT, Processor, main


class Unbounded(Processor):
    prefetch = 0

    def __init__(self) -> None:
        super().__init__()
        self.pool = ThreadPoolExecutor(max_workers=MAX_IN_FLIGHT)


if __name__ == "__main__":
    main(Unbounded)
