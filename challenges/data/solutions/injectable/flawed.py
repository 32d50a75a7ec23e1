"""Flaw: the category filter is pasted into the SQL text (string formatting, not a parameter)."""

from typing import Any

import app


class Store(app.Store):
    @staticmethod
    def category_condition(category: str) -> tuple[str, list[Any]]:
        return f"category = '{category}'", []


if __name__ == "__main__":
    app.main(Store(app.os.environ["DATABASE_URL"]))
