"""Flawed: leaves /metrics out of http_requests_total ("scrapes are noise"), against the brief."""

from app import Observer, main


class SkipScrapes(Observer):
    def record(self, method, route, status, seconds):
        if route != "/metrics":
            super().record(method, route, status, seconds)


if __name__ == "__main__":
    main(observer=SkipScrapes())
