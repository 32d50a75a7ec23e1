"""Starter service (aiohttp): GET /healthz answers, GET /ws upgrades to a WebSocket and
acknowledges `subscribe` (with seq 0: nothing is published yet); everything else is a 501 or an
`unknown_op` error until you build it from BRIEF.md."""

import json
import os

from aiohttp import WSMsgType, web

NOT_IMPLEMENTED = json.dumps({"title": "not implemented", "status": 501})


async def healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok")


async def ws(request: web.Request) -> web.StreamResponse:
    sock = web.WebSocketResponse()
    if not sock.can_prepare(request).ok:  # not a valid upgrade: 400, no upgrade
        return web.Response(status=400, text="expected a WebSocket upgrade")
    await sock.prepare(request)
    async for msg in sock:
        if msg.type != WSMsgType.TEXT:
            await sock.send_json({"type": "error", "code": "bad_json", "message": "text only"})
            continue
        try:
            command = json.loads(msg.data)
        except ValueError:
            command = None
        if not isinstance(command, dict):
            await sock.send_json({"type": "error", "code": "bad_json", "message": "not JSON"})
        elif command.get("op") == "subscribe":
            channel = command.get("channel")
            await sock.send_json({"type": "subscribed", "channel": channel, "seq": 0})
        else:
            await sock.send_json({"type": "error", "code": "unknown_op", "message": "todo"})
    return sock


@web.middleware
async def not_implemented(request: web.Request, handler):  # type: ignore[no-untyped-def]
    try:
        return await handler(request)
    except web.HTTPException as exc:  # no route (404/405): 501 until you build it
        if exc.status not in (404, 405):
            raise
        return web.Response(
            status=501, text=NOT_IMPLEMENTED, content_type="application/problem+json"
        )


if __name__ == "__main__":
    app = web.Application(middlewares=[not_implemented])
    app.add_routes([web.get("/healthz", healthz), web.get("/ws", ws)])
    port = int(os.environ.get("PORT", "8080"))
    print(f"starter listening on {port}", flush=True)
    web.run_app(app, host="0.0.0.0", port=port, print=None, access_log=None)
