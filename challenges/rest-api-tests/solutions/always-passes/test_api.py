"""A suite that tests nothing the brief promises: it passes on every target."""

import os

import requests

URL = os.environ.get("TARGET_URL", "http://127.0.0.1:8080").rstrip("/")


def test_service_answers():
    assert requests.get(URL + "/healthz", timeout=10).status_code == 200
