"""Flawed: the background readiness probe asks the inventory's /health instead of /healthz.
The inventory answers 404, so /readyz answers 503 even while the inventory is healthy and the
service is never put into rotation. (Both outage checks first wait for a healthy 200, so they
fail with it: the brief makes the three inseparable.)"""

import asyncio

import aiohttp

import app
from app import OrderService, main


class WrongProbePath(OrderService):
    async def probe_forever(self) -> None:
        timeout = aiohttp.ClientTimeout(total=app.PROBE_TIMEOUT_S)
        while True:
            assert self.session is not None
            try:
                async with self.session.get(f"{self.inventory_url}/health", timeout=timeout) as r:
                    await r.read()
                    self.inventory_ok = r.status == 200
            except (aiohttp.ClientError, TimeoutError):
                self.inventory_ok = False
            await asyncio.sleep(app.PROBE_INTERVAL_S)


if __name__ == "__main__":
    main(service=WrongProbePath())
