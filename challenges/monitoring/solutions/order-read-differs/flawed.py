"""Flawed: the stored order gains a created_at timestamp after the 201 was built, so
GET /orders/{id} answers a different body from the order's 201 (the brief: "the same body as
its 201")."""

import json

from app import OrderService, main, now_rfc3339


class StampedOrders(OrderService):
    async def create_order(self, request):
        response = await super().create_order(request)
        if response.status == 201:
            self.orders[json.loads(response.body)["id"]]["created_at"] = now_rfc3339()
        return response


if __name__ == "__main__":
    main(service=StampedOrders())
