"""Flawed: acknowledges at delivery, before the effect."""

from app import Processor, main


class AckEarly(Processor):
    ack_early = True


if __name__ == "__main__":
    main(AckEarly)
