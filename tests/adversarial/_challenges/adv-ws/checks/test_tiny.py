import pytest

from graders import expect


@pytest.mark.points(2)
@pytest.mark.skill("basics")
def test_hello(api):
    """GET /hello says hello."""
    expect(api.get("/hello")).status(200).content_type("application/json").json_field("hello", "world")


@pytest.mark.skill("basics")
def test_unknown_is_404(api):
    """Unknown paths answer 404."""
    expect(api.get("/nope")).status(404)


@pytest.mark.hidden
@pytest.mark.skill("basics")
def test_healthz(api):
    """GET /healthz answers 200."""
    expect(api.get("/healthz")).status(200)
