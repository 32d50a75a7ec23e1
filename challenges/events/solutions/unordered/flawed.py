"""Flawed: no per-account ordering."""

from app import Processor, main


class Unordered(Processor):
    ordered = False


if __name__ == "__main__":
    main(Unordered)
