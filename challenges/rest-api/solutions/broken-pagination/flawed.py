"""Flaw: the cursor points at the look-ahead item instead of the page's last item, so the
first item of every following page is skipped."""

import app


class BrokenPaginationStore(app.Store):
    def paginate(self, records, key, after, limit):
        if after is not None:
            records = [r for r in records if key(r) > after]
        page = records[: limit + 1]
        if len(page) > limit:
            return page[:limit], app.encode_cursor(key(page[limit]))  # should be page[limit - 1]
        return page, None


if __name__ == "__main__":
    app.main(store_cls=BrokenPaginationStore)
