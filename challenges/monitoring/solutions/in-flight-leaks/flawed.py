"""Flawed: the in-flight gauge is not decremented when a request ends in an error status (the
decrement sits on the success path only), so it only ever grows."""

from app import IN_FLIGHT, Observer, main


class Leaky(Observer):
    def record(self, method, route, status, seconds):
        super().record(method, route, status, seconds)
        if status >= 400:
            IN_FLIGHT.inc()


if __name__ == "__main__":
    main(observer=Leaky())
