"""Flaw: a migration that is not idempotent in effect: it drops and recreates its own table
(DROP TABLE IF EXISTS + CREATE), so every start forgets the Idempotency-Keys it held."""

import app

app.MIGRATIONS.insert(len(app.MIGRATIONS) - 1, "DROP TABLE IF EXISTS idempotency_keys")

if __name__ == "__main__":
    app.main()
