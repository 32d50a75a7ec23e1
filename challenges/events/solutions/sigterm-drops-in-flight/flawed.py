"""Flawed: on SIGTERM, acknowledge everything outstanding and leave."""

from app import Processor, main


class DropsInFlight(Processor):
    drop_on_sigterm = True


if __name__ == "__main__":
    main(DropsInFlight)
