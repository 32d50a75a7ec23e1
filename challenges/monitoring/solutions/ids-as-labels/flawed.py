"""Flawed: labels requests with the raw path instead of the route template, so every order id
(and every unknown path) becomes a new series."""

from app import Observer, main


class RawPaths(Observer):
    def route_label(self, request):
        return request.path


if __name__ == "__main__":
    main(observer=RawPaths())
