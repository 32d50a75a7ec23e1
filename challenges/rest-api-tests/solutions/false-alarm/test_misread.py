"""A misreading of the brief: create answers 200 (it is 201)."""

from test_api import call


def test_create_desk_answers_200():
    assert call("POST", "/desks", json={"name": "N-1", "floor": 1}).status_code == 200
