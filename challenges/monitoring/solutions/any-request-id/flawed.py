"""Flawed: takes any X-Request-Id as is (200 characters, spaces), so a client can inject
anything into logs and the inventory."""

import uuid

from app import Observer, main


class AnyId(Observer):
    def request_id(self, request):
        return request.headers.get("X-Request-Id") or uuid.uuid4().hex


if __name__ == "__main__":
    main(observer=AnyId())
