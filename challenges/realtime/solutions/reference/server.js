// Reference solution of the realtime challenge: WebSocket pub/sub with per-channel sequences,
// resume from a bounded history, idle close, limits and slow-consumer protection.
//
// One Node.js process: every publish, subscribe and fan-out runs on the event loop to
// completion, so "assign a seq, store it, hand it to every current subscriber" is atomic without
// locks. The flawed variants (../<name>/flawed.js) require this module and override one part of
// `Service`; keep the seams (methods) small and named.
'use strict';

const http = require('http');
const { WebSocketServer } = require('ws');

const CHANNEL_RE = /^[A-Za-z0-9._-]{1,64}$/;
const MAX_BODY = 65536;

function intEnv(name, dflt) {
  const v = process.env[name];
  if (v === undefined || v === '') return dflt;
  const n = Number.parseInt(v, 10);
  if (!Number.isFinite(n) || n < 0) throw new Error(`${name} must be a non-negative integer`);
  return n;
}

function config() {
  return {
    port: intEnv('PORT', 8080),
    historySize: intEnv('HISTORY_SIZE', 100),
    idleTimeoutMs: intEnv('IDLE_TIMEOUT_S', 4) * 1000,
    maxMessageBytes: intEnv('MAX_MESSAGE_BYTES', 4096),
    maxSubscriptions: intEnv('MAX_SUBSCRIPTIONS', 10),
    maxConnections: intEnv('MAX_CONNECTIONS', 500),
    slowConsumerBytes: intEnv('SLOW_CONSUMER_BYTES', 262144),
  };
}

function problem(res, status, title, detail) {
  const body = JSON.stringify({ type: 'about:blank', title, status, detail });
  res.writeHead(status, {
    'Content-Type': 'application/problem+json',
    'Content-Length': Buffer.byteLength(body),
  });
  res.end(body);
}

