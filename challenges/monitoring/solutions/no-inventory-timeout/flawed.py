"""Flawed: ignores INVENTORY_TIMEOUT_S (waits up to 60 s for the inventory), so a hung
inventory holds every order request."""

from app import OrderService, main


class NoTimeout(OrderService):
    def __init__(self):
        super().__init__()
        self.timeout_s = 60.0


if __name__ == "__main__":
    main(service=NoTimeout())
