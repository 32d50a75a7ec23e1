'use strict';
// Self-test: starts a fake inventory (in this process) and the service (a child process) on
// 127.0.0.1, then checks each rule of the brief. Every wait is bounded in count and time.
// Usage: node selftest.js   (optional: PROMTOOL=/path/to/promtool to lint /metrics too)

const http = require('node:http');
const { spawn, spawnSync } = require('node:child_process');
const path = require('node:path');
const fs = require('node:fs');
const os = require('node:os');

const SVC_PORT = 18080 + Math.floor(Math.random() * 1000);
const INV_PORT = 19090 + Math.floor(Math.random() * 1000);
const BASE = `http://127.0.0.1:${SVC_PORT}`;

// ------------------------------------------------------------------ fake inventory
const inv = { mode: 'ok', delayMs: 0, received: [], health: 'ok' }; // mode: ok | fail | hang
const hung = new Set();
const fake = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    if (req.url === '/healthz') {
      if (inv.health === 'hang') return hung.add(res);
      res.writeHead(inv.health === 'ok' ? 200 : 503, { 'Content-Type': 'application/json' });
      return res.end('{}');
    }
    if (req.url === '/reservations' && req.method === 'POST') {
      let body = {};
      try { body = JSON.parse(Buffer.concat(chunks).toString()); } catch { /* ignore */ }
      inv.received.push({ rid: req.headers['x-request-id'], body });
      if (inv.mode === 'hang') return hung.add(res);
      const answer = () => {
        if (inv.mode === 'fail') { res.writeHead(500); return res.end('boom'); }
        if (String(body.sku).startsWith('OOS')) { res.writeHead(409, { 'Content-Type': 'application/json' }); return res.end('{"error":"out of stock"}'); }
        res.writeHead(201, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ reservation_id: 'r-' + inv.received.length, sku: body.sku }));
      };
      return inv.delayMs ? setTimeout(answer, inv.delayMs) : answer();
    }
    res.writeHead(404); res.end();
  });
});
function releaseHung() { for (const r of hung) { try { r.destroy(); } catch { /* */ } } hung.clear(); }

// ------------------------------------------------------------------ helpers
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
function request(method, p, { body, headers = {}, raw } = {}) {
  return new Promise((resolve, reject) => {
    const data = raw !== undefined ? Buffer.from(raw) : body !== undefined ? Buffer.from(JSON.stringify(body)) : undefined;
    const h = { Accept: 'text/plain;version=0.0.4', ...headers };
    if (data) { h['Content-Type'] = 'application/json'; h['Content-Length'] = data.length; }
    const t0 = process.hrtime.bigint();
    const req = http.request(BASE + p, { method, headers: h, agent, timeout: 10_000 }, (res) => {
      const cs = [];
      res.on('data', (c) => cs.push(c));
      res.on('end', () => {
        const text = Buffer.concat(cs).toString();
        let json; try { json = JSON.parse(text); } catch { /* not json */ }
        resolve({ status: res.statusCode, headers: res.headers, text, json, ms: Number(process.hrtime.bigint() - t0) / 1e6 });
      });
    });
    req.on('timeout', () => req.destroy(new Error('client timeout')));
    req.on('error', reject);
    req.end(data);
  });
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function parseMetrics(text) {
  const m = new Map();
  const types = new Map();
  for (const line of text.split('\n')) {
    if (line.startsWith('# TYPE ')) { const [, , n, t] = line.split(' '); types.set(n, t); continue; }
    if (!line || line.startsWith('#')) continue;
    const mm = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})? (\S+)$/.exec(line);
    if (!mm) throw new Error('unparseable metrics line: ' + line);
    m.set(mm[1] + (mm[2] || ''), Number(mm[3]));
  }
  return { m, types };
}
async function scrape() {
  const r = await request('GET', '/metrics');
  if (r.status !== 200) throw new Error('scrape status ' + r.status);
  return { ...parseMetrics(r.text), text: r.text, headers: r.headers };
}
function val(s, key) { return s.m.get(key) || 0; }
const L = (o) => '{' + Object.entries(o).map(([k, v]) => `${k}="${v}"`).join(',') + '}';

