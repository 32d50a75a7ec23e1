"""Unique names of one shape for checks and load alike: the service cannot tell them apart.

A check and a load user that name their channels, keys or accounts with the same
:class:`UniqueNames` template get names of the same shape (a random tag per instance plus a
counter, in the challenge's template), so a service cannot treat load traffic differently from
check traffic by its names. Each instance draws its tag and its choices from a private generator
seeded from the operating system (a run's seed is mixed in but does not determine them), so a
service cannot predict the names either::

    names = UniqueNames("{kind}.{pair}.{tag}{n}", kind=["ticker", "trades"], pair=["BTC-USD"])
    names.new()  # 'trades.BTC-USD.k3v9qa1'
"""

from __future__ import annotations

import random
import threading
import uuid
from collections.abc import Sequence

__all__ = ["TAG_ALPHABET", "TAG_LENGTH", "UniqueNames"]

TAG_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
TAG_LENGTH = 6


class UniqueNames:
    """Names no other instance hands out: ``template`` filled with ``tag``, ``n`` (1, 2, ...)
    and one random choice from each keyword's sequence. Thread-safe."""

    def __init__(self, template: str, seed: object = None, **choices: Sequence[str]) -> None:
        self.template = template
        self.choices = choices
        # private: not derived from anything the service sees (uuid4 reads os.urandom)
        self.rng = random.Random(f"{seed}-{uuid.uuid4()}")
        self.tag = "".join(self.rng.choices(TAG_ALPHABET, k=TAG_LENGTH))
        self._n = 0
        self._lock = threading.Lock()

    def new(self) -> str:
        with self._lock:
            self._n += 1
            picked = {key: self.rng.choice(options) for key, options in self.choices.items()}
            return self.template.format(tag=self.tag, n=self._n, **picked)
