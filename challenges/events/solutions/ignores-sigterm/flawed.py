"""Flawed: SIGTERM not handled (PID 1 ignores it)."""

from app import Processor, main


class IgnoresSigterm(Processor):
    handle_sigterm = False


if __name__ == "__main__":
    main(IgnoresSigterm)
