"""Flawed: the middleware's branch for HTTP exceptions (aiohttp raises one for a path that
matches no route) computes its duration with the operands swapped, start - end. Those
durations are negative, so http_request_duration_seconds_sum{route="unmatched"} goes down
with every such request: a counter that decreases, which rate() reads as a reset."""

import sys
import time

from aiohttp import web

from app import IN_FLIGHT, Observer, main, problem


class BackwardsOnExceptions(Observer):
    @web.middleware
    async def middleware(self, request, handler):
        start = time.perf_counter()
        rid = self.request_id(request)
        request["request_id"] = rid
        IN_FLIGHT.inc()
        try:
            try:
                response = await handler(request)
                seconds = time.perf_counter() - start
            except web.HTTPException as exc:
                response = problem(exc.status, exc.reason)
                seconds = start - time.perf_counter()
            except Exception as exc:
                print(f"internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
                response = problem(500, "internal error")
                seconds = time.perf_counter() - start
        finally:
            IN_FLIGHT.dec()
        route = self.route_label(request)
        self.record(request.method.upper(), route, response.status, seconds)
        self.log(request, route, response.status, seconds, rid)
        response.headers["X-Request-Id"] = rid
        return response


if __name__ == "__main__":
    main(observer=BackwardsOnExceptions())
