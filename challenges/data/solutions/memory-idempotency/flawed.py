"""Flaw: Idempotency-Keys live in a dict in memory (lost when the service restarts)."""

import threading
from typing import Any

import app


class Store(app.Store):
    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.answers: dict[str, tuple[int, dict[str, Any]]] = {}
        self.locks: dict[str, threading.Lock] = {}
        self.guard = threading.Lock()

    def place_order(self, body: dict[str, Any], key: str | None) -> tuple[int, dict[str, Any]]:
        if key is None:
            return super().place_order(body, None)
        with self.guard:
            lock = self.locks.setdefault(key, threading.Lock())
        with lock:
            if key not in self.answers:
                self.answers[key] = super().place_order(body, None)
            return self.answers[key]


if __name__ == "__main__":
    app.main(Store(app.os.environ["DATABASE_URL"]))
