"""Load profile for the realtime challenge (placeholder until the WebSocket profile lands)."""

from __future__ import annotations

from locust import HttpUser, task


class Publisher(HttpUser):
    @task
    def publish(self) -> None:
        self.client.post(
            "/publish", json={"channel": "ticker.BTC-USD", "data": {}}, name="POST /publish"
        )
