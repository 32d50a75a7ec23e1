"""Flaw: POST /desks answers 200 without Location; DELETE /desks/{id} answers 200 with a body."""

import app


class WrongStatusHandler(app.Handler):
    def handle_create_desk(self) -> app.Reply:
        fields = app.validate_desk(self.json_body(), partial=False)
        return self.desk_reply(200, self.store.create_desk(fields))

    def handle_delete_desk(self, desk_id: str) -> app.Reply:
        self.store.delete_desk(desk_id)
        return app.Reply(200, {"deleted": desk_id})


if __name__ == "__main__":
    app.main(handler_cls=WrongStatusHandler)
