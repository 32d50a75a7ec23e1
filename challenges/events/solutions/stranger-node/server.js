'use strict';

// Transfers processor: consumes `transfers` from RabbitMQ, applies each transfer to the
// ledger exactly once (the ledger deduplicates by Idempotency-Key = transfer id), publishes
// an outcome event on `transfers.events`, and only then acknowledges the message.

const http = require('http');
const https = require('https');
const { TextDecoder } = require('util');
const amqp = require('amqplib');

// ---------------------------------------------------------------------------------------
// Configuration

function intEnv(name, dflt, min) {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return dflt;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) {
    log('warn', 'bad_env', { name, value: raw, using: dflt });
    return dflt;
  }
  return n;
}

const PORT = intEnv('PORT', 8080, 1);
const AMQP_URL = process.env.AMQP_URL || 'amqp://guest:guest@127.0.0.1:5672/';
const LEDGER_URL = (process.env.LEDGER_URL || 'http://127.0.0.1:9090').replace(/\/+$/, '');
const MAX_IN_FLIGHT = intEnv('MAX_IN_FLIGHT', 20, 1);
const MAX_ATTEMPTS = intEnv('MAX_ATTEMPTS', 3, 1);

const QUEUE = 'transfers';
const EXCHANGE = 'transfers.events';

const LEDGER_TIMEOUT_MS = 4500;      // brief: every call times out within 5 s
const RETRY_BASE_MS = 100;           // brief: backoff from about 100 ms ...
const RETRY_MAX_MS = 1600;           // ... up to 1-2 s (jitter adds at most 25%: <= 2 s)
const RECONNECT_BASE_MS = 250;
const RECONNECT_MAX_MS = 3000;       // brief: at most a few seconds between tries
const CONNECT_TIMEOUT_MS = 8000;
const HEARTBEAT_S = 5;
const SHUTDOWN_HARD_MS = 9000;       // brief: exit 0 within 10 s of SIGTERM
const MAX_ID_LEN = 64;

// ---------------------------------------------------------------------------------------
// Logging

function log(level, event, fields) {
  const line = Object.assign({ ts: new Date().toISOString(), level, event }, fields || {});
  try {
    process.stdout.write(JSON.stringify(line) + '\n');
  } catch (_) { /* ignore */ }
}

function errText(err) {
  if (!err) return String(err);
  return err.code ? `${err.code}: ${err.message}` : (err.message || String(err));
}

// ---------------------------------------------------------------------------------------
// Stats

const stats = { consumed: 0, applied: 0, rejected: 0, dead_lettered: 0 };

// ---------------------------------------------------------------------------------------
// Validation

const utf8 = new TextDecoder('utf-8', { fatal: true });

function codePoints(s) {
  let n = 0;
  for (const _ of s) n++; // eslint-disable-line no-unused-vars
  return n;
}

function validName(s) {
  return typeof s === 'string' && s.length > 0 && codePoints(s) <= MAX_ID_LEN;
}

// Number literals written with a fraction or an exponent ("250.0", "2.5e2") are not
// integers as written, even if their value is integral: replace them with an object so the
// second parse shows which fields held one. Only used on text that already parsed as JSON,
// so the tokenisation (strings first, left to right) is exact.
const JSON_TOKEN = /"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/g;
function amountLexemeIsInteger(text) {
  const marked = text.replace(JSON_TOKEN, (tok) =>
    (tok[0] !== '"' && /[.eE]/.test(tok)) ? '{"__not_integer__":true}' : tok);
  try {
    const v = JSON.parse(marked);
    return typeof v.amount === 'number';
  } catch (_) {
    return false;
  }
}

