#!/usr/bin/env python3
"""Reference solution of the ``data`` challenge: an orders service on PostgreSQL.

Standard-library HTTP (a thread per connection, HTTP/1.1 keep-alive) and psycopg 3 with a
connection pool. Every statement is parameterised; sort keys come from a fixed table. What a
flawed variant may change is a method of :class:`Store` or a constant here:

    MIGRATIONS      run at every start, idempotent (IF NOT EXISTS), under an advisory lock
    search()        keyset pagination over (price_cents, id) or id
    category_condition()  the category filter, a bound parameter
    reserve()       stock decrement: one conditional UPDATE per item, in product id order
    customer_orders()  three statements whatever the number of orders
"""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import sys
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

MAX_BODY = 64 * 1024
MAX_ITEMS = 50
ID = re.compile(r"[1-9][0-9]{0,17}")

MIGRATIONS = [
    "CREATE INDEX IF NOT EXISTS products_category_price ON products (category, price_cents, id)",
    "CREATE INDEX IF NOT EXISTS products_price ON products (price_cents, id)",
    "CREATE INDEX IF NOT EXISTS orders_customer ON orders (customer_id, created_at DESC, id DESC)",
    "CREATE INDEX IF NOT EXISTS orders_created ON orders (created_at)",
    "CREATE INDEX IF NOT EXISTS order_items_order ON order_items (order_id)",
    """CREATE TABLE IF NOT EXISTS idempotency_keys (
        key text PRIMARY KEY,
        status integer NOT NULL,
        body jsonb NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now())""",
]

SORTS = {  # sort -> (ORDER BY, keyset condition, cursor columns)
    "id": ("id", "id > %s", ("id",)),
    "price": ("price_cents, id", "(price_cents, id) > (%s, %s)", ("price_cents", "id")),
    "-price": (
        "price_cents DESC, id DESC",
        "(price_cents, id) < (%s, %s)",
        ("price_cents", "id"),
    ),
}
PRODUCT_COLUMNS = "id, sku, name, category, price_cents, stock, version"


