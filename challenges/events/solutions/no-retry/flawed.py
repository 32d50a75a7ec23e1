"""Flawed: one ledger attempt; a failure dead-letters the transfer."""

import http.client

from app import Processor, main


class NoRetry(Processor):
    def apply(self, t):
        body = {"transfer_id": t["id"], "from": t["from"], "to": t["to"], "amount": t["amount"]}
        try:
            status, answer = self.ledger.post(self.idempotency_key(t), body)
        except (OSError, http.client.HTTPException):
            return 503, {}
        if status in (200, 201):
            self.stats.add("applied")
        elif status == 422:
            self.stats.add("rejected")
        return status, answer


if __name__ == "__main__":
    main(NoRetry)
