'use strict';
// Caching layer in front of a slow product API.
// Node.js 18, standard library only.

const http = require('http');
const { performance } = require('perf_hooks');

// ---------------------------------------------------------------------------
// Configuration

function envSeconds(name, dflt) {
  const raw = process.env[name];
  if (raw === undefined || String(raw).trim() === '') return dflt;
  const v = Number(String(raw).trim());
  if (!Number.isFinite(v) || v < 0) {
    console.error(`invalid ${name}=${JSON.stringify(raw)}, using ${dflt}`);
    return dflt;
  }
  return v;
}

function envPositiveInt(name, dflt) {
  const raw = process.env[name];
  if (raw === undefined || String(raw).trim() === '') return dflt;
  const v = Math.floor(Number(String(raw).trim()));
  if (!Number.isFinite(v) || v < 1) {
    console.error(`invalid ${name}=${JSON.stringify(raw)}, using ${dflt}`);
    return dflt;
  }
  return v;
}

const PORT = envPositiveInt('PORT', 8080);
const UPSTREAM_URL = (process.env.UPSTREAM_URL || 'http://127.0.0.1:9090').replace(/\/+$/, '');
const CACHE_MAX_ENTRIES = envPositiveInt('CACHE_MAX_ENTRIES', 100);
const STALE_IF_ERROR_MS = envSeconds('STALE_IF_ERROR_S', 5) * 1000;
const NEGATIVE_TTL_MS = envSeconds('NEGATIVE_TTL_S', 2) * 1000;
const UPSTREAM_TIMEOUT_MS = 2000; // fixed by the brief

const upstream = new URL(UPSTREAM_URL);
if (upstream.protocol !== 'http:') {
  console.error(`UPSTREAM_URL must be http://, got ${UPSTREAM_URL}`);
  process.exit(1);
}
const UPSTREAM_HOST = upstream.hostname.replace(/^\[|\]$/g, '');
const UPSTREAM_PORT = Number(upstream.port) || 80;
const UPSTREAM_BASE_PATH = upstream.pathname.replace(/\/+$/, '');

// Keep-alive agent for the upstream. Idle sockets are closed after a while so
// that we (normally) do not reuse a socket the upstream is about to close.
const agent = new http.Agent({
  keepAlive: true,
  keepAliveMsecs: 1000,
  maxSockets: Infinity,
  maxFreeSockets: 256,
  timeout: 2000,
});

// Monotonic clock, sub-millisecond resolution.
const now = () => performance.now();

// ---------------------------------------------------------------------------
// Cache: a Map used as an LRU (iteration order = least recently used first).
//
// entry = { neg: false, body: Buffer, etag: string|null, expiry: ms }
//       | { neg: true,  body: Buffer, expiry: ms }

const cache = new Map();

function touch(key, entry) {
  // Move to most-recently-used position.
  cache.delete(key);
  cache.set(key, entry);
}

function store(key, entry) {
  if (cache.has(key)) {
    // Replacing an existing key evicts nothing.
    cache.delete(key);
  } else {
    while (cache.size >= CACHE_MAX_ENTRIES) {
      const lru = cache.keys().next().value;
      cache.delete(lru);
    }
  }
  cache.set(key, entry);
}

// In-flight upstream requests, one per key at most.
// flight = { invalidated: bool, waiters: [cb], late: [fn] }
const inflight = new Map();

// ---------------------------------------------------------------------------
// Responses

const PROBLEM_TITLES = {
  400: 'Bad Request', 404: 'Not Found', 405: 'Method Not Allowed',
  413: 'Content Too Large', 500: 'Internal Server Error',
  502: 'Bad Gateway', 504: 'Gateway Timeout',
};

function problemBody(status, detail) {
  return Buffer.from(JSON.stringify({
    type: 'about:blank',
    title: PROBLEM_TITLES[status] || http.STATUS_CODES[status] || 'Error',
    status,
    detail,
  }));
}

function sendProblem(res, status, detail, extraHeaders) {
  const body = problemBody(status, detail);
  const headers = Object.assign({
    'Content-Type': 'application/problem+json',
    'Content-Length': body.length,
  }, extraHeaders || {});
  res.writeHead(status, headers);
  res.end(body);
}

// outcome = { status, body, ctype, xcache, etag? }
function sendOutcome(res, o) {
  const headers = {
    'Content-Type': o.ctype,
    'Content-Length': o.body.length,
    'X-Cache': o.xcache,
  };
  if (o.etag) headers['ETag'] = o.etag;
  res.writeHead(o.status, headers);
  res.end(o.body);
}