// Returns {id, from, to, amount} for a valid transfer, or null for a poison message.
function parseTransfer(content) {
  let text;
  try {
    text = utf8.decode(content);
  } catch (_) {
    return null; // not UTF-8, cannot be JSON
  }
  let v;
  try {
    v = JSON.parse(text);
  } catch (_) {
    return null;
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return null;
  if (!validName(v.id) || !validName(v.from) || !validName(v.to)) return null;
  if (v.from === v.to) return null;
  if (typeof v.amount !== 'number' || !Number.isSafeInteger(v.amount) || v.amount <= 0) return null;
  if (!amountLexemeIsInteger(text)) return null;
  return { id: v.id, from: v.from, to: v.to, amount: v.amount };
}

// ---------------------------------------------------------------------------------------
// Interruptible sleeps (woken on shutdown or when the channel a task belongs to dies)

const sleepers = new Set();

function sleep(ms) {
  if (shuttingDown) return Promise.resolve();
  return new Promise((resolve) => {
    const entry = { resolve: null, timer: null };
    entry.resolve = () => {
      clearTimeout(entry.timer);
      sleepers.delete(entry);
      resolve();
    };
    entry.timer = setTimeout(entry.resolve, ms);
    sleepers.add(entry);
  });
}

function wakeSleepers() {
  for (const s of Array.from(sleepers)) s.resolve();
}

// ---------------------------------------------------------------------------------------
// Per-account ordering.
//
// Transfers are chained in delivery order: a transfer waits until every earlier transfer
// sharing one of its accounts has had its ledger answer (or was abandoned). Dependencies
// always point at earlier deliveries, so there can be no cycle. Transfers on disjoint
// accounts run concurrently.

const accountTails = new Map(); // account -> Promise resolved when the latest holder is done

function acquireAccounts(accounts) {
  let release;
  const done = new Promise((resolve) => { release = resolve; });
  const waits = [];
  for (const acc of accounts) {
    const tail = accountTails.get(acc);
    if (tail) waits.push(tail);
    accountTails.set(acc, done);
  }
  let released = false;
  const releaseFn = () => {
    if (released) return;
    released = true;
    for (const acc of accounts) {
      if (accountTails.get(acc) === done) accountTails.delete(acc);
    }
    release();
  };
  return { ready: Promise.all(waits), release: releaseFn };
}

// ---------------------------------------------------------------------------------------
// Ledger client

const ledgerBase = new URL(LEDGER_URL);
const ledgerLib = ledgerBase.protocol === 'https:' ? https : http;
const ledgerAgent = new ledgerLib.Agent({ keepAlive: true, maxSockets: Infinity, keepAliveMsecs: 1000 });
const postingsUrl = new URL(ledgerBase.pathname.replace(/\/+$/, '') + '/postings', ledgerBase);

// The Idempotency-Key is the transfer id itself. HTTP header values are bytes: an id of
// printable ASCII (the normal case) is sent as is; other characters are sent as their UTF-8
// bytes. Only an id that cannot travel in a header at all (control characters, or leading
// or trailing blanks that HTTP would strip) is percent-encoded: still one deterministic key
// per id, so the ledger's deduplication holds.
function idempotencyKey(id) {
  if (/^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$/.test(id)) return id;
  if (/[\x00-\x1f\x7f]/.test(id) || /^\s|\s$/.test(id)) return encodeURIComponent(id);
  return Buffer.from(id, 'utf8').toString('latin1');
}

// Resolves {status, body} for any HTTP answer; rejects on connection error or timeout.
function postPosting(t) {
  const payload = Buffer.from(JSON.stringify({
    transfer_id: t.id, from: t.from, to: t.to, amount: t.amount,
  }));
  return new Promise((resolve, reject) => {
    let finished = false;
    const finish = (fn, arg) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      fn(arg);
    };
    const req = ledgerLib.request(postingsUrl, {
      method: 'POST',
      agent: ledgerAgent,
      headers: {
        'Idempotency-Key': idempotencyKey(t.id),
        'Content-Type': 'application/json',
        'Content-Length': payload.length,
        Accept: 'application/json',
      },
    }, (res) => {
      const chunks = [];
      let size = 0;
      res.on('data', (c) => {
        size += c.length;
        if (size <= 1 << 20) chunks.push(c);
      });
      res.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        let body = null;
        try { body = raw ? JSON.parse(raw) : null; } catch (_) { body = null; }
        finish(resolve, { status: res.statusCode, body });
      });
      res.on('error', (err) => finish(reject, err));
      res.on('aborted', () => finish(reject, new Error('response aborted')));
    });
    const timer = setTimeout(() => {
      const err = new Error(`no answer within ${LEDGER_TIMEOUT_MS} ms`);
      err.code = 'LEDGER_TIMEOUT';
      req.destroy(err);
      finish(reject, err);
    }, LEDGER_TIMEOUT_MS);
    req.on('error', (err) => finish(reject, err));
    req.end(payload);
  });
}