class Problem(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail


def ts(t: datetime) -> str:
    return t.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def int_param(q: dict[str, list[str]], name: str, default: int | None, lo: int, hi: int) -> int | None:
    raw = q.get(name, [None])[-1]
    if raw is None:
        return default
    if not re.fullmatch(r"-?[0-9]{1,12}", raw) or not lo <= int(raw) <= hi:
        raise Problem(400, f"{name} must be an integer in {lo}..{hi}")
    return int(raw)


def time_param(q: dict[str, list[str]], name: str) -> datetime:
    raw = q.get(name, [""])[-1]
    try:
        t = datetime.fromisoformat(raw.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise Problem(400, f"{name} must be an RFC 3339 timestamp") from None
    if t.tzinfo is None:
        raise Problem(400, f"{name} needs a UTC offset")
    return t


class Store:
    def __init__(self, url: str) -> None:
        self.pool = ConnectionPool(url, min_size=2, max_size=10, open=True, timeout=10)

    def migrate(self) -> None:
        with self.pool.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(20)")
            for sql in MIGRATIONS:
                conn.execute(sql)

    # -- products ------------------------------------------------------------------------

    def product(self, pid: int) -> dict[str, Any] | None:
        with self.pool.connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            return cur.execute(
                f"SELECT {PRODUCT_COLUMNS} FROM products WHERE id = %s", (pid,)
            ).fetchone()

    def create_product(self, body: dict[str, Any]) -> dict[str, Any]:
        with self.pool.connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            try:
                row = cur.execute(
                    "INSERT INTO products (sku, name, category, price_cents, stock) "
                    f"VALUES (%s, %s, %s, %s, %s) RETURNING {PRODUCT_COLUMNS}",
                    (body["sku"], body["name"], body["category"], body["price_cents"], body["stock"]),
                ).fetchone()
            except psycopg.errors.UniqueViolation:
                raise Problem(409, "a product with this sku exists") from None
            assert row is not None
            return row

    def search(self, q: dict[str, list[str]]) -> dict[str, Any]:
        sort = q.get("sort", ["id"])[-1]
        if sort not in SORTS:
            raise Problem(400, "sort must be one of id, price, -price")
        order, keyset, columns = SORTS[sort]
        limit = int_param(q, "limit", 20, 1, 100)
        where: list[str] = []
        params: list[Any] = []
        if "category" in q:
            cond, values = self.category_condition(q["category"][-1])
            where.append(cond)
            params.extend(values)
        for name, op in (("min_price", ">="), ("max_price", "<=")):
            value = int_param(q, name, None, 0, 10**9)
            if value is not None:
                where.append(f"price_cents {op} %s")
                params.append(value)
        if q.get("q", [""])[-1]:
            pattern = re.sub(r"([\\%_])", r"\\\1", q["q"][-1])
            where.append("name ILIKE %s")
            params.append(f"%{pattern}%")
        if "after" in q:
            where.append(keyset)
            params.extend(self.decode_cursor(q["after"][-1], sort, len(columns)))
        sql = f"SELECT {PRODUCT_COLUMNS} FROM products"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += f" ORDER BY {order} LIMIT %s"
        params.append((limit or 20) + 1)
        with self.pool.connection() as conn:
            rows = conn.cursor(row_factory=dict_row).execute(sql, params).fetchall()
        more = len(rows) > (limit or 20)
        rows = rows[: limit or 20]
        nxt = self.encode_cursor(sort, [rows[-1][c] for c in columns]) if more and rows else None
        return {"items": rows, "next": nxt}

    @staticmethod
    def category_condition(category: str) -> tuple[str, list[Any]]:
        return "category = %s", [category]

    @staticmethod
    def encode_cursor(sort: str, values: list[int]) -> str:
        raw = json.dumps([sort, *values]).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @staticmethod
    def decode_cursor(cursor: str, sort: str, n: int) -> list[int]:
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
            got = json.loads(raw)
            if got[0] == sort and len(got) == n + 1 and all(type(v) is int for v in got[1:]):
                return list(got[1:])
        except (ValueError, TypeError, IndexError):
            pass
        raise Problem(400, "after is not a cursor of this sort")

    def change_price(self, pid: int, if_match: str, price: int) -> dict[str, Any]:
        m = re.fullmatch(r'\s*(?:W/)?"([0-9]{1,9})"\s*', if_match)
        version = int(m.group(1)) if m else -1
        with self.pool.connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            row = cur.execute(
                "UPDATE products SET price_cents = %s, version = version + 1 "
                f"WHERE id = %s AND version = %s RETURNING {PRODUCT_COLUMNS}",
                (price, pid, version),
            ).fetchone()
            if row is None:
                exists = cur.execute("SELECT 1 FROM products WHERE id = %s", (pid,)).fetchone()
                raise Problem(412 if exists else 404, "stale version" if exists else "no such product")
            return row

    # -- orders --------------------------------------------------------------------------

    def place_order(self, body: dict[str, Any], key: str | None) -> tuple[int, dict[str, Any]]:
        items = body["items"]
        with self.pool.connection() as conn, conn.transaction():
            cur = conn.cursor(row_factory=dict_row)
            if key is not None:
                claimed = cur.execute(
                    "INSERT INTO idempotency_keys (key, status, body) VALUES (%s, 0, '{}') "
                    "ON CONFLICT (key) DO NOTHING RETURNING key",
                    (key,),
                ).fetchone()
                if claimed is None:
                    done = cur.execute(
                        "SELECT status, body FROM idempotency_keys WHERE key = %s", (key,)
                    ).fetchone()
                    assert done is not None
                    return done["status"], done["body"]
            if cur.execute("SELECT 1 FROM customers WHERE id = %s", (body["customer_id"],)).fetchone() is None:
                raise Problem(422, "no such customer")
            prices = self.reserve(cur, items)
            total = sum(i["quantity"] * prices[i["product_id"]] for i in items)
            order = cur.execute(
                "INSERT INTO orders (customer_id, total_cents) VALUES (%s, %s) "
                "RETURNING id, customer_id, created_at, total_cents",
                (body["customer_id"], total),
            ).fetchone()
            assert order is not None
            lines = sorted(
                ({"product_id": i["product_id"], "quantity": i["quantity"],
                  "unit_price_cents": prices[i["product_id"]]} for i in items),
                key=lambda line: line["product_id"],
            )  # fmt: skip
            cur.execute(
                "INSERT INTO order_items (order_id, product_id, quantity, unit_price_cents) "
                "SELECT %s, * FROM unnest(%s::bigint[], %s::int[], %s::int[])",
                (order["id"], [x["product_id"] for x in lines], [x["quantity"] for x in lines],
                 [x["unit_price_cents"] for x in lines]),
            )  # fmt: skip
            answer = {**order, "created_at": ts(order["created_at"]), "items": lines}
            if key is not None:
                cur.execute(
                    "UPDATE idempotency_keys SET status = 201, body = %s WHERE key = %s",
                    (Jsonb(answer), key),
                )
            return 201, answer

    def reserve(self, cur: psycopg.Cursor[Any], items: list[dict[str, int]]) -> dict[int, int]:
        """Take the stock of every item or raise (the transaction then rolls back)."""
        prices: dict[int, int] = {}
        for item in sorted(items, key=lambda i: i["product_id"]):
            row = cur.execute(
                "UPDATE products SET stock = stock - %s WHERE id = %s AND stock >= %s "
                "RETURNING price_cents",
                (item["quantity"], item["product_id"], item["quantity"]),
            ).fetchone()
            if row is None:
                exists = cur.execute(
                    "SELECT 1 FROM products WHERE id = %s", (item["product_id"],)
                ).fetchone()
                if exists is None:
                    raise Problem(422, f"no such product: {item['product_id']}")
                raise Problem(409, f"not enough stock of product {item['product_id']}")
            prices[item["product_id"]] = row["price_cents"]
        return prices

    def customer_orders(self, cid: int, limit: int) -> list[dict[str, Any]] | None:
        with self.pool.connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            if cur.execute("SELECT 1 FROM customers WHERE id = %s", (cid,)).fetchone() is None:
                return None
            orders = cur.execute(
                "SELECT id, customer_id, created_at, total_cents FROM orders "
                "WHERE customer_id = %s ORDER BY created_at DESC, id DESC LIMIT %s",
                (cid, limit),
            ).fetchall()
            items = cur.execute(
                "SELECT order_id, product_id, quantity, unit_price_cents FROM order_items "
                "WHERE order_id = ANY(%s) ORDER BY order_id, product_id",
                ([o["id"] for o in orders],),
            ).fetchall()
        by_order: dict[int, list[dict[str, Any]]] = {o["id"]: [] for o in orders}
        for it in items:
            by_order[it.pop("order_id")].append(it)
        return [{**o, "created_at": ts(o["created_at"]), "items": by_order[o["id"]]} for o in orders]

    def top_products(self, start: datetime, end: datetime, limit: int) -> list[dict[str, Any]]:
        with self.pool.connection() as conn:
            return conn.cursor(row_factory=dict_row).execute(
                """SELECT t.product_id, p.name, t.units, t.revenue_cents FROM (
                     SELECT oi.product_id, sum(oi.quantity)::bigint AS units,
                            sum(oi.quantity::bigint * oi.unit_price_cents)::bigint AS revenue_cents
                     FROM orders o JOIN order_items oi ON oi.order_id = o.id
                     WHERE o.created_at >= %s AND o.created_at < %s
                     GROUP BY oi.product_id
                     ORDER BY revenue_cents DESC, oi.product_id LIMIT %s) t
                   JOIN products p ON p.id = t.product_id
                   ORDER BY t.revenue_cents DESC, t.product_id""",
                (start, end, limit),
            ).fetchall()


def check_order(body: Any) -> None:
    ok = (
        isinstance(body, dict)
        and type(body.get("customer_id")) is int
        and isinstance(body.get("items"), list)
        and 0 < len(body["items"]) <= MAX_ITEMS
        and all(
            isinstance(i, dict) and type(i.get("product_id")) is int and type(i.get("quantity")) is int
            and 0 < i["quantity"] <= 1000 and 0 < i["product_id"] < 2**62
            for i in body["items"]
        )
    )  # fmt: skip
    if not ok or not 0 < body["customer_id"] < 2**62:
        raise Problem(400, "expected {customer_id, items: [{product_id, quantity >= 1}]}")
    if len({i["product_id"] for i in body["items"]}) != len(body["items"]):
        raise Problem(400, "each product at most once per order")


def check_product(body: Any) -> None:
    ok = (
        isinstance(body, dict)
        and all(isinstance(body.get(k), str) and 0 < len(body[k]) <= 200 for k in ("sku", "name", "category"))
        and all(type(body.get(k)) is int and 0 <= body[k] <= 10**9 for k in ("price_cents", "stock"))
    )  # fmt: skip
    if not ok:
        raise Problem(400, "expected {sku, name, category, price_cents >= 0, stock >= 0}")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 60
    store: Store

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def send(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(obj, default=str).encode()
        self.send_response(status)
        ctype = "application/problem+json" if status >= 400 else "application/json"
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def body(self) -> Any:
        n = int(self.headers.get("Content-Length") or 0)
        if n > MAX_BODY:
            raise Problem(413, "body too large")
        try:
            return json.loads(self.rfile.read(n) or b"null")
        except ValueError:
            raise Problem(400, "the body must be JSON") from None

    def product_reply(self, status: int, p: dict[str, Any]) -> None:
        self.send(status, p, {"ETag": f'"{p["version"]}"'})

    def dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        q = parse_qs(url.query, keep_blank_values=True)
        parts = url.path.strip("/").split("/")
        s = self.store
        try:
            if method == "GET" and url.path == "/healthz":
                self.send(200, {"status": "ok"})
            elif url.path == "/products" and method == "GET":
                self.send(200, s.search(q))
            elif url.path == "/products" and method == "POST":
                b = self.body()
                check_product(b)
                self.product_reply(201, s.create_product(b))
            elif len(parts) == 2 and parts[0] == "products" and method in ("GET", "PATCH"):
                if not ID.fullmatch(parts[1]):
                    raise Problem(404, "no such product")
                if method == "GET":
                    p = s.product(int(parts[1]))
                    if p is None:
                        raise Problem(404, "no such product")
                    self.product_reply(200, p)
                    return
                b = self.body()
                if not isinstance(b, dict) or type(b.get("price_cents")) is not int or not 0 <= b["price_cents"] <= 10**9:
                    raise Problem(400, "expected {price_cents >= 0}")
                if "If-Match" not in self.headers:
                    raise Problem(428, "If-Match is required")
                self.product_reply(200, s.change_price(int(parts[1]), self.headers["If-Match"], b["price_cents"]))
            elif url.path == "/orders" and method == "POST":
                b = self.body()
                check_order(b)
                key = self.headers.get("Idempotency-Key")
                status, answer = s.place_order(b, key)
                self.send(status, answer)
            elif len(parts) == 3 and parts[0] == "customers" and parts[2] == "orders" and method == "GET":
                limit = int_param(q, "limit", 20, 1, 100)
                orders = s.customer_orders(int(parts[1]), limit or 20) if ID.fullmatch(parts[1]) else None
                if orders is None:
                    raise Problem(404, "no such customer")
                self.send(200, {"orders": orders})
            elif url.path == "/reports/top-products" and method == "GET":
                start, end = time_param(q, "from"), time_param(q, "to")
                if end < start:
                    raise Problem(400, "to must not be before from")
                limit = int_param(q, "limit", 10, 1, 100)
                self.send(200, {"items": s.top_products(start, end, limit or 10)})
            else:
                raise Problem(404, "no such resource")
        except Problem as p:
            self.send(p.status, {"title": p.detail, "status": p.status})
        except psycopg.Error as e:
            print(f"database error: {type(e).__name__}: {e}", file=sys.stderr)
            self.send(503, {"title": "database unavailable", "status": 503})

    def do_GET(self) -> None:  # noqa: N802
        self.dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802
        self.dispatch("POST")

    def do_PATCH(self) -> None:  # noqa: N802
        self.dispatch("PATCH")


def make_store() -> Store:
    return Store(os.environ["DATABASE_URL"])


def main(store: Store | None = None) -> None:
    Handler.store = store or make_store()
    Handler.store.migrate()
    ThreadingHTTPServer.request_queue_size = 128  # bursts of concurrent orders: no resets
    server = ThreadingHTTPServer(("0.0.0.0", int(os.environ.get("PORT", "8080"))), Handler)
    server.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # a restart: leave promptly
    print("listening", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
