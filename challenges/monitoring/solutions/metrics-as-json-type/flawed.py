"""Flawed: /metrics has the right text but says Content-Type: application/json (a framework
default); Prometheus refuses to scrape it."""

from aiohttp import web
from app import OrderService, generate_latest, main


class WrongType(OrderService):
    async def metrics(self, request):
        return web.Response(body=generate_latest(), content_type="application/json")


if __name__ == "__main__":
    main(service=WrongType())