// Backoff state per transfer id, kept across redeliveries of the same transfer so that a
// redelivered copy does not restart the backoff (at most 15 attempts per 5 s per transfer).
const backoffState = new Map(); // id -> {failures, nextAt, touched}

function pruneBackoff() {
  if (backoffState.size < 1000) return;
  const cutoff = Date.now() - 60000;
  for (const [id, st] of backoffState) if (st.touched < cutoff) backoffState.delete(id);
}

function backoffDelay(failures) {
  const base = Math.min(RETRY_BASE_MS * 2 ** Math.max(0, failures - 1), RETRY_MAX_MS);
  return Math.round(base * (1 + Math.random() * 0.25)); // never faster than the base
}

// Calls the ledger until it gives a definitive answer. Returns
//   {kind: 'completed', posting_id} | {kind: 'rejected'} | {kind: 'conflict', status}
// or null when the task must be abandoned (its channel died, or we are shutting down).
async function applyToLedger(t, task) {
  for (;;) {
    if (!taskMayProceed(task)) return null;
    const st = backoffState.get(t.id);
    if (st) {
      const wait = st.nextAt - Date.now();
      if (wait > 0) await sleep(wait);
      if (!taskMayProceed(task)) return null;
    }

    let outcome = null;
    let failure;
    try {
      const res = await postPosting(t);
      if (res.status === 200 || res.status === 201) {
        const pid = res.body && res.body.posting_id;
        if (pid !== undefined && pid !== null) {
          outcome = { kind: 'completed', posting_id: pid, replayed: res.status === 200 };
        } else {
          failure = `ledger ${res.status} without posting_id`;
        }
      } else if (res.status === 422) {
        outcome = { kind: 'rejected' };
      } else if (res.status === 400 || res.status === 409) {
        outcome = { kind: 'conflict', status: res.status, body: res.body };
      } else {
        failure = `ledger answered ${res.status}`;
      }
    } catch (err) {
      failure = errText(err);
    }

    if (outcome) {
      backoffState.delete(t.id);
      return outcome;
    }
    const prev = backoffState.get(t.id);
    const failures = (prev ? prev.failures : 0) + 1;
    const delay = backoffDelay(failures);
    const now = Date.now();
    backoffState.set(t.id, { failures, nextAt: now + delay, touched: now });
    pruneBackoff();
    log('warn', 'ledger_retry', { id: t.id, attempt: failures, error: failure, retry_in_ms: delay });
  }
}

// ---------------------------------------------------------------------------------------
// AMQP session management

let session = null;        // the live {conn, ch, alive, unacked, consumerTag}
let shuttingDown = false;
let connecting = false;
let reconnectTimer = null;
let reconnectFailures = 0;
const running = new Set(); // promises of transfer tasks still working (incl. stale sessions)

function inFlight() {
  return session && session.alive ? session.unacked.size : 0;
}

function taskMayProceed(task) {
  return task.session.alive && !shuttingDown && !task.settled;
}

