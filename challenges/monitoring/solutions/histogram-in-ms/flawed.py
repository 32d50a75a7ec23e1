"""Flawed: observes durations in milliseconds into a histogram named ..._seconds (and with
second-sized buckets, so nearly everything lands in +Inf)."""

from app import DURATION, REQUESTS, Observer, main


class Milliseconds(Observer):
    def record(self, method, route, status, seconds):
        REQUESTS.labels(method, route, str(status)).inc()
        DURATION.labels(method, route, str(status)).observe(seconds * 1000)


if __name__ == "__main__":
    main(observer=Milliseconds())
