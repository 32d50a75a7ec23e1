"""Flawed: no event for rejected transfers."""

from app import Processor, main


class NoRejectedEvent(Processor):
    def finish(self, ch, gen, o):
        if o.status == 422 and o.gen == gen:
            self.stats.add("in_flight", -1)
            ch.basic_ack(o.tag)
            return
        super().finish(ch, gen, o)


if __name__ == "__main__":
    main(NoRejectedEvent)
