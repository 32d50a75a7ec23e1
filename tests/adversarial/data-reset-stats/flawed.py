"""Flaw: a customer's orders fetch their items with one query per order (N+1)."""

from typing import Any

import app
from psycopg.rows import dict_row


class Store(app.Store):
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
            out = []
            for o in orders:
                items = cur.execute(
                    "SELECT product_id, quantity, unit_price_cents FROM order_items "
                    "WHERE order_id = %s ORDER BY product_id",
                    (o["id"],),
                ).fetchall()
                out.append({**o, "created_at": app.ts(o["created_at"]), "items": items})
            return out


if __name__ == "__main__":
    app.main(Store(app.os.environ["DATABASE_URL"]))
