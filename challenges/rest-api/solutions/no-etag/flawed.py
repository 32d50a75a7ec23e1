"""Flaw: no ETag on desks; If-Match and If-None-Match are ignored."""

import app


class NoEtagHandler(app.Handler):
    def desk_reply(self, status: int, rec: dict) -> app.Reply:
        return app.Reply(status, self.store.desk_view(rec))

    def handle_get_desk(self, desk_id: str) -> app.Reply:
        return self.desk_reply(200, self.store.get_desk(desk_id))

    def handle_patch_desk(self, desk_id: str) -> app.Reply:
        self.store.get_desk(desk_id)
        fields = app.validate_desk(self.json_body(), partial=True)
        return self.desk_reply(200, self.store.update_desk(desk_id, fields, None))


if __name__ == "__main__":
    app.main(handler_cls=NoEtagHandler)