function settle(task, how) {
  const s = task.session;
  if (task.settled || !s.alive) return false;
  task.settled = true;
  s.unacked.delete(task);
  try {
    if (how === 'ack') s.ch.ack(task.msg);
    else if (how === 'dead-letter') s.ch.nack(task.msg, false, false);
    else s.ch.nack(task.msg, false, true);
    return true;
  } catch (err) {
    log('warn', 'settle_failed', { how, error: errText(err) });
    return false;
  }
}

function publishEvent(s, routingKey, event) {
  return new Promise((resolve, reject) => {
    try {
      s.ch.publish(EXCHANGE, routingKey, Buffer.from(JSON.stringify(event)), {
        persistent: true,
        deliveryMode: 2,
        contentType: 'application/json',
        messageId: event.id,
      }, (err) => (err ? reject(err) : resolve()));
    } catch (err) {
      reject(err);
    }
  });
}

function eventFor(t, outcome) {
  if (outcome.kind === 'completed') {
    return ['transfer.completed', {
      id: t.id, status: 'completed', from: t.from, to: t.to, amount: t.amount,
      posting_id: outcome.posting_id,
    }];
  }
  return ['transfer.rejected', {
    id: t.id, status: 'rejected', from: t.from, to: t.to, amount: t.amount,
    reason: 'insufficient_funds',
  }];
}

async function processTransfer(task, t) {
  const lock = acquireAccounts([t.from, t.to]);
  let outcome;
  try {
    await lock.ready;
    if (!taskMayProceed(task)) return; // given back to the broker (channel death / shutdown)
    outcome = await applyToLedger(t, task);
  } finally {
    lock.release();
  }
  if (!outcome) return;

  if (outcome.kind === 'conflict') {
    // 409: this id was already used in the ledger with another body; 400: the ledger calls
    // the request malformed. Neither is a ledger failure and no retry can succeed.
    log('error', 'ledger_refused', { id: t.id, status: outcome.status, body: outcome.body });
    if (settle(task, 'dead-letter')) stats.dead_lettered++;
    return;
  }
  if (outcome.kind === 'completed') stats.applied++;
  else stats.rejected++;

  const [routingKey, event] = eventFor(t, outcome);
  let failures = 0;
  for (;;) {
    if (!task.session.alive || task.settled) return; // redelivery will replay and publish
    try {
      await publishEvent(task.session, routingKey, event);
      break;
    } catch (err) {
      failures++;
      if (!task.session.alive) return;
      log('warn', 'publish_failed', { id: t.id, attempt: failures, error: errText(err) });
      if (shuttingDown) return; // left unacknowledged: the broker gives it back on close
      await sleep(backoffDelay(failures));
    }
  }
  settle(task, 'ack');
}

function onDelivery(s, msg) {
  if (msg === null) {
    // The broker cancelled our consumer (queue deleted or similar): start over.
    log('warn', 'consumer_cancelled_by_broker');
    sessionDown(s, 'consumer cancelled');
    return;
  }
  if (!s.alive) return;
  stats.consumed++;
  const task = { session: s, msg, settled: false };
  s.unacked.add(task);
  if (shuttingDown) return; // arrived after basic.cancel: returned to the broker on close

  const t = parseTransfer(msg.content);
  if (!t) {
    log('warn', 'poison_message', {
      message_id: msg.properties.messageId,
      redelivered: msg.fields.redelivered,
      body: msg.content.toString('utf8').slice(0, 200),
    });
    if (settle(task, 'dead-letter')) stats.dead_lettered++;
    return;
  }
  // Each transfer is handled independently; rethrows are not expected, but never let one
  // escape: give the message back so the broker redelivers it.
  const p = processTransfer(task, t).catch((err) => {
    log('error', 'task_failed', { id: t.id, error: errText(err), stack: err && err.stack });
    noteCrash(task, t);
  }).finally(() => running.delete(p));
  running.add(p);
}

