"""A flaky test: it assumes a timing it does not control (modelled as a 4-in-5 failure)."""

import secrets


def test_fast_enough():
    assert secrets.randbelow(5) == 0, "the service was not fast enough this time"
