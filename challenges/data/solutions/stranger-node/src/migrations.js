'use strict';

const crypto = require('crypto');

const LOCK_KEY = 7302841; // advisory lock: one migrator at a time

/**
 * Versioned migrations, applied once each (recorded in schema_migrations) and written to be
 * idempotent on their own as well. `optional` ones may fail (e.g. an extension the server does
 * not ship): they are skipped and retried at the next start.
 */
const MIGRATIONS = [
  {
    version: 1,
    name: 'service tables',
    sql: [
      `CREATE TABLE IF NOT EXISTS idempotency_keys (
         key          text PRIMARY KEY,
         request_hash text NOT NULL,
         order_id     bigint REFERENCES orders (id),
         status_code  integer,
         response     text,
         created_at   timestamptz NOT NULL DEFAULT now()
       )`,
      `CREATE TABLE IF NOT EXISTS app_settings (
         name  text PRIMARY KEY,
         value text NOT NULL
       )`,
    ],
  },
  {
    version: 2,
    name: 'indexes for product listing, order history and reports',
    sql: [
      // GET /products: by category (id or price order), by price without a category.
      'CREATE INDEX IF NOT EXISTS products_category_id_idx ON products (category, id)',
      'CREATE INDEX IF NOT EXISTS products_category_price_id_idx ON products (category, price_cents, id)',
      'CREATE INDEX IF NOT EXISTS products_price_id_idx ON products (price_cents, id)',
      // GET /customers/{id}/orders: newest first.
      'CREATE INDEX IF NOT EXISTS orders_customer_created_id_idx ON orders (customer_id, created_at DESC, id DESC)',
      // Reports: orders in a time range.
      'CREATE INDEX IF NOT EXISTS orders_created_at_idx ON orders (created_at)',
      // Items of an order (history, reports).
      'CREATE INDEX IF NOT EXISTS order_items_order_id_idx ON order_items (order_id)',
    ],
  },
];

const IDENTITY_TABLES = ['products', 'customers', 'orders', 'order_items'];

async function migrate(client, log = console.log) {
  await client.query('SET statement_timeout = 0');
  await client.query("SET maintenance_work_mem = '128MB'");
  await client.query('SELECT pg_advisory_lock($1)', [LOCK_KEY]);
  try {
    await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version    integer PRIMARY KEY,
      name       text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`);
    const { rows } = await client.query('SELECT version FROM schema_migrations');
    const applied = new Set(rows.map((r) => r.version));
    let changed = false;
    for (const m of MIGRATIONS) {
      if (applied.has(m.version)) continue;
      const started = Date.now();
      await client.query('BEGIN');
      try {
        for (const stmt of m.sql) await client.query(stmt);
        await client.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2) ON CONFLICT DO NOTHING', [m.version, m.name]);
        await client.query('COMMIT');
        changed = true;
        log(`migration ${m.version} (${m.name}) applied in ${Date.now() - started} ms`);
      } catch (err) {
        await client.query('ROLLBACK');
        if (!m.optional) throw err;
        log(`optional migration ${m.version} (${m.name}) skipped: ${err.message}`);
      }
    }
    if (changed) {
      const started = Date.now();
      await client.query('ANALYZE products, customers, orders, order_items');
      log(`analyze done in ${Date.now() - started} ms`);
    }
    await syncIdentitySequences(client, log);
    await ensureSecret(client);
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [LOCK_KEY]);
  }
}

/**
 * Rows loaded with explicit ids leave an identity sequence behind: move each one past the
 * largest id so that inserts do not collide with existing rows. Never moves one backwards.
 */
async function syncIdentitySequences(client, log) {
  for (const table of IDENTITY_TABLES) {
    const { rows } = await client.query('SELECT pg_get_serial_sequence($1, $2) AS seq', [table, 'id']);
    const seq = rows[0] && rows[0].seq;
    if (!seq) continue;
    const r = await client.query(
      `SELECT (SELECT max(id) FROM ${table}) AS max_id, last_value, is_called FROM ${seq}`,
    );
    const { max_id: maxId, last_value: last, is_called: called } = r.rows[0];
    if (maxId !== null && (Number(maxId) > Number(last) || (Number(maxId) === Number(last) && !called))) {
      await client.query('SELECT setval($1::regclass, $2, true)', [seq, maxId]);
      log(`sequence ${seq} moved to ${maxId}`);
    }
  }
}

async function ensureSecret(client) {
  await client.query(
    'INSERT INTO app_settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING',
    ['cursor_secret', crypto.randomBytes(32).toString('hex')],
  );
}

async function loadCursorSecret(client) {
  if (process.env.CURSOR_SECRET) return process.env.CURSOR_SECRET;
  const { rows } = await client.query("SELECT value FROM app_settings WHERE name = 'cursor_secret'");
  return rows[0].value;
}

module.exports = { migrate, loadCursorSecret, MIGRATIONS };
