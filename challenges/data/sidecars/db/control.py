#!/usr/bin/env python3
"""Supervisor and control port of the data challenge's PostgreSQL sidecar (stdlib only).

Starts PostgreSQL on the copy of the catalogue baked into the image, sets the grader role's
password to this grading's ``ASSESS_CONTROL_TOKEN``, marks itself ready
(``/var/lib/postgresql/assess-ready``, the sidecar's ``ready_cmd``), and serves the grader on
``CONTROL_PORT`` (127.0.0.1). SIGTERM/SIGINT: PostgreSQL's fast shutdown, then exit with its code.

Control API; every path but /healthz needs ``Authorization: Bearer $ASSESS_CONTROL_TOKEN``
(compared in constant time; 401 otherwise, and always when no token is set). Queries run as the
read-only ``grader`` role through the unix socket, which the candidate cannot reach, with
``search_path = pg_catalog`` only (write the candidate's tables as ``public.orders``).

    GET  /healthz          200 {"status": "ok"}
    GET  /control/stats    what the candidate's role (app) sent to database shop, from
                           pg_stat_statements (utility statements such as BEGIN are not tracked):
                           {"total": calls, "rows", "blocks": shared blocks hit + read,
                            "dealloc": entries evicted so far (a change voids a measurement),
                            "tables": {name: {"seq_scan", "seq_tup_read", "idx_scan",
                                              "idx_tup_fetch", "n_live_tup"}}}
    POST /control/query    {"sql": "SELECT ..."} -> {"rows": [{column: value}]}, read-only;
                           409 when the platform's tables no longer read as the brief states,
                           60 s statement timeout; an SQL error -> 400 {"detail"}

The candidate can connect to this port: request heads and bodies are capped, connections are
bounded and time out, and nothing the client sent is echoed.
"""

from __future__ import annotations

import hmac
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

PGDATA = os.environ.get("PGDATA", "/var/lib/postgresql/data")
SOCKET_DIR = "/var/lib/postgresql"
READY = Path(SOCKET_DIR) / "assess-ready"
TOKEN = os.environ.get("ASSESS_CONTROL_TOKEN", "")
MAX_BODY = 64 * 1024
MAX_CONNECTIONS = 16
OUTPUT_CAP = 8 * 1024 * 1024
_slots = threading.BoundedSemaphore(MAX_CONNECTIONS)

STATS_SQL = """
SELECT json_build_object(
  'total', coalesce(sum(s.calls), 0), 'rows', coalesce(sum(s.rows), 0),
  'blocks', coalesce(sum(s.shared_blks_hit + s.shared_blks_read), 0),
  'dealloc', (SELECT dealloc FROM stats.pg_stat_statements_info),
  'tables', (SELECT json_object_agg(relname, json_build_object(
      'seq_scan', seq_scan, 'seq_tup_read', seq_tup_read, 'idx_scan', coalesce(idx_scan, 0),
      'idx_tup_fetch', coalesce(idx_tup_fetch, 0), 'n_live_tup', n_live_tup))
    FROM pg_catalog.pg_stat_user_tables WHERE schemaname = 'public'))
FROM stats.pg_stat_statements s
WHERE s.userid = 'app'::regrole
  AND s.dbid = (SELECT oid FROM pg_catalog.pg_database WHERE datname = 'shop')
"""


def psql(sql: str, user: str, password: str = "", timeout_s: float = 70.0) -> str:
    env = {"PATH": os.environ.get("PATH", ""), "PGPASSWORD": password, "PGCONNECT_TIMEOUT": "5"}
    # Only pg_catalog on the path: public belongs to the candidate (app), and an operator or
    # function it creates there (say `=(oid, regrole)` returning false) would otherwise be
    # chosen over pg_catalog's by any query whose types it matches more exactly, and could zero
    # the statistics or bend the checks' truth. Checks name the candidate's tables `public.x`.
    env["PGOPTIONS"] = "-c search_path=pg_catalog"
    args = ["psql", "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-h", SOCKET_DIR]
    done = subprocess.run(
        [*args, "-U", user, "-d", "shop" if user == "grader" else "postgres", "-c", sql],
        env=env,
        capture_output=True,
        timeout=timeout_s,
        text=True,
    )
    if done.returncode != 0:
        raise ValueError(
            done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "psql failed"
        )
    return done.stdout[:OUTPUT_CAP]


def grader_json(sql: str) -> object:
    return json.loads(psql(sql, "grader", TOKEN) or "null")


