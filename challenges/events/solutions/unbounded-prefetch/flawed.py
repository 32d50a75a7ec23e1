"""Flawed: prefetch 0 (unlimited)."""

from app import Processor, main


class Unbounded(Processor):
    prefetch = 0


if __name__ == "__main__":
    main(Unbounded)
