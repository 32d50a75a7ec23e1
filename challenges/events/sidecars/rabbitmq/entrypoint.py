#!/usr/bin/python3
"""Start the events challenge's RabbitMQ with this grading's credentials.

At every start: the grader's password is the grading's control token ($ASSESS_CONTROL_TOKEN,
which only the grader also has), stored as RabbitMQ's salted SHA-256 hash in the definitions
file the broker imports at boot; the Erlang cookie is derived from the same token, so the
candidate (who shares the pod's loopback, and with it epmd and the distribution port) can
neither log in as the grader nor talk to the node as a CLI tool. The candidate's own user,
`service` (password `service`), may use only the `events` vhost's `transfers*` resources.

`--init` (image build only): boot once and stop, so the node's database is in the image.
"""

import base64
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time

HOME = "/var/lib/rabbitmq"
DEFINITIONS = HOME + "/definitions.json"
COOKIE = HOME + "/.erlang.cookie"
SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server"
SERVICE_USER = "service"
SERVICE_PASSWORD = "service"  # the candidate's: public, in the brief
VHOST = "events"
DLX_ARGS = {"x-dead-letter-exchange": "", "x-dead-letter-routing-key": "transfers.dlq"}


def password_hash(password: str) -> str:
    """RabbitMQ's rabbit_password_hashing_sha256: base64(salt + sha256(salt + password))."""
    salt = os.urandom(4)
    return base64.b64encode(salt + hashlib.sha256(salt + password.encode()).digest()).decode()


def definitions(token: str) -> dict:
    def user(name: str, password: str, tags: str) -> dict:
        return {
            "name": name,
            "password_hash": password_hash(password),
            "hashing_algorithm": "rabbit_password_hashing_sha256",
            "tags": tags,
        }

    def perm(user: str, configure: str, write: str, read: str) -> dict:
        return {"user": user, "vhost": VHOST, "configure": configure, "write": write, "read": read}

    def queue(name: str, arguments: dict) -> dict:
        return {
            "name": name,
            "vhost": VHOST,
            "durable": True,
            "auto_delete": False,
            "arguments": arguments,
        }

    return {
        "users": [user(SERVICE_USER, SERVICE_PASSWORD, ""), user("grader", token, "administrator")],
        "vhosts": [{"name": VHOST}],
        "permissions": [
            # The candidate: its queues and exchange, the default exchange to publish, nothing
            # else (not the grader's own queue, grader.events).
            perm(SERVICE_USER, "^transfers.*", "^(amq\\.default|transfers.*)$", "^transfers.*"),
            perm("grader", ".*", ".*", ".*"),
        ],
        "queues": [
            queue("transfers", DLX_ARGS),
            queue("transfers.dlq", {}),
            queue("grader.events", {}),
        ],
        "exchanges": [
            {
                "name": "transfers.events",
                "vhost": VHOST,
                "type": "topic",
                "durable": True,
                "auto_delete": False,
                "internal": False,
                "arguments": {},
            }
        ],
        "bindings": [
            {
                "source": "transfers.events",
                "vhost": VHOST,
                "destination": "grader.events",
                "destination_type": "queue",
                "routing_key": "#",
                "arguments": {},
            }
        ],
    }


def prepare() -> None:
    token = os.environ.get("ASSESS_CONTROL_TOKEN", "")
    if not token:
        sys.exit(
            "rabbitmq: ASSESS_CONTROL_TOKEN is not set; refusing to start without a grader secret"
        )
    with open(DEFINITIONS + ".tmp", "w") as f:
        json.dump(definitions(token), f)
    os.replace(DEFINITIONS + ".tmp", DEFINITIONS)
    if os.path.exists(COOKIE):
        os.chmod(COOKIE, 0o600)
    with open(COOKIE, "w") as f:
        f.write(hashlib.sha256(("erlang-cookie:" + token).encode()).hexdigest())
    os.chmod(COOKIE, 0o400)


def listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def init() -> None:
    started = time.monotonic()
    server = subprocess.Popen([SERVER])
    while not listening(5672):
        if server.poll() is not None or time.monotonic() - started > 120:
            sys.exit("rabbitmq: the pre-initialising boot failed")
        time.sleep(0.2)
    print(f"rabbitmq: first boot took {time.monotonic() - started:.1f} s", flush=True)
    server.send_signal(signal.SIGTERM)
    server.wait(60)


def main() -> None:
    prepare()
    if sys.argv[1:] == ["--init"]:
        init()
        return
    # The real script, not Debian's /usr/sbin wrapper: it stops the node gracefully on SIGTERM
    # (the wrapper, as PID 1, would not pass the signal on) and logs to stdout.
    os.execv(SERVER, [SERVER])


if __name__ == "__main__":
    main()