# The platform's tables as the brief states them: the grader's truth reads these, so they must
# still be plain tables (not a view, a partitioned table or one with rewrite rules, which would
# let the candidate decide what the grader reads) holding at least these columns and types (the
# candidate may add columns, indexes and constraints, never change these).
PLATFORM = {
    "products": {
        "id": "bigint", "sku": "text", "name": "text", "category": "text",
        "price_cents": "integer", "stock": "integer", "version": "integer",
        "created_at": "timestamp with time zone",
    },
    "customers": {
        "id": "bigint", "email": "text", "name": "text", "created_at": "timestamp with time zone",
    },
    "orders": {
        "id": "bigint", "customer_id": "bigint", "created_at": "timestamp with time zone",
        "total_cents": "bigint",
    },
    "order_items": {
        "id": "bigint", "order_id": "bigint", "product_id": "bigint", "quantity": "integer",
        "unit_price_cents": "integer",
    },
}  # fmt: skip
PLATFORM_SQL = """
SELECT coalesce(json_agg(json_build_object(
    'table', c.relname, 'kind', c.relkind,
    'rules', (SELECT count(*) FROM pg_catalog.pg_rewrite r WHERE r.ev_class = c.oid),
    'columns', (SELECT coalesce(json_object_agg(a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod)), '{}')
                FROM pg_catalog.pg_attribute a
                WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped))), '[]')
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relname IN ('products', 'customers', 'orders', 'order_items')
"""


def platform_problem() -> str | None:
    """Why the grader cannot trust what it reads from the platform's tables, or None."""
    found = {t["table"]: t for t in grader_json(PLATFORM_SQL) or []}  # type: ignore[union-attr]
    for table, columns in PLATFORM.items():
        seen = found.get(table)
        if seen is None:
            return f"table public.{table} of the brief is missing (dropped or renamed)"
        if seen["kind"] != "r":
            return f"public.{table} is no longer a plain table (kind {seen['kind']!r}: a view or partitioned table)"
        if seen["rules"]:
            return f"public.{table} has rewrite rules: the brief's tables must read as stored"
        for col, kind in columns.items():
            if seen["columns"].get(col) != kind:
                return (
                    f"public.{table}.{col} is {seen['columns'].get(col) or 'missing'}, the brief "
                    f"states {kind}"
                )
    return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 10
    server_version = "assess-db-control"
    sys_version = ""

    def log_message(self, format: str, *args: object) -> None:
        pass  # never echo what a client sent

    def reply(self, status: int, obj: object) -> None:
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def authorised(self) -> bool:
        got = self.headers.get("Authorization", "")
        if TOKEN and hmac.compare_digest(got.encode(), f"Bearer {TOKEN}".encode()):
            return True
        self.reply(401, {"detail": "a valid control token is required"})
        return False

    def do_GET(self) -> None:
        if self.path == "/healthz":
            self.reply(200, {"status": "ok"})
        elif self.path == "/control/stats":
            if self.authorised():
                self.reply(200, grader_json(STATS_SQL))
        else:
            self.reply(404, {"detail": "no such path"})

    def do_POST(self) -> None:
        if self.path != "/control/query":
            self.reply(404, {"detail": "no such path"})
            return
        if not self.authorised():
            return
        length = int(self.headers.get("Content-Length") or 0)
        if not 0 < length <= MAX_BODY:
            self.reply(413, {"detail": f"a body of 1..{MAX_BODY} bytes is required"})
            return
        try:
            sql = str(json.loads(self.rfile.read(length))["sql"])
            problem = platform_problem()
            if problem is not None:  # the candidate changed what the truth reads: its fault
                self.reply(409, {"detail": problem[:500]})
                return
            rows = grader_json(f"SELECT coalesce(json_agg(q_), '[]') FROM ({sql}) q_")
        except (ValueError, KeyError, TypeError) as e:
            self.reply(400, {"detail": str(e)[:500]})
            return
        self.reply(200, {"rows": rows})

    def handle(self) -> None:
        if not _slots.acquire(blocking=False):
            return  # too many connections: close this one
        try:
            super().handle()
        except (OSError, subprocess.TimeoutExpired):
            pass
        finally:
            _slots.release()


def main() -> None:
    READY.unlink(missing_ok=True)
    pg = subprocess.Popen(["postgres", "-D", PGDATA])

    def stop(signum: int, frame: object) -> None:
        pg.send_signal(signal.SIGINT)  # fast shutdown

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    deadline = time.monotonic() + 60
    while subprocess.run(["pg_isready", "-q", "-h", SOCKET_DIR], check=False).returncode != 0:
        if pg.poll() is not None or time.monotonic() > deadline:
            sys.exit(f"db: PostgreSQL did not start (exit {pg.poll()})")
        time.sleep(0.1)
    if re.fullmatch(r"[0-9a-f]{16,128}", TOKEN):
        # BYPASSRLS: the candidate owns the platform's tables and could enable row-level
        # security with a policy that hides rows from the grader (an oversold product, a
        # duplicated order); the grader's truth must see every row.
        psql(f"ALTER ROLE grader PASSWORD '{TOKEN}' BYPASSRLS", "postgres")
    else:
        print(
            "db: ASSESS_CONTROL_TOKEN missing or not hex: the grader role stays locked",
            file=sys.stderr,
        )
    port = int(os.environ.get("CONTROL_PORT") or 0)
    if port:
        server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
    READY.touch()
    sys.exit(pg.wait())


if __name__ == "__main__":
    main()
