"""Hostile: the reference service, which first enables row-level security on the platform's
tables it owns, forced even for itself, with policies that show rows only to its own role. If the
grader's truth obeyed them it would read empty tables: every comparison with the database would
be against nothing (and a service that hid its own mistakes this way could pass). The grader's
role bypasses row-level security, so the honest answers still match."""

import app
import psycopg

HIDE = [
    f"ALTER TABLE public.{t} ENABLE ROW LEVEL SECURITY; ALTER TABLE public.{t} FORCE ROW LEVEL SECURITY; "
    f"DROP POLICY IF EXISTS mine ON public.{t}; "
    f"CREATE POLICY mine ON public.{t} USING (current_user = 'app') WITH CHECK (true)"
    for t in ("products", "customers", "orders", "order_items")
]

if __name__ == "__main__":
    url = app.os.environ["DATABASE_URL"]
    with psycopg.connect(url, autocommit=True) as conn:
        for stmt in HIDE:
            try:
                conn.execute(stmt)
            except psycopg.Error as e:
                print("hide:", e, flush=True)
    app.main(app.Store(url))
