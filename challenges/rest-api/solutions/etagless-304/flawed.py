"""Flaw: a 304 Not Modified on GET /desks/{id} carries no ETag header."""

import app


class EtaglessNotModifiedHandler(app.Handler):
    def handle_get_desk(self, desk_id: str) -> app.Reply:
        reply = super().handle_get_desk(desk_id)
        if reply.status == 304:
            reply.headers.pop("ETag", None)
        return reply


if __name__ == "__main__":
    app.main(handler_cls=EtaglessNotModifiedHandler)
