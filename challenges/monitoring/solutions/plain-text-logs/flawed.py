"""Flawed: access logs in the classic text format, without a request id."""

import sys

from app import Observer, main, now_rfc3339


class TextLogs(Observer):
    def log(self, request, route, status, seconds, rid):
        sys.stdout.write(
            f'{now_rfc3339()} "{request.method} {request.path}" {status} {seconds * 1000:.1f}ms\n'
        )
        sys.stdout.flush()


if __name__ == "__main__":
    main(observer=TextLogs())