let failures = 0, passes = 0;
function check(name, ok, detail = '') {
  if (ok) { passes++; console.log(`PASS ${name}`); }
  else { failures++; console.log(`FAIL ${name} ${detail}`); }
}

// ------------------------------------------------------------------ service process
let out = '';
let child;
async function startService() {
  child = spawn(process.execPath, [path.join(__dirname, 'server.js')], {
    env: { ...process.env, PORT: String(SVC_PORT), INVENTORY_URL: `http://127.0.0.1:${INV_PORT}`, INVENTORY_TIMEOUT_S: '1.5' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.on('data', (c) => { out += c; });
  child.stderr.on('data', (c) => { out += c; });
  for (let i = 0; i < 100; i++) { // <= 10 s
    try { const r = await request('GET', '/healthz'); if (r.status === 200) return; } catch { /* not yet */ }
    await sleep(100);
  }
  throw new Error('service never became healthy');
}
function logLines() {
  const lines = out.split('\n').filter((l) => l.startsWith('{'));
  return lines.map((l) => { try { return JSON.parse(l); } catch { return { __bad: l }; } });
}
async function waitReady(expect, maxMs) {
  const t0 = Date.now();
  for (let i = 0; i < 100 && Date.now() - t0 < maxMs; i++) {
    const r = await request('GET', '/readyz');
    if (r.status === expect) return { ok: true, ms: Date.now() - t0, answerMs: r.ms };
    await sleep(100);
  }
  return { ok: false, ms: Date.now() - t0 };
}

// ------------------------------------------------------------------ the checks
async function main() {
  await new Promise((r) => fake.listen(INV_PORT, '127.0.0.1', r));
  await startService();

  // --- basic API + exact counter increments
  let before = await scrape();
  check('metrics content type 0.0.4', /^text\/plain; version=0\.0\.4/.test(before.headers['content-type']), before.headers['content-type']);
  const rids = [];
  const N = 7;
  const created = [];
  for (let i = 0; i < N; i++) {
    const rid = `selftest-${i}.a:b_c`;
    rids.push(rid);
    const r = await request('POST', '/orders', { body: { sku: 'ABC-1', quantity: 2 }, headers: { 'X-Request-Id': rid } });
    check(`POST /orders 201 #${i}`, r.status === 201 && r.json && r.json.status === 'accepted' && r.json.sku === 'ABC-1' && r.json.quantity === 2 && typeof r.json.id === 'string', r.text);
    check(`X-Request-Id echoed #${i}`, r.headers['x-request-id'] === rid, r.headers['x-request-id']);
    created.push(r.json);
  }
  const oos = await request('POST', '/orders', { body: { sku: 'OOS-1', quantity: 1 } });
  check('out of stock -> 409 JSON object', oos.status === 409 && oos.json && typeof oos.json === 'object');
  const g = await request('GET', `/orders/${created[0].id}`);
  check('GET /orders/{id} 200 same body', g.status === 200 && JSON.stringify(g.json) === JSON.stringify(created[0]), g.text);
  const nf = await request('GET', '/orders/does-not-exist');
  check('GET unknown order 404 JSON', nf.status === 404 && nf.json && typeof nf.json === 'object');
  const um = await request('GET', '/nope/at/all?x=1');
  check('unknown path 404 JSON', um.status === 404 && um.json && typeof um.json === 'object');

  const bad = [
    ['not json', 'hello'], ['array', '[1,2]'], ['null', 'null'], ['missing sku', '{"quantity":1}'],
    ['missing qty', '{"sku":"A"}'], ['lowercase sku', '{"sku":"abc","quantity":1}'], ['long sku', JSON.stringify({ sku: 'A'.repeat(33), quantity: 1 })],
    ['qty 0', '{"sku":"A","quantity":0}'], ['qty 101', '{"sku":"A","quantity":101}'], ['qty float', '{"sku":"A","quantity":1.5}'],
    ['qty 2.0', '{"sku":"A","quantity":2.0}'], ['qty string', '{"sku":"A","quantity":"2"}'], ['qty bool', '{"sku":"A","quantity":true}'],
    ['empty sku', '{"sku":"","quantity":1}'], ['empty body', ''],
  ];
  const invBefore = inv.received.length;
  for (const [name, raw] of bad) {
    const r = await request('POST', '/orders', { raw });
    check(`400 ${name}`, r.status === 400 && r.json && typeof r.json === 'object' && !Array.isArray(r.json), `${r.status} ${r.text}`);
  }
  check('inventory not called for 400s', inv.received.length === invBefore);
  const ok32 = await request('POST', '/orders', { body: { sku: 'Z'.repeat(32), quantity: 100 } });
  check('32-char sku, quantity 100 accepted', ok32.status === 201, ok32.text);

  let after = await scrape();
  const d = (k) => val(after, k) - val(before, k);
  check('http_requests_total POST /orders 201 +N+1', d('http_requests_total' + L({ method: 'POST', route: '/orders', status: '201' })) === N + 1);
  check('http_requests_total POST /orders 409 +1', d('http_requests_total' + L({ method: 'POST', route: '/orders', status: '409' })) === 1);
  check('http_requests_total POST /orders 400 +bad', d('http_requests_total' + L({ method: 'POST', route: '/orders', status: '400' })) === bad.length);
  check('http_requests_total GET /orders/{id} 200 +1', d('http_requests_total' + L({ method: 'GET', route: '/orders/{id}', status: '200' })) === 1);
  check('http_requests_total GET /orders/{id} 404 +1', d('http_requests_total' + L({ method: 'GET', route: '/orders/{id}', status: '404' })) === 1);
  check('http_requests_total GET unmatched 404 +1', d('http_requests_total' + L({ method: 'GET', route: 'unmatched', status: '404' })) === 1);
  check('metrics scrape counted (+1 between scrapes)', d('http_requests_total' + L({ method: 'GET', route: '/metrics', status: '200' })) === 1);
  check('orders_created_total +N+1', d('orders_created_total') === N + 1);
  check('inventory_requests_total ok +N+2', d('inventory_requests_total' + L({ outcome: 'ok' })) === N + 2);
  check('inventory_requests_total error +0', d('inventory_requests_total' + L({ outcome: 'error' })) === 0);

  // --- histogram consistency
  const histOk = (s) => {
    const groups = new Map();
    for (const [k, v] of s.m) {
      const mm = /^(http_request_duration_seconds|inventory_request_duration_seconds)_(bucket|count|sum)(\{.*\})$/.exec(k);
      if (!mm) continue;
      const labels = mm[3].replace(/,?le="[^"]*"/, '').replace('{,', '{');
      const key = mm[1] + labels;
      if (!groups.has(key)) groups.set(key, { buckets: [], count: null, sum: null });
      const gr = groups.get(key);
      if (mm[2] === 'bucket') gr.buckets.push([/le="([^"]*)"/.exec(mm[3])[1], v]);
      else gr[mm[2]] = v;
    }
    const want = ['0.005', '0.01', '0.025', '0.05', '0.1', '0.25', '0.5', '1', '2.5', '5', '10', '+Inf'];
    for (const [key, gr] of groups) {
      const les = gr.buckets.map((b) => b[0]);
      if (JSON.stringify(les) !== JSON.stringify(want)) return `${key}: buckets ${les}`;
      for (let i = 1; i < gr.buckets.length; i++) if (gr.buckets[i][1] < gr.buckets[i - 1][1]) return `${key}: not cumulative`;
      if (gr.buckets[gr.buckets.length - 1][1] !== gr.count) return `${key}: +Inf != count`;
      if (!(gr.sum >= 0)) return `${key}: bad sum`;
    }
    return groups.size > 0 ? true : 'no histograms';
  };
  const h = histOk(after);
  check('histograms: exact buckets, cumulative, +Inf == count', h === true, h);
  check('histogram count == counter (POST /orders 201)',
    val(after, 'http_request_duration_seconds_count' + L({ method: 'POST', route: '/orders', status: '201' })) === val(after, 'http_requests_total' + L({ method: 'POST', route: '/orders', status: '201' })));
  for (const [fam, type] of [['http_requests_total', 'counter'], ['http_request_duration_seconds', 'histogram'], ['http_requests_in_flight', 'gauge'],
    ['inventory_requests_total', 'counter'], ['inventory_request_duration_seconds', 'histogram'], ['orders_created_total', 'counter']]) {
    check(`TYPE ${fam} ${type}`, after.types.get(fam) === type, after.types.get(fam));
  }
  // label names allowed
  const allowed = { http_requests_total: ['method', 'route', 'status'], http_request_duration_seconds: ['method', 'route', 'status', 'le'], inventory_requests_total: ['outcome'], inventory_request_duration_seconds: ['outcome', 'le'] };
  let labelProblem = '';
  for (const k of after.m.keys()) {
    const mm = /^([a-z_]+?)(_bucket|_count|_sum)?(\{.*\})?$/.exec(k);
    if (!mm) continue;
    const fam = allowed[mm[1]] ? mm[1] : allowed[mm[1] + (mm[2] || '')] ? mm[1] + (mm[2] || '') : null;
    if (!fam || !mm[3]) continue;
    for (const lm of mm[3].matchAll(/([a-z_]+)="/g)) if (!allowed[fam].includes(lm[1])) labelProblem += ` ${k}`;
  }
  check('only the allowed label names', labelProblem === '', labelProblem);

  // --- logs
  await sleep(100);
  let logs = logLines();
  check('every {-line is a complete JSON object', logs.every((l) => !l.__bad && typeof l === 'object'), JSON.stringify(logs.find((l) => l.__bad)));
  for (const rid of rids) {
    const mine = logs.filter((l) => l.msg === 'request' && l.request_id === rid);
    const l = mine[0] || {};
    check(`exactly one request log line for ${rid}`, mine.length === 1, String(mine.length));
    check(`log fields for ${rid}`, l.level === 'info' && l.method === 'POST' && l.path === '/orders' && l.route === '/orders' && l.status === 201 &&
      typeof l.duration_ms === 'number' && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/.test(l.time), JSON.stringify(l));
    check(`inventory received ${rid}`, inv.received.some((x) => x.rid === rid));
  }
  const umLog = logs.find((l) => l.msg === 'request' && l.path === '/nope/at/all');
  check('unmatched log: path without query, route unmatched', umLog && umLog.route === 'unmatched' && umLog.status === 404, JSON.stringify(umLog));

  // --- request ids: invalid header replaced, generated ids unique
  const inval = await request('GET', '/healthz', { headers: { 'X-Request-Id': 'bad id with spaces' } });
  check('invalid X-Request-Id replaced', inval.headers['x-request-id'] && inval.headers['x-request-id'] !== 'bad id with spaces' && /^[A-Za-z0-9._:-]{1,128}$/.test(inval.headers['x-request-id']));
  const long = 'a'.repeat(129);
  const lr = await request('GET', '/healthz', { headers: { 'X-Request-Id': long } });
  check('129-char X-Request-Id replaced', lr.headers['x-request-id'] !== long);
  const ok128 = 'b'.repeat(128);
  const r128 = await request('GET', '/healthz', { headers: { 'X-Request-Id': ok128 } });
  check('128-char X-Request-Id kept', r128.headers['x-request-id'] === ok128);
  const gen = new Set();
  for (let i = 0; i < 20; i++) gen.add((await request('GET', '/healthz')).headers['x-request-id']);
  check('generated ids unique', gen.size === 20);
  const noRid = await request('POST', '/orders', { body: { sku: 'GEN-1', quantity: 1 } });
  check('generated id sent to inventory', inv.received.some((x) => x.rid === noRid.headers['x-request-id']));

  // --- cardinality: 1000 distinct ids add no series
  before = await scrape();
  for (let i = 0; i < 1000; i += 50) {
    await Promise.all(Array.from({ length: 50 }, (_, j) => request('GET', `/orders/id-${i + j}?q=${i + j}`)));
  }
  after = await scrape();
  check('1000 distinct ids add no series', after.m.size === before.m.size, `${before.m.size} -> ${after.m.size}`);
  check('1000 404s counted exactly', val(after, 'http_requests_total' + L({ method: 'GET', route: '/orders/{id}', status: '404' })) - val(before, 'http_requests_total' + L({ method: 'GET', route: '/orders/{id}', status: '404' })) === 1000);

  // --- slow inventory: _sum vs known delay and measured latency
  inv.delayMs = 300;
  before = await scrape();
  const lat = await Promise.all(Array.from({ length: 5 }, (_, i) => request('POST', '/orders', { body: { sku: 'SLOW-' + i, quantity: 1 } })));
  after = await scrape();
  inv.delayMs = 0;
  const k = L({ method: 'POST', route: '/orders', status: '201' });
  const sumD = val(after, 'http_request_duration_seconds_sum' + k) - val(before, 'http_request_duration_seconds_sum' + k);
  const measured = lat.reduce((a, r) => a + r.ms, 0) / 1000;
  check('http _sum >= 90% of delays', sumD >= 0.9 * 5 * 0.3, String(sumD));
  check('http _sum <= measured + 50ms/req', sumD <= measured + 0.05 * 5, `${sumD} vs ${measured}`);
  const isumD = val(after, 'inventory_request_duration_seconds_sum{outcome="ok"}') - val(before, 'inventory_request_duration_seconds_sum{outcome="ok"}');
  check('inventory _sum >= 90% of delays', isumD >= 0.9 * 5 * 0.3 && isumD <= measured + 0.25, String(isumD));
  check('0.25 < bucket: slow requests land in le=0.5',
    val(after, 'http_request_duration_seconds_bucket' + L({ le: '0.5', method: 'POST', route: '/orders', status: '201' })) - val(before, 'http_request_duration_seconds_bucket' + L({ le: '0.5', method: 'POST', route: '/orders', status: '201' })) === 5 &&
    val(after, 'http_request_duration_seconds_bucket' + L({ le: '0.25', method: 'POST', route: '/orders', status: '201' })) - val(before, 'http_request_duration_seconds_bucket' + L({ le: '0.25', method: 'POST', route: '/orders', status: '201' })) === 0);

  // --- in-flight: hold 6 requests open through the inventory
  inv.mode = 'hang';
  before = await scrape();
  const held = Array.from({ length: 6 }, (_, i) => request('POST', '/orders', { body: { sku: 'HOLD-' + i, quantity: 1 } }));
  await sleep(400);
  const mid = await scrape();
  const inflight = val(mid, 'http_requests_in_flight');
  check('in-flight shows 6 held requests (+ maybe the scrape)', inflight === 6 || inflight === 7, String(inflight));
  const hz = await request('GET', '/healthz');
  check('healthz 200 fast during a hang', hz.status === 200 && hz.ms < 1000, `${hz.status} ${hz.ms}`);
  const heldRes = await Promise.all(held);
  check('hung inventory -> 503 after the timeout', heldRes.every((r) => r.status === 503 && r.json && r.ms >= 1400 && r.ms < 2500), heldRes.map((r) => `${r.status}/${Math.round(r.ms)}`).join(' '));
  after = await scrape();
  check('inventory error +6 on timeout', val(after, 'inventory_requests_total{outcome="error"}') - val(before, 'inventory_requests_total{outcome="error"}') === 6);
  check('in-flight back to 0 (or 1: the scrape)', [0, 1].includes(val(after, 'http_requests_in_flight')));
  releaseHung();
  inv.mode = 'fail';
  const f = await request('POST', '/orders', { body: { sku: 'F-1', quantity: 1 } });
  check('inventory 5xx -> 503', f.status === 503 && f.json);
  inv.mode = 'ok';
  await sleep(50);
  logs = logLines();
  const errLog = logs.find((l) => l.msg === 'request' && l.request_id === f.headers['x-request-id']);
  check('5xx logs at level error', errLog && errLog.level === 'error' && errLog.status === 503, JSON.stringify(errLog));

  // --- readiness follows outage and recovery
  let w = await waitReady(200, 4000);
  check('readyz 200 while healthy', w.ok);
  for (const [mode, label] of [['fail', '5xx'], ['hang', 'hang']]) {
    inv.health = mode;
    w = await waitReady(503, 4000);
    check(`readyz 503 within 2 s after inventory ${label}`, w.ok && w.ms <= 2000, JSON.stringify(w));
    const r = await request('GET', '/readyz');
    check(`readyz answers within 2 s during ${label}`, r.ms < 2000, String(r.ms));
    const hz2 = await request('GET', '/healthz');
    check(`healthz 200 during ${label}`, hz2.status === 200 && hz2.ms < 1000);
    inv.health = 'ok';
    releaseHung();
    w = await waitReady(200, 4000);
    check(`readyz 200 within 2 s after recovery from ${label}`, w.ok && w.ms <= 2000, JSON.stringify(w));
  }

  // --- alerts.yml served as is
  const a = await request('GET', '/alerts.yml');
  check('alerts.yml served byte for byte', a.status === 200 && a.text === fs.readFileSync(path.join(__dirname, 'alerts.yml'), 'utf8') && /^(text\/|application\/(x-)?yaml)/.test(a.headers['content-type']), a.headers['content-type']);

  // --- logs: one request line per request overall
  await sleep(100);
  logs = logLines();
  const total = [...(await scrape()).m].filter(([k2]) => k2.startsWith('http_requests_total{')).reduce((s, [, v]) => s + v, 0);
  const reqLines = logs.filter((l) => l.msg === 'request').length;
  check('request log lines == requests counted (+1: the last scrape)', reqLines === total + 1 || reqLines === total, `${reqLines} vs ${total}`);

  // --- promtool
  const promtool = process.env.PROMTOOL;
  if (promtool) {
    const s = await request('GET', '/metrics');
    const pm = spawnSync(promtool, ['check', 'metrics'], { input: s.text, encoding: 'utf8' });
    check('promtool check metrics: no findings', pm.status === 0 && !pm.stdout.trim() && !pm.stderr.trim(), pm.stdout + pm.stderr);
    const pr = spawnSync(promtool, ['check', 'rules', path.join(__dirname, 'alerts.yml')], { encoding: 'utf8' });
    check('promtool check rules', pr.status === 0, pr.stdout + pr.stderr);
    const pt = spawnSync(promtool, ['test', 'rules', path.join(__dirname, 'alerts_test.yml')], { encoding: 'utf8', cwd: __dirname });
    check('promtool test rules (own series)', pt.status === 0, pt.stdout + pt.stderr);
  } else console.log('SKIP promtool (set PROMTOOL=...)');
}

const hardStop = setTimeout(() => { console.log('FAIL selftest took more than 120 s'); process.exit(2); }, 120_000);
main()
  .catch((e) => { failures++; console.log('FAIL exception', e && e.stack); })
  .finally(() => {
    clearTimeout(hardStop);
    if (child) child.kill('SIGTERM');
    releaseHung();
    fake.close();
    agent.destroy();
    console.log(`\n${passes} passed, ${failures} failed`);
    if (process.env.SELFTEST_LOG) fs.writeFileSync(path.join(os.tmpdir(), 'selftest-service.log'), out);
    setTimeout(() => process.exit(failures ? 1 : 0), 200);
  });
