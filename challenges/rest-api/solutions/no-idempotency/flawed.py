"""Flaw: the Idempotency-Key header is ignored, so a retry books again (or gets a 409)."""

import app


class NoIdempotencyHandler(app.Handler):
    def handle_create_booking(self) -> app.Reply:
        return self.create_booking(self.json_body())


if __name__ == "__main__":
    app.main(handler_cls=NoIdempotencyHandler)
