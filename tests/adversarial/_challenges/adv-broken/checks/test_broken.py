import graders.no_such_module  # noqa: F401  (the challenge is broken, not the candidate)


def test_never_collected(api):
    pass
