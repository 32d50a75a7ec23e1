"""Flaw: check-then-insert without the lock; a short pause widens the race window."""

import time

import app


class RacyStore(app.Store):
    def create_booking(self, desk_id: str, user: str, date: str) -> dict:
        self.check_booking_allowed(desk_id, user, date)  # no lock held across check and insert
        time.sleep(0.05)
        return self.insert_booking(desk_id, user, date)


if __name__ == "__main__":
    app.main(store_cls=RacyStore)
