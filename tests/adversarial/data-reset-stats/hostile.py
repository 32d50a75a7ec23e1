"""Hostile: the N+1 history (flawed.py) after trying, each on its own, every way the candidate's
role might reset, stop or shadow the statistics the grader reads: the resets of
pg_stat_statements and of the table counters, turning tracking off for its session, its role or
its database, a second pg_stat_statements in public, becoming the grader. Every attempt must be
refused (each refusal is logged), and the N+1 must still be counted."""

import app
import flawed
import psycopg

ATTEMPTS = [
    "SELECT stats.pg_stat_statements_reset()",
    "SELECT pg_stat_statements_reset()",
    "SELECT pg_stat_reset()",
    "SELECT pg_stat_reset_shared('bgwriter')",
    "SET pg_stat_statements.track = 'none'",
    "ALTER ROLE app SET pg_stat_statements.track = 'none'",
    "ALTER DATABASE shop SET pg_stat_statements.track = 'none'",
    "SET track_counts = off",
    "ALTER ROLE app SET track_counts = off",
    "CREATE EXTENSION pg_stat_statements SCHEMA public",
    "SET ROLE grader",
    "SET SESSION AUTHORIZATION postgres",
    "ALTER ROLE grader PASSWORD 'x'",
    "GRANT app TO grader",
    "ALTER ROLE app SUPERUSER",
    "COPY (SELECT 1) TO PROGRAM 'true'",
    "SELECT pg_read_file('/proc/1/environ')",
]

if __name__ == "__main__":
    url = app.os.environ["DATABASE_URL"]
    with psycopg.connect(url, autocommit=True) as conn:
        for sql in ATTEMPTS:
            try:
                conn.execute(sql)
                print(f"ACCEPTED: {sql}", flush=True)
            except psycopg.Error as e:
                print(f"refused: {sql}: {str(e).splitlines()[0]}", flush=True)
    app.main(flawed.Store(url))
