"""One GET, nothing to verify: the cheapest request a locustfile can make (the generator's
ceiling). Same base class as every challenge's user, so its cost per request is the same."""

from __future__ import annotations

from locust import task

from graders.load.user import LoadUser


class Probe(LoadUser):
    @task
    def get(self) -> None:
        self.client.get("/healthz", name="GET /healthz")