function okOutcome(entry, xcache) {
  return { status: 200, body: entry.body, ctype: 'application/json', xcache, etag: entry.etag };
}

function negOutcome(entry, xcache) {
  return { status: 404, body: entry.body, ctype: 'application/problem+json', xcache };
}

// ---------------------------------------------------------------------------
// Upstream

function parseMaxAge(cc) {
  if (!cc) return 0;
  if (Array.isArray(cc)) cc = cc.join(',');
  const m = /(?:^|[,;\s])max-age\s*=\s*"?(\d+)"?\s*(?:$|[,;])/i.exec(cc);
  if (!m) return 0;
  const n = Number(m[1]);
  return Number.isFinite(n) ? n : 0;
}

// Calls cb(err, { status, headers, body }) exactly once. err.timeout is set
// when the 2 s deadline passed. The deadline covers connecting, retrying and
// reading the whole body.
function upstreamGet(key, etag, cb) {
  const deadline = now() + UPSTREAM_TIMEOUT_MS;
  let done = false;
  let req = null;
  const finish = (err, result) => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    cb(err, result);
  };
  const timer = setTimeout(() => {
    const err = new Error('upstream timed out after 2 s');
    err.timeout = true;
    finish(err);
    if (req) req.destroy();
  }, UPSTREAM_TIMEOUT_MS);

  const attempt = (retried) => {
    const headers = { Accept: 'application/json' };
    if (etag) headers['If-None-Match'] = etag;
    let gotResponse = false;
    req = http.request({
      agent,
      host: UPSTREAM_HOST,
      port: UPSTREAM_PORT,
      method: 'GET',
      path: `${UPSTREAM_BASE_PATH}/products/${key}`,
      headers,
    }, (res) => {
      gotResponse = true;
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        if (!res.complete) {
          finish(new Error('upstream response truncated'));
          return;
        }
        finish(null, { status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) });
      });
      res.on('aborted', () => finish(new Error('upstream response aborted')));
      res.on('error', (e) => finish(e));
    });
    req.on('error', (e) => {
      if (done) return;
      // A kept-alive socket the upstream closed while idle: the request never
      // reached it, so retrying once is safe.
      if (!retried && !gotResponse && req.reusedSocket &&
          (e.code === 'ECONNRESET' || e.code === 'EPIPE') && now() < deadline) {
        attempt(true);
        return;
      }
      finish(e);
    });
    req.end();
  };
  attempt(false);
}

// Runs one upstream fetch for `key`, updates the cache and calls
// done(outcome). Must only be called when no flight exists for `key`.
function fetchAndStore(key, flight, done) {
  const snapshot = cache.get(key);
  const prev = snapshot && !snapshot.neg ? snapshot : null;
  const condEtag = prev ? prev.etag : null;

  const fail = (status, detail) => {
    // Stale-if-error: a positive entry within expiry + STALE_IF_ERROR_S.
    const cur = flight.invalidated ? null : cache.get(key);
    if (cur && !cur.neg && now() <= cur.expiry + STALE_IF_ERROR_MS) {
      touch(key, cur);
      done(okOutcome(cur, 'STALE'));
      return;
    }
    done({ status, body: problemBody(status, detail), ctype: 'application/problem+json', xcache: 'MISS' });
  };

  upstreamGet(key, condEtag, (err, r) => {
    if (err) {
      if (err.timeout) fail(504, 'upstream did not answer within 2 s');
      else fail(502, `upstream request failed: ${err.code || err.message}`);
      return;
    }
    const t = now();
    if (r.status === 200) {
      const etag = r.headers.etag || null;
      const entry = { neg: false, body: r.body, etag, expiry: t + parseMaxAge(r.headers['cache-control']) * 1000 };
      if (!flight.invalidated) store(key, entry);
      done(okOutcome(entry, 'MISS'));
    } else if (r.status === 304 && prev) {
      const entry = {
        neg: false,
        body: prev.body,
        etag: r.headers.etag || prev.etag,
        expiry: t + parseMaxAge(r.headers['cache-control']) * 1000,
      };
      if (!flight.invalidated) store(key, entry);
      done(okOutcome(entry, 'REVALIDATED'));
    } else if (r.status === 404) {
      let body = r.body;
      try {
        const parsed = JSON.parse(body.toString('utf8'));
        if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error();
      } catch (_) {
        body = problemBody(404, `product ${key} does not exist`);
      }
      const entry = { neg: true, body, expiry: t + NEGATIVE_TTL_MS };
      if (!flight.invalidated) store(key, entry);
      done(negOutcome(entry, 'MISS'));
    } else {
      fail(502, `upstream answered ${r.status}`);
    }
  });
}

