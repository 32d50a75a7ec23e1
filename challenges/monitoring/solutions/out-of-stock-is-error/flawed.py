"""Flawed: an inventory 409 (out of stock, a normal answer) is counted with outcome="error",
so InventoryDown pages on a sale."""

import time

import aiohttp
from app import INVENTORY, INVENTORY_DURATION, OrderService, main


class OutOfStockIsError(OrderService):
    async def reserve(self, request, sku, quantity):
        start = time.perf_counter()
        status = None
        try:
            async with self.session.post(
                f"{self.inventory_url}/reservations",
                json={"sku": sku, "quantity": quantity},
                headers=self.inventory_headers(request),
                timeout=aiohttp.ClientTimeout(total=self.timeout_s),
            ) as r:
                await r.read()
                status = r.status
        except (aiohttp.ClientError, TimeoutError):
            status = None
        outcome = "ok" if status == 201 else "error"
        INVENTORY.labels(outcome).inc()
        INVENTORY_DURATION.labels(outcome).observe(time.perf_counter() - start)
        return status


if __name__ == "__main__":
    main(service=OutOfStockIsError())
