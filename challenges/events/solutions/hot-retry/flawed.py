"""Flawed: no backoff between ledger attempts."""

from app import Processor, main


class HotRetry(Processor):
    def retry_delay(self, attempt):
        return 0.01


if __name__ == "__main__":
    main(HotRetry)
