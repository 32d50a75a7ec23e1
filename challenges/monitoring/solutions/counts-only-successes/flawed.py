"""Flawed: counts and times only successful requests (status < 400), as a handler-level
decorator that never sees errors would. Dashboards built on it show no errors at all."""

from app import Observer, main


class SuccessesOnly(Observer):
    def record(self, method, route, status, seconds):
        if status < 400:
            super().record(method, route, status, seconds)


if __name__ == "__main__":
    main(observer=SuccessesOnly())
