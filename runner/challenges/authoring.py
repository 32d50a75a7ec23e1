"""`assess new-challenge NAME`: a template challenge that `assess verify` accepts as it stands.

The template is a tiny item store: ``POST /items`` and ``GET /items/{id}``. It has every part a
challenge has (challenge.toml with skills and a load profile, a brief, two checks using the
``api`` fixture, one of them hidden, a load profile on graders.load.user.LoadUser, a Python
reference and one flawed variant overlaid on it that fails both checks), so an author replaces
the parts one at a time and runs ``assess verify`` after each. See docs/authoring.md.
"""

from __future__ import annotations

import re
from pathlib import Path

from runner.challenges.registry import ID_PATTERN
from runner.errors import UsageError

CHALLENGE_TOML = """\
id = "{name}"
title = "Item store (template: replace with your challenge's title)"
version = "0.1.0"
summary = "Store named items and serve them back by id; 404 problem+json for unknown ids."
# Requirement ids from seeds/catalogue.toml this challenge grades (see `assess coverage`).
requirements = []

# Every check names one of these with @pytest.mark.skill("..."); weights are relative.
[skills]
api = 2
errors = 1

[scoring]
default_points = 1
correctness_weight = 0.8
load_weight = 0.2

[sandbox]
cpus = 0.5
memory_mb = 256
pids = 128

[limits]
build_s = 180
ready_s = 15
checks_s = 60
check_s = 10

[load]
locustfile = "load/locustfile.py"
users = 5
target_rps = 20
warmup_s = 2
duration_s = 5
max_steps = 0

[load.slo]
p95_ms = 200
p99_ms = 500
max_error_rate = 0.01
"""

BRIEF = """\
# Item store

Build an HTTP service on port 8080 (or `$PORT`) that stores named items in memory.

- `GET /healthz` answers `200` once the service is ready.
- `POST /items` with a JSON body `{{"name": "<string>"}}` creates an item and answers `201` with
  the item as JSON, `{{"id": "<string>", "name": "<string>"}}`, and a `Location: /items/<id>`
  header.
- `GET /items/<id>` answers `200` with the item as JSON.
- An unknown id answers `404` with an `application/problem+json` body (RFC 9457), for example
  `{{"title": "not found", "status": 404}}`.

(This is the brief of the `{name}` template: replace it with your challenge's.)
"""

CHECKS = '''\
"""Checks of the {name} template: what the brief says, nothing the reference merely does."""

import uuid

import pytest

from graders import expect


@pytest.mark.points(2)
@pytest.mark.skill("api")
def test_create_then_read_item(api):
    """An item created with POST /items answers 201 and is served by GET /items/{{id}}."""
    name = f"item-{{uuid.uuid4().hex[:12]}}"
    created = api.post("/items", json={{"name": name}})
    expect(created).status(201).header("Location").json_field("id", of_type=str).json_field(
        "name", name
    )
    item_id = created.json()["id"]
    expect(api.get(f"/items/{{item_id}}")).status(200).json_field("id", item_id).json_field(
        "name", name
    )


@pytest.mark.hidden
@pytest.mark.skill("errors")
def test_unknown_item_is_404(api):
    """GET /items/{{id}} of an id never created answers 404 problem+json."""
    expect(api.get(f"/items/never-{{uuid.uuid4().hex}}")).problem(404)
'''

LOCUSTFILE = '''\
"""Load profile of the {name} template: create an item, read it back (a failed read-back is a
failed request). The runner sets host, user count and pacing. Names have the checks' shape
and come from a private generator (ASSESS_SEED mixed with os.urandom: names derived from the
seed alone a service could compute in advance and tell from the checks').

Figures from the generator's own observation: the rate and latency (Locust's clock around each
request); errors: a status other than the brief's, or a read-back unlike what was written."""

from __future__ import annotations

import os
import random
import uuid

from locust import task

from graders.load.user import LoadUser

_rng = random.Random(f"{name}-load-{{os.environ.get('ASSESS_SEED', '1')}}-{{uuid.uuid4()}}")


class ItemUser(LoadUser):
    @task
    def create_and_read(self) -> None:
        name = f"item-{{_rng.getrandbits(48):012x}}"
        with self.client.post(
            "/items", json={{"name": name}}, name="POST /items", catch_response=True
        ) as resp:
            if resp.status_code != 201:
                resp.failure(f"POST /items: expected 201, got {{resp.status_code}}")
                return
            body = self.json_or_fail(resp)
            if not isinstance(body, dict) or not isinstance(body.get("id"), str):
                if body is not None:
                    resp.failure("POST /items: no string id in the body")
                return
        with self.client.get(
            f"/items/{{body['id']}}", name="/items/[id]", catch_response=True
        ) as resp:
            got = self.json_or_fail(resp) if resp.status_code == 200 else None
            if resp.status_code != 200:
                resp.failure(f"GET /items/[id]: expected 200, got {{resp.status_code}}")
            elif isinstance(got, dict) and got.get("name") != name:
                resp.failure("GET /items/[id]: not the item just created")
'''