// A transfer whose processing throws (a bug, not a ledger failure) is given back to the
// broker; after MAX_ATTEMPTS deliveries that all failed this way it is dead-lettered so it
// can never block the queue forever.
const crashCounts = new Map();
function noteCrash(task, t) {
  const n = (crashCounts.get(t.id) || 0) + 1;
  crashCounts.set(t.id, n);
  if (crashCounts.size > 10000) crashCounts.clear();
  if (n >= MAX_ATTEMPTS) {
    crashCounts.delete(t.id);
    if (settle(task, 'dead-letter')) stats.dead_lettered++;
  } else {
    settle(task, 'requeue');
  }
}

function sessionDown(s, reason) {
  if (!s || !s.alive) return;
  s.alive = false;
  const held = s.unacked.size;
  s.unacked.clear(); // the broker requeues whatever was unacknowledged on this channel
  if (session === s) session = null;
  wakeSleepers();
  log('warn', 'amqp_down', { reason, requeued_by_broker: held });
  try { s.conn.close().catch(() => {}); } catch (_) { /* already closed */ }
  if (!shuttingDown) scheduleReconnect();
}

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

function amqpUrlWithHeartbeat(raw) {
  try {
    const u = new URL(raw);
    if (!u.searchParams.has('heartbeat')) u.searchParams.set('heartbeat', String(HEARTBEAT_S));
    return u.toString();
  } catch (_) {
    return raw;
  }
}

async function connectOnce() {
  const connP = amqp.connect(amqpUrlWithHeartbeat(AMQP_URL), { timeout: CONNECT_TIMEOUT_MS });
  let conn;
  try {
    conn = await withTimeout(connP, CONNECT_TIMEOUT_MS + 2000, 'AMQP connect');
  } catch (err) {
    connP.then((c) => c.close().catch(() => {}), () => {});
    throw err;
  }
  const s = { conn, ch: null, alive: true, unacked: new Set(), consumerTag: null };
  conn.on('error', (err) => log('warn', 'amqp_connection_error', { error: errText(err) }));
  conn.on('close', (err) => sessionDown(s, err ? errText(err) : 'connection closed'));
  conn.on('blocked', (reason) => log('warn', 'amqp_blocked', { reason }));
  conn.on('unblocked', () => log('info', 'amqp_unblocked'));
  try {
    const ch = await withTimeout(conn.createConfirmChannel(), 5000, 'channel open');
    s.ch = ch;
    ch.on('error', (err) => log('warn', 'amqp_channel_error', { error: errText(err) }));
    ch.on('close', () => sessionDown(s, 'channel closed'));
    // basic.qos per consumer: the broker never lets us hold more than MAX_IN_FLIGHT
    // unacknowledged deliveries.
    await withTimeout(ch.prefetch(MAX_IN_FLIGHT, false), 5000, 'basic.qos');
    session = s;
    const ok = await withTimeout(
      ch.consume(QUEUE, (msg) => onDelivery(s, msg), { noAck: false }), 5000, 'basic.consume');
    s.consumerTag = ok.consumerTag;
  } catch (err) {
    sessionDown(s, `setup failed: ${errText(err)}`);
    throw err;
  }
  return s;
}

function scheduleReconnect() {
  if (shuttingDown || reconnectTimer || connecting) return;
  const delay = Math.min(RECONNECT_BASE_MS * 2 ** reconnectFailures, RECONNECT_MAX_MS);
  const jittered = Math.round(delay * (0.75 + Math.random() * 0.25));
  reconnectTimer = setTimeout(() => {
    reconnectTimer = null;
    connect();
  }, reconnectFailures === 0 ? 0 : jittered);
}

async function connect() {
  if (shuttingDown || connecting || (session && session.alive)) return;
  connecting = true;
  let s = null;
  try {
    s = await connectOnce();
  } catch (err) {
    log('warn', 'amqp_connect_failed', { error: errText(err), attempt: reconnectFailures + 1 });
  } finally {
    connecting = false;
  }
  if (s && s.alive) {
    reconnectFailures = 0;
    log('info', 'amqp_connected', { prefetch: MAX_IN_FLIGHT, queue: QUEUE });
    if (shuttingDown) stopConsuming().catch(() => {});
  } else {
    reconnectFailures = Math.min(reconnectFailures + 1, 10);
    scheduleReconnect();
  }
}

