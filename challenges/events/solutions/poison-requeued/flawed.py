"""Flawed: a poison message goes back to the queue, forever."""

from app import Processor, main


class PoisonRequeued(Processor):
    def on_poison(self, ch, method):
        ch.basic_nack(method.delivery_tag, requeue=True)


if __name__ == "__main__":
    main(PoisonRequeued)
