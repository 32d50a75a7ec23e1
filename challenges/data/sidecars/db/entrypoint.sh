#!/bin/sh
# --build (as root, at image build): initdb, load the catalogue with COPY, stop. Otherwise (as
# postgres, per grading): exec the supervisor, which starts PostgreSQL on the loaded copy.
set -eu
if [ "${1:-}" = "--build" ]; then
    mkdir -p /tmp/data "$PGDATA"
    chown postgres:postgres "$PGDATA" /tmp/data
    python3 /opt/db/generate.py /tmp/data "${DATA_SEED:-20}"
    chown postgres:postgres /tmp/data/*
    su postgres -s /bin/sh -c "initdb -D '$PGDATA' -U postgres --auth-local=peer --encoding=UTF8 --locale=C.UTF-8 >/dev/null"
    cp /opt/db/postgresql.conf "$PGDATA/postgresql.conf"
    # Small WAL while loading (the image keeps pg_wal: 209 MB of it at the default sizes).
    su postgres -s /bin/sh -c "pg_ctl -D '$PGDATA' -o '-c fsync=off -c listen_addresses= -c min_wal_size=32MB -c max_wal_size=64MB' -w start >/dev/null"
    su postgres -s /bin/sh -c "psql -X -q -v ON_ERROR_STOP=1 -h /var/lib/postgresql -d postgres -f /opt/db/setup.sql >/dev/null"
    su postgres -s /bin/sh -c "psql -X -q -h /var/lib/postgresql -d postgres -c CHECKPOINT >/dev/null"
    su postgres -s /bin/sh -c "pg_ctl -D '$PGDATA' -m fast -w stop >/dev/null"
    rm -rf /tmp/data
    exit 0
fi
exec python3 /opt/db/control.py