function json(res, status, obj) {
  const body = JSON.stringify(obj);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

class Channel {
  constructor(name) {
    this.name = name;
    this.seq = 0;
    this.history = []; // [{seq, text}], oldest first, at most historySize
    this.subscribers = new Set(); // Conn
  }
}

class Conn {
  constructor(ws) {
    this.ws = ws;
    this.channels = new Set(); // channel names
    this.lastActive = Date.now();
    this.closing = false;
    this.counted = true;
  }
}

class Service {
  constructor(cfg = config()) {
    this.cfg = cfg;
    this.channels = new Map();
    this.conns = new Set();
    this.open = 0; // WebSocket connections counted against maxConnections
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: cfg.maxMessageBytes, // larger messages: ws closes with 1009
      perMessageDeflate: false,
      clientTracking: false,
    });
    this.server = http.createServer((req, res) => this.onRequest(req, res));
    this.server.keepAliveTimeout = 65000;
    this.server.on('upgrade', (req, socket, head) => this.onUpgrade(req, socket, head));
    this.idleTimer = setInterval(() => this.sweepIdle(), 200);
  }

  channel(name) {
    let ch = this.channels.get(name);
    if (!ch) {
      ch = new Channel(name);
      this.channels.set(name, ch);
    }
    return ch;
  }

  // -- HTTP -------------------------------------------------------------------------------
  onRequest(req, res) {
    const path = req.url.split('?')[0];
    if (path === '/healthz') return json(res, 200, { status: 'ok' });
    if (path === '/ws') {
      res.setHeader('Sec-WebSocket-Version', '13');
      return problem(res, 426, 'Upgrade Required', 'GET /ws must be a WebSocket upgrade');
    }
    if (path !== '/publish') return problem(res, 404, 'Not Found', `no route ${path}`);
    if (req.method !== 'POST') {
      res.setHeader('Allow', 'POST');
      return problem(res, 405, 'Method Not Allowed', 'use POST');
    }
    const chunks = [];
    let size = 0;
    req.on('data', (chunk) => {
      size += chunk.length;
      if (size <= MAX_BODY) chunks.push(chunk);
    });
    req.on('end', () => {
      if (size > MAX_BODY) return problem(res, 413, 'Content Too Large', `body over ${MAX_BODY} bytes`);
      this.onPublishBody(Buffer.concat(chunks).toString('utf8'), res);
    });
  }

  onPublishBody(text, res) {
    let body;
    try {
      body = JSON.parse(text);
    } catch {
      return problem(res, 400, 'Bad Request', 'the body is not valid JSON');
    }
    if (body === null || typeof body !== 'object' || Array.isArray(body)) {
      return problem(res, 400, 'Bad Request', 'the body must be a JSON object');
    }
    if (typeof body.channel !== 'string' || !CHANNEL_RE.test(body.channel)) {
      return problem(res, 422, 'Unprocessable Content', 'channel must match ^[A-Za-z0-9._-]{1,64}$');
    }
    if (!Object.prototype.hasOwnProperty.call(body, 'data')) {
      return problem(res, 422, 'Unprocessable Content', 'data is required');
    }
    this.publish(body.channel, body.data, (seq) => json(res, 200, { channel: body.channel, seq }));
  }

  // Assign the next seq, store it, fan it out; `done(seq)` answers the publisher afterwards.
  publish(name, data, done) {
    const ch = this.channel(name);
    ch.seq += 1;
    const seq = ch.seq;
    const text = JSON.stringify({ type: 'message', channel: name, seq, data });
    ch.history.push({ seq, text });
    if (ch.history.length > this.cfg.historySize) ch.history.shift();
    this.fanOut(ch, text);
    done(seq);
  }

  fanOut(ch, text) {
    for (const conn of ch.subscribers) this.deliver(conn, text);
  }

  // Queue one message for one connection, or close it as a slow consumer.
  deliver(conn, text) {
    if (conn.closing) return;
    const ws = conn.ws;
    // bufferedAmount: bytes ws and Node hold that the kernel has not accepted yet.
    if (ws.bufferedAmount + Buffer.byteLength(text) > this.cfg.slowConsumerBytes) {
      this.serverClose(conn, 4008, 'slow consumer');
      return;
    }
    ws.send(text);
  }

  // -- WebSocket --------------------------------------------------------------------------
  onUpgrade(req, socket, head) {
    const path = req.url.split('?')[0];
    const reject = (status, title) => {
      const body = JSON.stringify({ type: 'about:blank', title, status });
      socket.end(
        `HTTP/1.1 ${status} ${title}\r\nContent-Type: application/problem+json\r\n` +
          `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      );
    };
    if (path !== '/ws') return reject(404, 'Not Found');
    // ws also accepts version 8; the brief asks for exactly 13.
    if (req.headers['sec-websocket-version'] !== '13') return reject(400, 'Bad Request');
    if (this.open >= this.cfg.maxConnections) return reject(503, 'Service Unavailable');
    // Count it now so that concurrent upgrades cannot overshoot; ws answers 400 itself for
    // invalid upgrades (bad key or version), and then the callback never runs.
    this.open += 1;
    let accepted = false;
    socket.once('close', () => {
      if (!accepted) this.open -= 1;
    });
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      accepted = true;
      this.onConnection(ws);
    });
  }

  onConnection(ws) {
    const conn = new Conn(ws);
    this.conns.add(conn);
    ws.on('message', (data, isBinary) => {
      conn.lastActive = Date.now();
      if (conn.closing) return;
      this.onMessage(conn, data, isBinary);
    });
    ws.on('ping', () => {
      conn.lastActive = Date.now(); // ws answers the pong itself
    });
    ws.on('close', () => this.dropConn(conn));
    ws.on('error', () => this.dropConn(conn)); // e.g. 1009: ws closes the connection itself
  }

  dropConn(conn) {
    for (const name of conn.channels) this.channels.get(name)?.subscribers.delete(conn);
    conn.channels.clear();
    conn.closing = true;
    this.conns.delete(conn);
    if (conn.counted) {
      conn.counted = false;
      this.open -= 1;
    }
  }

  serverClose(conn, code, reason) {
    if (conn.closing) return;
    this.dropConn(conn); // stops delivery at once and frees the connection slot
    // The close frame queues behind what is already buffered; ws keeps the socket for its
    // close timeout (30 s) waiting for the client's answer.
    conn.ws.close(code, reason);
  }

  sweepIdle() {
    const now = Date.now();
    for (const conn of this.conns) {
      if (now - conn.lastActive >= this.cfg.idleTimeoutMs) this.serverClose(conn, 4000, 'idle timeout');
    }
  }

  send(conn, obj) {
    this.deliver(conn, JSON.stringify(obj));
  }

  error(conn, code, message) {
    this.send(conn, { type: 'error', code, message });
  }

  onMessage(conn, data, isBinary) {
    if (isBinary) return this.error(conn, 'bad_json', 'binary messages are not supported');
    let cmd;
    try {
      cmd = JSON.parse(data.toString('utf8'));
    } catch {
      return this.error(conn, 'bad_json', 'the message is not valid JSON');
    }
    if (cmd === null || typeof cmd !== 'object' || Array.isArray(cmd)) {
      return this.error(conn, 'bad_json', 'the message must be a JSON object');
    }
    if (cmd.op === 'subscribe') return this.subscribe(conn, cmd);
    if (cmd.op === 'unsubscribe') return this.unsubscribe(conn, cmd);
    return this.error(conn, 'unknown_op', 'op must be "subscribe" or "unsubscribe"');
  }

  subscribe(conn, cmd) {
    const name = cmd.channel;
    if (typeof name !== 'string' || !CHANNEL_RE.test(name)) {
      return this.error(conn, 'invalid_channel', 'channel must match ^[A-Za-z0-9._-]{1,64}$');
    }
    const resume = Object.prototype.hasOwnProperty.call(cmd, 'last_seq');
    const last = cmd.last_seq;
    if (resume && !(Number.isInteger(last) && last >= 0)) {
      return this.error(conn, 'invalid_last_seq', 'last_seq must be an integer >= 0');
    }
    if (conn.channels.has(name)) return this.error(conn, 'already_subscribed', `already subscribed to ${name}`);
    if (conn.channels.size >= this.cfg.maxSubscriptions) {
      return this.error(conn, 'too_many_subscriptions', `at most ${this.cfg.maxSubscriptions} subscriptions`);
    }
    const ch = this.channel(name);
    conn.channels.add(name);
    ch.subscribers.add(conn);
    this.send(conn, { type: 'subscribed', channel: name, seq: ch.seq });
    if (resume) this.replay(conn, ch, last);
  }

  replay(conn, ch, last) {
    const current = ch.seq;
    if (last > current || last < current - this.cfg.historySize) {
      this.send(conn, { type: 'reset', channel: ch.name, seq: current });
      return;
    }
    for (const m of ch.history) if (m.seq > last) this.deliver(conn, m.text);
  }

  unsubscribe(conn, cmd) {
    const name = cmd.channel;
    if (typeof name !== 'string' || !CHANNEL_RE.test(name)) {
      return this.error(conn, 'invalid_channel', 'channel must match ^[A-Za-z0-9._-]{1,64}$');
    }
    if (!conn.channels.has(name)) return this.error(conn, 'not_subscribed', `not subscribed to ${name}`);
    this.removeSubscription(conn, name);
    this.send(conn, { type: 'unsubscribed', channel: name });
  }

  removeSubscription(conn, name) {
    conn.channels.delete(name);
    this.channels.get(name)?.subscribers.delete(conn);
  }

  listen() {
    this.server.listen(this.cfg.port, '0.0.0.0');
    return this;
  }
}

module.exports = { Service, Channel, Conn, config, CHANNEL_RE };

if (require.main === module) new Service().listen();
