"""Flaw: read the stock, then write stock = read - quantity (no lock, no conditional update).

The pause between the read and the write only widens the window a real race also has."""

import time
from typing import Any

import app


class Store(app.Store):
    def reserve(self, cur: Any, items: list[dict[str, int]]) -> dict[int, int]:
        prices: dict[int, int] = {}
        for item in sorted(items, key=lambda i: i["product_id"]):
            row = cur.execute(
                "SELECT stock, price_cents FROM products WHERE id = %s", (item["product_id"],)
            ).fetchone()
            if row is None:
                raise app.Problem(422, f"no such product: {item['product_id']}")
            if row["stock"] < item["quantity"]:
                raise app.Problem(409, f"not enough stock of product {item['product_id']}")
            time.sleep(0.05)
            cur.execute(
                "UPDATE products SET stock = %s WHERE id = %s",
                (row["stock"] - item["quantity"], item["product_id"]),
            )
            prices[item["product_id"]] = row["price_cents"]
        return prices


if __name__ == "__main__":
    app.main(Store(app.os.environ["DATABASE_URL"]))
