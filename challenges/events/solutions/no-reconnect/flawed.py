"""Flawed: no reconnect after a broker restart."""

from app import Processor, main


class NoReconnect(Processor):
    reconnect = False


if __name__ == "__main__":
    main(NoReconnect)
