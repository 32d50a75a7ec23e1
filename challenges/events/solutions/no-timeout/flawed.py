"""Flawed: ledger calls without a timeout."""

from app import Processor, main


class NoTimeout(Processor):
    def __init__(self):
        super().__init__()
        self.ledger.timeout_s = None


if __name__ == "__main__":
    main(NoTimeout)
