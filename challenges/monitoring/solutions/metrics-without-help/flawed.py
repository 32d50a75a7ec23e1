"""Flawed: strips the HELP lines from /metrics to save bytes; promtool's lint flags every family."""

from aiohttp import web
from app import CONTENT_TYPE_LATEST, OrderService, generate_latest, main


class NoHelp(OrderService):
    async def metrics(self, request):
        text = b"\n".join(
            ln for ln in generate_latest().split(b"\n") if not ln.startswith(b"# HELP")
        )
        resp = web.Response(body=text)
        resp.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return resp


if __name__ == "__main__":
    main(service=NoHelp())
