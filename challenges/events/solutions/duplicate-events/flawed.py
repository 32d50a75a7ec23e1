"""Flawed: every event is published twice."""

from app import EXCHANGE, Processor, main


class DuplicateEvents(Processor):
    def event(self, o):
        ev = super().event(o)
        if ev is not None:
            self._twice = ev
        return ev

    def finish(self, ch, gen, o):
        self._twice = None
        super().finish(ch, gen, o)
        if self._twice is not None and o.gen == gen:
            import json

            import pika

            key, body = self._twice
            props = pika.BasicProperties(delivery_mode=2, content_type="application/json")
            ch.basic_publish(EXCHANGE, key, json.dumps(body).encode(), props)


if __name__ == "__main__":
    main(DuplicateEvents)
