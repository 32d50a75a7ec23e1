import pytest

import graders.no_such_module  # noqa: F401  (the challenge is broken, not the candidate)


@pytest.mark.skill("basics")  # well authored: it loads, and fails only at pytest collection
def test_never_collected(api):
    pass
