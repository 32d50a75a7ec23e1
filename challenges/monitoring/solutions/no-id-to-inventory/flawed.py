"""Flawed: the request id stops at the service: reservations reach the inventory without it,
so nothing ties the inventory's side of a request to ours."""

from app import OrderService, main


class NoPropagation(OrderService):
    def inventory_headers(self, request):
        return {}


if __name__ == "__main__":
    main(service=NoPropagation())