// Resolve a GET for `key`; cb(outcome).
function getProduct(key, cb) {
  const entry = cache.get(key);
  if (entry !== undefined && now() < entry.expiry) {
    touch(key, entry);
    cb(entry.neg ? negOutcome(entry, 'HIT') : okOutcome(entry, 'HIT'));
    return;
  }
  const existing = inflight.get(key);
  if (existing) {
    if (existing.invalidated) {
      // The product changed after that request was sent: wait for it to
      // finish (one request in flight per product), then ask again.
      existing.late.push(() => getProduct(key, cb));
    } else {
      existing.waiters.push(cb);
    }
    return;
  }
  const flight = { invalidated: false, waiters: [cb], late: [] };
  inflight.set(key, flight);
  fetchAndStore(key, flight, (outcome) => {
    inflight.delete(key);
    for (const w of flight.waiters) {
      try { w(outcome); } catch (e) { console.error(e); }
    }
    for (const l of flight.late) {
      try { l(); } catch (e) { console.error(e); }
    }
  });
}

function invalidate(key) {
  cache.delete(key);
  const f = inflight.get(key);
  if (f) f.invalidated = true;
}

// ---------------------------------------------------------------------------
// Events

function handleEvent(raw, res) {
  let ev;
  try {
    ev = JSON.parse(raw.toString('utf8'));
  } catch (_) {
    sendProblem(res, 400, 'body is not valid JSON');
    return;
  }
  if (ev === null || typeof ev !== 'object' || Array.isArray(ev)) {
    sendProblem(res, 400, 'body must be a JSON object');
    return;
  }
  if (typeof ev.type !== 'string') {
    sendProblem(res, 400, '"type" must be a string');
    return;
  }
  if (ev.type === 'product.updated') {
    const id = ev.id;
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 1) {
      sendProblem(res, 400, '"id" must be an integer >= 1');
      return;
    }
    invalidate(Number.isSafeInteger(id) ? String(id) : BigInt(id).toString());
  }
  res.writeHead(204);
  res.end();
}

const MAX_EVENT_BODY = 1 << 20;

// ---------------------------------------------------------------------------
// HTTP server

const PRODUCT_RE = /^\/products\/([0-9]+)$/;

const server = http.createServer((req, res) => {
  const url = req.url;
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);

  if (path.startsWith('/products/')) {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      sendProblem(res, 405, 'use GET', { Allow: 'GET, HEAD', 'X-Cache': 'MISS' });
      return;
    }
    const m = PRODUCT_RE.exec(path);
    let key = null;
    if (m) {
      const digits = m[1].replace(/^0+/, '');
      if (digits !== '') key = digits; // canonical decimal, value >= 1
    }
    if (key === null) {
      sendProblem(res, 404, 'product id must be a positive decimal integer', { 'X-Cache': 'MISS' });
      return;
    }
    getProduct(key, (outcome) => sendOutcome(res, outcome));
    return;
  }

  if (path === '/healthz') {
    const body = Buffer.from('{"status":"ok"}');
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': body.length });
    res.end(body);
    return;
  }

  if (path === '/events') {
    if (req.method !== 'POST') {
      sendProblem(res, 405, 'use POST', { Allow: 'POST' });
      return;
    }
    const chunks = [];
    let size = 0;
    let tooBig = false;
    req.on('data', (c) => {
      if (tooBig) return;
      size += c.length;
      if (size > MAX_EVENT_BODY) {
        tooBig = true;
        sendProblem(res, 413, 'event body too large', { Connection: 'close' });
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (!tooBig) handleEvent(Buffer.concat(chunks), res);
    });
    return;
  }

  sendProblem(res, 404, `no route for ${path}`);
});

server.keepAliveTimeout = 65000;
server.headersTimeout = 66000;
server.requestTimeout = 0;

server.listen(PORT, () => {
  console.log(`listening on :${PORT}, upstream ${UPSTREAM_URL}, ` +
    `max entries ${CACHE_MAX_ENTRIES}, stale-if-error ${STALE_IF_ERROR_MS / 1000}s, ` +
    `negative ttl ${NEGATIVE_TTL_MS / 1000}s`);
});

function shutdown() {
  server.close();
  agent.destroy();
  setTimeout(() => process.exit(0), 200).unref();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
