"""Flawed: /readyz is a copy of /healthz: always 200, whatever the inventory's state, so the
load balancer keeps sending orders that can only fail."""

from app import OrderService, main


class AlwaysReady(OrderService):
    def ready(self):
        return True


if __name__ == "__main__":
    main(service=AlwaysReady())
