"""Flaw: bookings come from a fake store: a valid POST /bookings answers 201 with a made-up id
and nothing is stored (no conflicts, nothing to read back, lists stay empty).

The shape of a service that games a load test which never reads back what it wrote.
"""

import app


class FakeStoreHandler(app.Handler):
    def create_booking(self, body):
        desk_id, user, date = app.validate_booking(body)
        booking_id = app.new_id("bkg")
        view = {"id": booking_id, "desk_id": desk_id, "user": user, "date": date}
        return app.Reply(201, view, {"Location": f"/bookings/{booking_id}"})


if __name__ == "__main__":
    app.main(handler_cls=FakeStoreHandler)
