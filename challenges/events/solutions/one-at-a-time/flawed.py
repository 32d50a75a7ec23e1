"""Flawed: processes one transfer at a time."""

from app import Processor, main


class OneAtATime(Processor):
    prefetch = 1


if __name__ == "__main__":
    main(OneAtATime)
