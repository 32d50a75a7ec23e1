'use strict';

const http = require('http');
const { Client } = require('pg');
const { createPool } = require('./db');
const { migrate, loadCursorSecret } = require('./migrations');
const { CursorCodec } = require('./cursor');
const { createApp } = require('./app');
const { HttpError, send, sendProblem } = require('./http');

const PORT = Number(process.env.PORT || 8080);
const DATABASE_URL = process.env.DATABASE_URL || 'postgresql://app:app@127.0.0.1:5432/shop';
const POOL_MAX = Number(process.env.PG_POOL_MAX || 20);
const STATEMENT_TIMEOUT_MS = Number(process.env.STATEMENT_TIMEOUT_MS || 28000);
const SHUTDOWN_GRACE_MS = Number(process.env.SHUTDOWN_GRACE_MS || 10000);

const log = (msg) => console.log(`${new Date().toISOString()} ${msg}`);

const state = { ready: false, shuttingDown: false, handle: null, inflight: 0 };
let pool = null;

const server = http.createServer((req, res) => {
  state.inflight++;
  res.on('close', () => { state.inflight--; });
  res.ctx = state;
  const qs = req.url.indexOf('?');
  const path = qs === -1 ? req.url : req.url.slice(0, qs);
  const query = new URLSearchParams(qs === -1 ? '' : req.url.slice(qs + 1));

  if (path === '/healthz') {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      sendProblem(res, new HttpError(405, 'Method Not Allowed', null, { headers: { Allow: 'GET' } }));
    } else if (state.ready && !state.shuttingDown) {
      send(res, 200, { status: 'ok' });
    } else {
      send(res, 503, { status: state.shuttingDown ? 'shutting down' : 'starting' }, { 'Retry-After': '1' });
    }
    return;
  }
  if (!state.ready) {
    sendProblem(res, new HttpError(503, 'Service Unavailable', 'the service is starting', { headers: { 'Retry-After': '1' } }), path);
    return;
  }
  state.handle(req, res, path, query).catch((err) => {
    if (!(err instanceof HttpError)) {
      console.error(`${req.method} ${path}: ${err.stack || err}`);
      err = err.code === '57014'
        ? new HttpError(503, 'Service Unavailable', 'the database took too long to answer')
        : new HttpError(500, 'Internal Server Error', 'unexpected error');
    }
    if (res.headersSent) {
      res.destroy();
      return;
    }
    sendProblem(res, err, path);
  });
});
server.keepAliveTimeout = 65000;

async function waitForDatabase(deadlineMs) {
  for (let attempt = 1; ; attempt++) {
    const client = new Client({ connectionString: DATABASE_URL, application_name: 'orders-service-migrate' });
    try {
      await client.connect();
      return client;
    } catch (err) {
      await client.end().catch(() => {});
      if (Date.now() > deadlineMs) throw err;
      if (attempt === 1 || attempt % 10 === 0) log(`database not reachable yet (${err.message}); retrying`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

async function start() {
  server.listen(PORT, '0.0.0.0', () => log(`listening on :${PORT}`));
  const client = await waitForDatabase(Date.now() + 120000);
  let secret;
  try {
    await migrate(client, log);
    secret = await loadCursorSecret(client);
  } finally {
    await client.end().catch(() => {});
  }
  pool = createPool(DATABASE_URL, { max: POOL_MAX, statementTimeoutMs: STATEMENT_TIMEOUT_MS });
  state.handle = createApp({ pool, cursors: new CursorCodec(secret) });
  state.ready = true;
  log('migrations done; ready');
}

async function shutdown(signal) {
  if (state.shuttingDown) return;
  state.shuttingDown = true;
  log(`${signal}: draining (${state.inflight} request(s) in flight)`);
  const force = setTimeout(() => {
    log('grace period over; exiting');
    process.exit(0);
  }, SHUTDOWN_GRACE_MS);
  force.unref();
  server.close(async () => {
    try {
      if (pool) await pool.end();
    } catch (err) {
      console.error(`closing pool: ${err.message}`);
    }
    log('stopped');
    process.exit(0);
  });
  // Keep-alive connections with no request in flight would hold close() open.
  server.closeIdleConnections();
  const sweep = setInterval(() => server.closeIdleConnections(), 200);
  sweep.unref();
}

process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));
process.on('unhandledRejection', (err) => console.error(`unhandled rejection: ${err && err.stack ? err.stack : err}`));

start().catch((err) => {
  console.error(`startup failed: ${err.stack || err}`);
  process.exit(1);
});