REFERENCE_APP = '''\
"""Reference solution of the {name} template (Python standard library only)."""

import json
import os
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ITEMS: dict = {{}}
LOCK = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    created_status = 201

    def send(self, status, body, ctype="application/json", headers=()):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def problem(self, status, title):
        self.send(status, {{"title": title, "status": status}}, "application/problem+json")

    def not_found(self):
        self.problem(404, "not found")

    def do_GET(self):
        if self.path == "/healthz":
            self.send(200, {{"ok": True}})
            return
        if self.path.startswith("/items/"):
            with LOCK:
                item = ITEMS.get(self.path[len("/items/") :])
            if item is not None:
                self.send(200, item)
                return
        self.not_found()

    def do_POST(self):
        if self.path != "/items":
            self.not_found()
            return
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"null")
        except ValueError:
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("name"), str):
            self.problem(400, "a JSON object with a string name is required")
            return
        item = {{"id": uuid.uuid4().hex, "name": body["name"]}}
        with LOCK:
            ITEMS[item["id"]] = item
        self.send(self.created_status, item, headers=[("Location", f"/items/{{item['id']}}")])

    def log_message(self, *args):
        pass  # one line per request would drown the service log


def serve(handler=Handler):
    port = int(os.environ.get("PORT", "8080"))
    print("listening on", port, flush=True)
    ThreadingHTTPServer(("0.0.0.0", port), handler).serve_forever()


if __name__ == "__main__":
    serve()
'''

FLAWED_APP = '''\
"""A flawed variant: the reference with sloppy status codes (200 on create, 200 {{}} for an
unknown id). It must fail exactly the checks listed in expected.toml: proof that they catch it."""

import app


class Sloppy(app.Handler):
    created_status = 200

    def not_found(self):
        self.send(200, {{}})


app.serve(Sloppy)
'''

FILES = {
    "challenge.toml": CHALLENGE_TOML,
    "README.md": BRIEF,
    "checks/test_items.py": CHECKS,
    "load/locustfile.py": LOCUSTFILE,
    "solutions/reference/assess.toml": 'runtime = "python"\nstart = "python3 app.py"\n',
    "solutions/reference/app.py": REFERENCE_APP,
    "solutions/reference/expected.toml": (
        'description = "The reference: scores every check"\nfails = []\n'
    ),
    "solutions/sloppy-status/assess.toml": 'runtime = "python"\nstart = "python3 flawed.py"\n',
    "solutions/sloppy-status/flawed.py": FLAWED_APP,
    "solutions/sloppy-status/expected.toml": (
        'base = "reference"\n'
        'description = "200 on create and for unknown ids: proves both checks catch it"\n'
        'fails = ["create_then_read_item", "unknown_item_is_404"]\n'
    ),
}


def new_challenge(name: str, parent: Path) -> Path:
    """Write the template challenge ``parent/name``; return its directory."""
    if not re.fullmatch(ID_PATTERN, name):
        raise UsageError(
            f"challenge name {name!r} is not a valid id; use lowercase letters, digits and "
            "hyphens, starting with a letter or digit (at most 63), e.g. url-shortener"
        )
    if not parent.is_dir():
        raise UsageError(f"--dir {parent} is not a directory; create it or pick another")
    root = parent / name
    if root.exists():
        raise UsageError(f"{root} already exists; choose another name or remove it")
    for rel, text in FILES.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text.format(name=name), encoding="utf-8")
    return root
