'use strict';

const crypto = require('crypto');
const { prepared, withTransaction } = require('./db');
const { HttpError, badRequest, notFound, conflict, unprocessable, send, readJson } = require('./http');
const v = require('./validation');

const PRODUCT_COLUMNS = 'id, sku, name, category, price_cents, stock, version';

const SORTS = {
  id: { order: 'id ASC', keyset: (p) => `id > ${p.id}` },
  price: { order: 'price_cents ASC, id ASC', keyset: (p) => `(price_cents, id) > (${p.price}, ${p.id})` },
  '-price': { order: 'price_cents DESC, id DESC', keyset: (p) => `(price_cents, id) < (${p.price}, ${p.id})` },
};

const etag = (version) => `"${version}"`;

function productJson(r) {
  return {
    id: r.id, sku: r.sku, name: r.name, category: r.category,
    price_cents: r.price_cents, stock: r.stock, version: r.version,
  };
}

function escapeLike(s) {
  return s.replace(/[\\%_]/g, (c) => '\\' + c);
}

function digest(value) {
  return crypto.createHash('sha256').update(JSON.stringify(value)).digest('base64url').slice(0, 16);
}

function createApp({ pool, cursors }) {
  // ---------------------------------------------------------------- products
  async function listProducts(req, res, query) {
    const sort = query.has('sort') ? query.get('sort') : 'id';
    const spec = Object.prototype.hasOwnProperty.call(SORTS, sort) ? SORTS[sort] : null;
    if (!spec) throw badRequest('sort must be one of: id, price, -price');

    const limit = v.parseLimit(query.get('limit'), 20, 1, 100);
    if (Number.isNaN(limit)) throw badRequest('limit must be an integer from 1 to 100');

    const prices = {};
    for (const name of ['min_price', 'max_price']) {
      if (!query.has(name)) continue;
      const parsed = v.parsePriceFilter(query.get(name));
      if (parsed === null) throw badRequest(`${name} must be an integer (cents)`);
      prices[name] = parsed;
    }
    const category = query.has('category') ? query.get('category') : null;
    const q = query.has('q') ? query.get('q') : null;

    const filterDigest = digest([category, prices.min_price ?? null, prices.max_price ?? null, q || null]);
    let after = null;
    const rawAfter = query.get('after');
    if (rawAfter !== null && rawAfter !== '') {
      const c = cursors.decode(rawAfter);
      const valid = c && c.s === sort && c.f === filterDigest && Number.isSafeInteger(c.id)
        && (sort === 'id' || Number.isSafeInteger(c.p));
      if (!valid) throw badRequest('after is not a cursor issued for this listing (same sort and filters)');
      after = c;
    }

    // PostgreSQL text cannot contain NUL: no product matches such a filter.
    if ((category !== null && category.includes('\u0000')) || (q !== null && q.includes('\u0000'))) {
      send(res, 200, { items: [], next: null });
      return;
    }

    const values = [];
    const param = (x) => { values.push(x); return `$${values.length}`; };
    const conds = [];
    if (category !== null) conds.push(`category = ${param(category)}`);
    if (prices.min_price !== undefined) conds.push(`price_cents >= ${param(prices.min_price)}::bigint`);
    if (prices.max_price !== undefined) conds.push(`price_cents <= ${param(prices.max_price)}::bigint`);
    if (q) conds.push(`name ILIKE ${param('%' + escapeLike(q) + '%')}`);
    if (after) {
      conds.push(spec.keyset({ id: param(after.id), price: sort === 'id' ? null : param(after.p) }));
    }
    const sql = `SELECT ${PRODUCT_COLUMNS} FROM products`
      + (conds.length ? ` WHERE ${conds.join(' AND ')}` : '')
      + ` ORDER BY ${spec.order} LIMIT ${param(limit + 1)}`;
    const { rows } = await pool.query(prepared(sql, values));

    const page = rows.slice(0, limit);
    let next = null;
    if (rows.length > limit) {
      const last = page[page.length - 1];
      const payload = { s: sort, f: filterDigest, id: last.id };
      if (sort !== 'id') payload.p = last.price_cents;
      next = cursors.encode(payload);
    }
    send(res, 200, { items: page.map(productJson), next });
  }

  async function getProduct(req, res, id) {
    const { rows } = await pool.query(prepared(`SELECT ${PRODUCT_COLUMNS} FROM products WHERE id = $1`, [id]));
    if (!rows.length) throw notFound(`product ${id} does not exist`);
    send(res, 200, productJson(rows[0]), { ETag: etag(rows[0].version) });
  }

  async function createProduct(req, res) {
    const body = await readJson(req);
    if (!v.isPlainObject(body)) throw badRequest('body must be a JSON object');
    const errors = {};
    for (const f of ['sku', 'name', 'category']) {
      if (!v.isText(body[f])) errors[f] = 'required: a non-empty string (at most 1000 characters)';
    }
    for (const f of ['price_cents', 'stock']) {
      if (!v.isInt(body[f]) || body[f] < 0 || body[f] > v.INT4_MAX) errors[f] = `required: an integer from 0 to ${v.INT4_MAX}`;
    }
    if (Object.keys(errors).length) throw badRequest('invalid product', { errors });

    let rows;
    try {
      ({ rows } = await pool.query(prepared(
        `INSERT INTO products (sku, name, category, price_cents, stock) VALUES ($1, $2, $3, $4, $5)
         RETURNING ${PRODUCT_COLUMNS}`,
        [body.sku, body.name, body.category, body.price_cents, body.stock],
      )));
    } catch (err) {
      if (err.code === '23505' && err.constraint === 'products_sku_key') {
        throw conflict(`a product with sku ${JSON.stringify(body.sku)} already exists`);
      }
      if (err.code === '23514' || err.code === '22P02' || err.code === '22003') throw badRequest('invalid product');
      throw err;
    }
    const p = rows[0];
    send(res, 201, productJson(p), { ETag: etag(p.version), Location: `/products/${p.id}` });
  }

  async function patchProduct(req, res, id) {
    const body = await readJson(req);
    if (!v.isPlainObject(body)) throw badRequest('body must be a JSON object');
    if (!v.isInt(body.price_cents) || body.price_cents < 0 || body.price_cents > v.INT4_MAX) {
      throw badRequest(`price_cents is required: an integer from 0 to ${v.INT4_MAX}`);
    }
    const header = req.headers['if-match'];
    if (header === undefined) {
      const { rows } = await pool.query(prepared('SELECT version FROM products WHERE id = $1', [id]));
      if (!rows.length) throw notFound(`product ${id} does not exist`);
      throw new HttpError(428, 'Precondition Required', 'send If-Match with the product\'s ETag');
    }
    const ifMatch = v.parseIfMatch(header);
    let result;
    if (ifMatch.any) {
      result = await pool.query(prepared(
        `UPDATE products SET price_cents = $2, version = version + 1 WHERE id = $1 RETURNING ${PRODUCT_COLUMNS}`,
        [id, body.price_cents],
      ));
    } else {
      result = await pool.query(prepared(
        `UPDATE products SET price_cents = $2, version = version + 1
         WHERE id = $1 AND version = ANY($3::int[]) RETURNING ${PRODUCT_COLUMNS}`,
        [id, body.price_cents, ifMatch.versions],
      ));
    }
    if (result.rows.length) {
      const p = result.rows[0];
      send(res, 200, productJson(p), { ETag: etag(p.version) });
      return;
    }
    const { rows } = await pool.query(prepared('SELECT version FROM products WHERE id = $1', [id]));
    if (!rows.length) throw notFound(`product ${id} does not exist`);
    throw new HttpError(412, 'Precondition Failed', `If-Match does not match the current version ${rows[0].version}`, {
      headers: { ETag: etag(rows[0].version) },
    });
  }

  // ------------------------------------------------------------------ orders
  function validateOrder(body) {
    if (!v.isPlainObject(body)) throw badRequest('body must be a JSON object');
    if (!v.isInt(body.customer_id)) throw badRequest('customer_id is required: an integer');
    const items = body.items;
    if (!Array.isArray(items) || items.length < 1 || items.length > 50) {
      throw badRequest('items is required: an array of 1 to 50 items');
    }
    const seen = new Set();
    const normalized = items.map((it, i) => {
      if (!v.isPlainObject(it)) throw badRequest(`items[${i}] must be an object`);
      if (!v.isInt(it.product_id)) throw badRequest(`items[${i}].product_id is required: an integer`);
      if (!v.isInt(it.quantity) || it.quantity < 1 || it.quantity > v.INT4_MAX) {
        throw badRequest(`items[${i}].quantity is required: an integer from 1 to ${v.INT4_MAX}`);
      }
      if (seen.has(it.product_id)) throw badRequest(`items[${i}]: product ${it.product_id} appears more than once`);
      seen.add(it.product_id);
      return { product_id: it.product_id, quantity: it.quantity };
    });
    normalized.sort((a, b) => a.product_id - b.product_id);
    return { customer_id: body.customer_id, items: normalized };
  }

  const isId = (n) => Number.isSafeInteger(n) && n >= 1;

  async function createOrder(req, res) {
    let key = req.headers['idempotency-key'];
    if (key !== undefined) {
      key = String(key);
      if (key.length < 1 || key.length > 255 || key.includes('\u0000')) {
        throw badRequest('Idempotency-Key must hold 1 to 255 characters');
      }
    }
    const order = validateOrder(await readJson(req));
    const requestHash = digest([order.customer_id, order.items.map((i) => [i.product_id, i.quantity])]);

    const outcome = await withTransaction(pool, async (client) => {
      if (key !== undefined) {
        const ins = await client.query(prepared(
          `INSERT INTO idempotency_keys (key, request_hash) VALUES ($1, $2)
           ON CONFLICT (key) DO NOTHING RETURNING key`, [key, requestHash],
        ));
        if (!ins.rows.length) {
          // The key's first request has committed (an in-flight one is waited for by the insert).
          const { rows } = await client.query(prepared(
            'SELECT request_hash, status_code, response FROM idempotency_keys WHERE key = $1', [key],
          ));
          const stored = rows[0];
          if (!stored || stored.response === null) {
            const e = new Error('idempotency key in an unexpected state');
            e.code = '40001';
            throw e;
          }
          if (stored.request_hash !== requestHash) {
            throw unprocessable('this Idempotency-Key was already used for a different request');
          }
          return { replay: true, status: stored.status_code, body: stored.response };
        }
      }

      const customerOk = isId(order.customer_id) && (await client.query(prepared(
        'SELECT 1 FROM customers WHERE id = $1', [order.customer_id],
      ))).rows.length === 1;
      if (!customerOk) throw unprocessable(`customer ${order.customer_id} does not exist`);

      const ids = order.items.map((i) => i.product_id);
      const validIds = ids.filter(isId);
      // Lock the products in id order (no deadlocks between concurrent orders).
      const { rows: products } = validIds.length ? await client.query(prepared(
        'SELECT id, price_cents, stock FROM products WHERE id = ANY($1::bigint[]) ORDER BY id FOR UPDATE', [validIds],
      )) : { rows: [] };
      const byId = new Map(products.map((p) => [p.id, p]));
      const unknown = ids.filter((id) => !byId.has(id));
      if (unknown.length) {
        throw unprocessable(`unknown product(s): ${unknown.join(', ')}`, { unknown_product_ids: unknown });
      }
      const short = order.items.filter((i) => byId.get(i.product_id).stock < i.quantity);
      if (short.length) {
        throw conflict('insufficient stock', {
          insufficient: short.map((i) => ({
            product_id: i.product_id, requested: i.quantity, available: byId.get(i.product_id).stock,
          })),
        });
      }

      const quantities = order.items.map((i) => i.quantity);
      const prices = order.items.map((i) => byId.get(i.product_id).price_cents);
      let total = 0n;
      order.items.forEach((it, n) => { total += BigInt(it.quantity) * BigInt(prices[n]); });

      await client.query(prepared(
        `UPDATE products p SET stock = p.stock - v.qty
         FROM unnest($1::bigint[], $2::int[]) AS v(id, qty) WHERE p.id = v.id`, [ids, quantities],
      ));
      const { rows: [created] } = await client.query(prepared(
        'INSERT INTO orders (customer_id, total_cents) VALUES ($1, $2) RETURNING id, created_at',
        [order.customer_id, total.toString()],
      ));
      await client.query(prepared(
        `INSERT INTO order_items (order_id, product_id, quantity, unit_price_cents)
         SELECT $1, v.pid, v.qty, v.price FROM unnest($2::bigint[], $3::int[], $4::int[]) AS v(pid, qty, price)`,
        [created.id, ids, quantities, prices],
      ));
      const body = JSON.stringify({
        id: created.id,
        customer_id: order.customer_id,
        created_at: created.created_at,
        total_cents: Number(total),
        items: order.items.map((it, n) => ({ product_id: it.product_id, quantity: it.quantity, unit_price_cents: prices[n] })),
      });
      if (key !== undefined) {
        await client.query(prepared(
          'UPDATE idempotency_keys SET order_id = $2, status_code = 201, response = $3 WHERE key = $1',
          [key, created.id, body],
        ));
      }
      return { replay: false, status: 201, body, id: created.id };
    });

    const headers = {};
    if (key !== undefined) headers['Idempotent-Replayed'] = String(outcome.replay);
    send(res, outcome.status, outcome.body, headers);
  }

  function groupOrders(rows, customerId) {
    const orders = [];
    let current = null;
    for (const r of rows) {
      if (r.id === null) continue;
      if (!current || current.id !== r.id) {
        current = { id: r.id, customer_id: customerId ?? r.customer_id, created_at: r.created_at, total_cents: r.total_cents, items: [] };
        orders.push(current);
      }
      if (r.product_id !== null) {
        current.items.push({ product_id: r.product_id, quantity: r.quantity, unit_price_cents: r.unit_price_cents });
      }
    }
    return orders;
  }

  async function getOrder(req, res, id) {
    const { rows } = await pool.query(prepared(
      `SELECT o.id, o.customer_id, o.created_at, o.total_cents, i.product_id, i.quantity, i.unit_price_cents
       FROM orders o LEFT JOIN order_items i ON i.order_id = o.id
       WHERE o.id = $1 ORDER BY i.product_id`, [id],
    ));
    if (!rows.length) throw notFound(`order ${id} does not exist`);
    send(res, 200, groupOrders(rows)[0]);
  }

  async function customerOrders(req, res, customerId, query) {
    const limit = v.parseLimit(query.get('limit'), 20, 1, 100);
    if (Number.isNaN(limit)) throw badRequest('limit must be an integer from 1 to 100');
    // One statement: the customer (404 when absent), its newest orders and their items. The
    // constant customer_id (not a lateral reference) lets the planner see a heavy customer in the
    // statistics and walk the (customer_id, created_at, id) index, stopping after `limit` orders.
    const { rows } = await pool.query(prepared(
      `SELECT o.id, o.created_at, o.total_cents, i.product_id, i.quantity, i.unit_price_cents
       FROM customers c
       LEFT JOIN (
         SELECT id, created_at, total_cents FROM orders
         WHERE customer_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2
       ) o ON true
       LEFT JOIN order_items i ON i.order_id = o.id
       WHERE c.id = $1
       ORDER BY o.created_at DESC, o.id DESC, i.product_id ASC`, [customerId, limit],
    ));
    if (!rows.length) throw notFound(`customer ${customerId} does not exist`);
    send(res, 200, { orders: groupOrders(rows, customerId) });
  }

  // ----------------------------------------------------------------- reports
  async function topProducts(req, res, query) {
    const from = v.parseTimestamp(query.get('from'));
    const to = v.parseTimestamp(query.get('to'));
    if (!from || !to) throw badRequest('from and to are required: RFC 3339 date-times, e.g. 2025-03-01T12:00:00Z');
    if (to.micros < from.micros) throw badRequest('to must not be before from');
    const limit = v.parseLimit(query.get('limit'), 10, 1, 100);
    if (Number.isNaN(limit)) throw badRequest('limit must be an integer from 1 to 100');
    const { rows } = await pool.query(prepared(
      `WITH top AS (
         SELECT i.product_id,
                sum(i.quantity)::bigint AS units,
                sum(i.quantity::bigint * i.unit_price_cents)::bigint AS revenue_cents
         FROM orders o JOIN order_items i ON i.order_id = o.id
         WHERE o.created_at >= $1::timestamptz AND o.created_at < $2::timestamptz
         GROUP BY i.product_id
         ORDER BY revenue_cents DESC, i.product_id ASC
         LIMIT $3
       )
       SELECT t.product_id, p.name, t.units, t.revenue_cents
       FROM top t JOIN products p ON p.id = t.product_id
       ORDER BY t.revenue_cents DESC, t.product_id ASC`, [from.text, to.text, limit],
    ));
    send(res, 200, {
      items: rows.map((r) => ({ product_id: r.product_id, name: r.name, units: r.units, revenue_cents: r.revenue_cents })),
    });
  }

  // ----------------------------------------------------------------- routing
  const routes = [
    { re: /^\/products$/, methods: { GET: (req, res, m, q) => listProducts(req, res, q), POST: (req, res) => createProduct(req, res) } },
    { re: /^\/products\/([^/]+)$/, id: true, methods: { GET: (req, res, id) => getProduct(req, res, id), PATCH: (req, res, id) => patchProduct(req, res, id) } },
    { re: /^\/orders$/, methods: { POST: (req, res) => createOrder(req, res) } },
    { re: /^\/orders\/([^/]+)$/, id: true, methods: { GET: (req, res, id) => getOrder(req, res, id) } },
    { re: /^\/customers\/([^/]+)\/orders$/, id: true, methods: { GET: (req, res, id, q) => customerOrders(req, res, id, q) } },
    { re: /^\/reports\/top-products$/, methods: { GET: (req, res, m, q) => topProducts(req, res, q) } },
  ];

  return async function handle(req, res, path, query) {
    for (const route of routes) {
      const m = route.re.exec(path);
      if (!m) continue;
      const method = req.method === 'HEAD' ? 'GET' : req.method;
      const handler = route.methods[method];
      if (!handler) {
        throw new HttpError(405, 'Method Not Allowed', `${req.method} is not allowed here`, {
          headers: { Allow: Object.keys(route.methods).join(', ') },
        });
      }
      let id = null;
      if (route.id) {
        id = v.parsePathId(m[1]);
        if (id === null) throw notFound(`no resource at ${path}`);
      }
      await handler(req, res, id, query);
      return;
    }
    throw notFound(`no resource at ${path}`);
  };
}

module.exports = { createApp };
