"""Flaw: POST /desks answers 201 and Location but no ETag header (GET and PATCH have it)."""

import app


class NoEtagOnCreateHandler(app.Handler):
    def handle_create_desk(self) -> app.Reply:
        reply = super().handle_create_desk()
        reply.headers.pop("ETag", None)
        return reply


if __name__ == "__main__":
    app.main(handler_cls=NoEtagOnCreateHandler)
