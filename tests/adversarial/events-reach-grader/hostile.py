"""Hostile: the events reference service, after trying, each on its own, to reach what only the
grader may: the broker as guest, as the grader (guessed tokens), on other vhosts; the grader's
queue grader.events (read, purge, delete); the ledger's control port (no token, guessed ones).
Every attempt must be refused (each is logged); the honest processor behind it scores as usual."""

import http.client
import json

import app
import pika

GUESSES = ["", "grader", "guest", "admin", "0" * 32, "token"]


def amqp(user: str, password: str, vhost: str) -> pika.BlockingConnection:
    params = pika.ConnectionParameters(
        "127.0.0.1", 5672, vhost, pika.PlainCredentials(user, password),
        socket_timeout=3, blocked_connection_timeout=3, connection_attempts=1,
    )  # fmt: skip
    return pika.BlockingConnection(params)


def attempt(what: str, fn) -> None:  # type: ignore[no-untyped-def]
    try:
        fn()
        print(f"ACCEPTED: {what}", flush=True)
    except Exception as e:
        print(f"refused: {what}: {type(e).__name__}", flush=True)


def logins() -> None:
    for user, vhost in [("guest", "/"), ("guest", "events"), ("service", "/")]:
        attempt(
            f"login {user} on {vhost}",
            lambda u=user, v=vhost: amqp(u, "guest" if u == "guest" else "service", v).close(),
        )
    for g in GUESSES:
        attempt(f"login grader/{g!r}", lambda g=g: amqp("grader", g, "events").close())


def grader_queue(action: str) -> None:
    conn = amqp("service", "service", "events")
    try:
        ch = conn.channel()
        if action == "get":
            ch.basic_get("grader.events", auto_ack=True)
        elif action == "purge":
            ch.queue_purge("grader.events")
        elif action == "delete":
            ch.queue_delete("grader.events")
        elif action == "unbind":
            ch.queue_unbind("grader.events", "transfers.events", "#")
    finally:
        if conn.is_open:
            conn.close()


def ledger_control(token: str) -> None:
    c = http.client.HTTPConnection("127.0.0.1", 9091, timeout=3)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    c.request("PUT", "/control/accounts/alice", json.dumps({"balance": 10**9}), headers)
    status = c.getresponse().status
    if status >= 300:
        raise PermissionError(status)


if __name__ == "__main__":
    logins()
    for action in ("get", "purge", "delete", "unbind"):
        attempt(f"{action} grader.events", lambda a=action: grader_queue(a))
    for g in GUESSES:
        attempt(f"ledger control with token {g!r}", lambda g=g: ledger_control(g))
    app.main()
