"""Flaw: the cursor is an offset (LIMIT/OFFSET paging), not the last row's sort key."""

from typing import Any

import app
from psycopg.rows import dict_row


class Store(app.Store):
    def search(self, q: dict[str, list[str]]) -> dict[str, Any]:
        sort = q.get("sort", ["id"])[-1]
        if sort not in app.SORTS:
            raise app.Problem(400, "sort must be one of id, price, -price")
        order = app.SORTS[sort][0]
        limit = app.int_param(q, "limit", 20, 1, 100) or 20
        offset = self.decode_cursor(q["after"][-1], sort, 1)[0] if "after" in q else 0
        where: list[str] = []
        params: list[Any] = []
        if "category" in q:
            where.append("category = %s")
            params.append(q["category"][-1])
        for name, op in (("min_price", ">="), ("max_price", "<=")):
            value = app.int_param(q, name, None, 0, 10**9)
            if value is not None:
                where.append(f"price_cents {op} %s")
                params.append(value)
        if q.get("q", [""])[-1]:
            pattern = app.re.sub(r"([\\%_])", r"\\\1", q["q"][-1])
            where.append("name ILIKE %s")
            params.append(f"%{pattern}%")
        sql = f"SELECT {app.PRODUCT_COLUMNS} FROM products"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += f" ORDER BY {order} LIMIT %s OFFSET %s"
        params += [limit + 1, offset]
        with self.pool.connection() as conn:
            rows = conn.cursor(row_factory=dict_row).execute(sql, params).fetchall()
        more = len(rows) > limit
        nxt = self.encode_cursor(sort, [offset + limit]) if more else None
        return {"items": rows[:limit], "next": nxt}


if __name__ == "__main__":
    app.main(Store(app.os.environ["DATABASE_URL"]))
