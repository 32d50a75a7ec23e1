'use strict';

const crypto = require('crypto');
const { Pool, types } = require('pg');

// bigint (int8): ids and totals of this service stay far below 2^53.
types.setTypeParser(20, (v) => Number(v));
// timestamptz: the session runs in UTC, so the server's text is "YYYY-MM-DD HH:MM:SS[.ffffff]+00".
// Keep PostgreSQL's precision (a JS Date would cut microseconds) and render RFC 3339 UTC.
types.setTypeParser(1184, (v) => toRfc3339(v));

function toRfc3339(v) {
  const m = /^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d)(\.\d+)?\+00$/.exec(v);
  if (m) return `${m[1]}T${m[2]}${m[3] || ''}Z`;
  const d = new Date(v.replace(' ', 'T'));
  return Number.isNaN(d.getTime()) ? v : d.toISOString();
}

function createPool(databaseUrl, opts = {}) {
  const pool = new Pool({
    connectionString: databaseUrl,
    max: opts.max || 20,
    idleTimeoutMillis: 30000,
    connectionTimeoutMillis: opts.connectionTimeoutMillis || 5000,
    application_name: 'orders-service',
    options: `-c TimeZone=UTC -c statement_timeout=${opts.statementTimeoutMs || 0}`,
  });
  pool.on('error', (err) => {
    // An idle client lost its connection; the pool discards it.
    console.error(`pg pool: idle client error: ${err.message}`);
  });
  return pool;
}

/** A named (server-side prepared) statement; the name is derived from the SQL text. */
const nameCache = new Map();
function prepared(text, values) {
  let name = nameCache.get(text);
  if (!name) {
    name = 's_' + crypto.createHash('sha1').update(text).digest('hex').slice(0, 20);
    nameCache.set(text, name);
  }
  return { name, text, values };
}

/** Runs fn(client) inside a transaction; retries on serialization failures and deadlocks. */
async function withTransaction(pool, fn, { retries = 3 } = {}) {
  for (let attempt = 0; ; attempt++) {
    const client = await pool.connect();
    let broken = false;
    try {
      await client.query('BEGIN');
      const result = await fn(client);
      await client.query('COMMIT');
      return result;
    } catch (err) {
      try {
        await client.query('ROLLBACK');
      } catch (e) {
        broken = true;
      }
      if ((err.code === '40001' || err.code === '40P01') && attempt < retries) continue;
      throw err;
    } finally {
      client.release(broken);
    }
  }
}

module.exports = { createPool, prepared, withTransaction, toRfc3339 };
