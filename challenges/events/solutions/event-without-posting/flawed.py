"""Flawed: completion events without posting_id."""

from app import Processor, main


class NoPostingId(Processor):
    def event(self, o):
        ev = super().event(o)
        if ev is not None:
            ev[1].pop("posting_id", None)
        return ev


if __name__ == "__main__":
    main(NoPostingId)
