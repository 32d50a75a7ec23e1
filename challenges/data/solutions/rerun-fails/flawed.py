"""Flaw: the migrations are not idempotent (CREATE INDEX without IF NOT EXISTS)."""

import app

app.MIGRATIONS[:] = [m.replace(" IF NOT EXISTS", "") for m in app.MIGRATIONS]

if __name__ == "__main__":
    app.main()
