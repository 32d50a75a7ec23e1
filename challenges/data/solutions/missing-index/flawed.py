"""Flaw: the migrations forget the index on order_items(order_id) (a foreign key left unindexed)."""

import app

app.MIGRATIONS[:] = [m for m in app.MIGRATIONS if "order_items_order" not in m]

if __name__ == "__main__":
    app.main()
