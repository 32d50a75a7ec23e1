"""Flawed: a new Idempotency-Key for every ledger call, so nothing is deduplicated."""

import uuid

from app import Processor, main


class NoIdempotency(Processor):
    def idempotency_key(self, t):
        return str(uuid.uuid4())


if __name__ == "__main__":
    main(NoIdempotency)