async function stopConsuming() {
  const s = session;
  if (!s || !s.alive || !s.consumerTag) return;
  try {
    await withTimeout(s.ch.cancel(s.consumerTag), 1000, 'basic.cancel');
  } catch (err) {
    log('warn', 'cancel_failed', { error: errText(err) });
  }
}

// ---------------------------------------------------------------------------------------
// HTTP endpoints

function sendJson(res, status, obj) {
  const body = JSON.stringify(obj);
  res.writeHead(status, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(body),
    'Cache-Control': 'no-store',
  });
  res.end(body);
}

const server = http.createServer((req, res) => {
  const path = (req.url || '/').split('?')[0];
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    if (path === '/healthz' || path === '/stats') {
      res.setHeader('Allow', 'GET, HEAD');
      return sendJson(res, 405, { error: 'method_not_allowed' });
    }
    return sendJson(res, 404, { error: 'not_found' });
  }
  if (path === '/healthz') return sendJson(res, 200, { status: 'ok' });
  if (path === '/stats') {
    return sendJson(res, 200, {
      consumed: stats.consumed,
      applied: stats.applied,
      rejected: stats.rejected,
      dead_lettered: stats.dead_lettered,
      in_flight: inFlight(),
    });
  }
  return sendJson(res, 404, { error: 'not_found' });
});
server.keepAliveTimeout = 5000;

// ---------------------------------------------------------------------------------------
// Graceful shutdown

async function shutdown(signal) {
  if (shuttingDown) return;
  shuttingDown = true;
  const started = Date.now();
  log('info', 'shutdown_begin', { signal, in_flight: inFlight(), running: running.size });
  const hard = setTimeout(() => {
    log('warn', 'shutdown_forced');
    process.exit(0);
  }, SHUTDOWN_HARD_MS);

  if (reconnectTimer) { clearTimeout(reconnectTimer); reconnectTimer = null; }
  // 1. stop taking new messages
  await stopConsuming();
  // 2. finish what already has an answer coming; nothing new is started, retry sleeps end
  wakeSleepers();
  while (running.size > 0 && Date.now() - started < SHUTDOWN_HARD_MS - 1500) {
    await Promise.race([
      Promise.allSettled(Array.from(running)),
      new Promise((r) => setTimeout(r, 100)),
    ]);
  }
  // 3. closing the channel gives every message still unacknowledged back to the broker
  const s = session;
  if (s && s.alive) {
    try { await withTimeout(s.ch.close(), 700, 'channel close'); } catch (_) { /* ignore */ }
    try { await withTimeout(s.conn.close(), 500, 'connection close'); } catch (_) { /* ignore */ }
  }
  server.close();
  clearTimeout(hard);
  log('info', 'shutdown_done', { ms: Date.now() - started, stats });
  process.exit(0);
}

// ---------------------------------------------------------------------------------------
// Start

function main() {
  process.on('SIGTERM', () => { shutdown('SIGTERM'); });
  process.on('SIGINT', () => { shutdown('SIGINT'); });
  process.on('unhandledRejection', (err) => log('error', 'unhandled_rejection', { error: errText(err) }));
  process.on('uncaughtException', (err) => {
    log('error', 'uncaught_exception', { error: errText(err), stack: err && err.stack });
  });
  server.listen(PORT, '0.0.0.0', () => {
    log('info', 'listening', {
      port: PORT, ledger: LEDGER_URL, max_in_flight: MAX_IN_FLIGHT, max_attempts: MAX_ATTEMPTS,
    });
    connect();
  });
}

if (require.main === module) main();
module.exports = { parseTransfer, acquireAccounts, idempotencyKey };
