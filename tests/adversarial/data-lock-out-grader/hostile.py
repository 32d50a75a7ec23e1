"""Hostile: the reference service, after locking every other role out of its database (as the
owner of shop, REVOKE CONNECT ... FROM PUBLIC): the grader's truth and statistics queries must
not be refused because of the candidate."""

import app
import psycopg

ATTEMPTS = [
    "REVOKE CONNECT ON DATABASE shop FROM PUBLIC",
    "REVOKE CONNECT ON DATABASE shop FROM grader",
    "ALTER DATABASE shop CONNECTION LIMIT 30",
]

if __name__ == "__main__":
    with psycopg.connect(app.os.environ["DATABASE_URL"], autocommit=True) as conn:
        for sql in ATTEMPTS:
            try:
                conn.execute(sql)
                print(f"ran (a no-op unless it owns the database): {sql}", flush=True)
            except psycopg.Error as e:
                print(f"refused: {sql}: {str(e).splitlines()[0]}", flush=True)
    app.main()
