"""Flawed: orders_created_total counts every order that reached the inventory, out-of-stock
and failed ones included."""

from app import ORDERS, OrderService, main


class Attempts(OrderService):
    async def reserve(self, request, sku, quantity):
        status = await super().reserve(request, sku, quantity)
        if status != 201:
            ORDERS.inc()
        return status


if __name__ == "__main__":
    main(service=Attempts())
