'use strict';
// Local load smoke test: fake inventory + service on 127.0.0.1, 100 req/s for 10 s
// (POST /orders, some out of stock; GET /orders/{id}; GET /metrics), bounded to 30 s.
const http = require('node:http');
const { spawn } = require('node:child_process');
const path = require('node:path');
const SVC = 28080 + Math.floor(Math.random() * 1000), INV = 29090 + Math.floor(Math.random() * 1000);
const fake = http.createServer((req, res) => {
  const cs = []; req.on('data', (c) => cs.push(c));
  req.on('end', () => {
    if (req.url === '/healthz') { res.writeHead(200); return res.end('{}'); }
    const b = JSON.parse(Buffer.concat(cs).toString());
    setTimeout(() => {
      if (b.sku.startsWith('OOS')) { res.writeHead(409); return res.end('{}'); }
      res.writeHead(201, { 'Content-Type': 'application/json' }); res.end('{"reservation_id":"x"}');
    }, 2);
  });
});
const agent = new http.Agent({ keepAlive: true, maxSockets: 20 });
function req(method, p, body) {
  return new Promise((resolve) => {
    const data = body ? Buffer.from(JSON.stringify(body)) : undefined;
    const t0 = process.hrtime.bigint();
    const r = http.request(`http://127.0.0.1:${SVC}${p}`, { method, agent, headers: data ? { 'Content-Type': 'application/json', 'Content-Length': data.length } : {} }, (res) => {
      const cs = []; res.on('data', (c) => cs.push(c));
      res.on('end', () => resolve({ status: res.statusCode, text: Buffer.concat(cs).toString(), ms: Number(process.hrtime.bigint() - t0) / 1e6 }));
    });
    r.setTimeout(5000, () => r.destroy()); r.on('error', () => resolve({ status: 0, ms: 5000 })); r.end(data);
  });
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const count = (text, re) => text.split('\n').filter((l) => re.test(l)).reduce((s, l) => s + Number(l.split(' ').pop()), 0);
(async () => {
  await new Promise((r) => fake.listen(INV, '127.0.0.1', r));
  const child = spawn(process.execPath, [path.join(__dirname, 'server.js')], { env: { ...process.env, PORT: String(SVC), INVENTORY_URL: `http://127.0.0.1:${INV}`, INVENTORY_TIMEOUT_S: '2' }, stdio: ['ignore', 'ignore', 'inherit'] });
  for (let i = 0; i < 50; i++) { const r = await req('GET', '/healthz'); if (r.status === 200) break; await sleep(100); }
  const m0 = (await req('GET', '/metrics')).text;
  const ids = []; const lat = []; let errors = 0; let sent = { orders: 0, get: 0, created: 0 };
  const t0 = Date.now(); const jobs = [];
  for (let i = 0; i < 1000; i++) {
    const due = t0 + i * 10; const wait = due - Date.now(); if (wait > 0) await sleep(wait);
    const k = i % 10;
    let p;
    if (k < 5) { const oos = k === 4; sent.orders++; p = req('POST', '/orders', { sku: oos ? 'OOS-1' : 'SKU-' + (i % 7), quantity: 1 + (i % 5) }).then((r) => { if (r.status === 201) { sent.created++; ids.push(JSON.parse(r.text).id); } else if (!(oos && r.status === 409)) errors++; return r; }); }
    else if (k < 9) { sent.get++; const id = ids[ids.length - 1] || 'none'; p = req('GET', '/orders/' + id).then((r) => { if (r.status !== 200 && id !== 'none') errors++; return r; }); }
    else p = req('GET', '/metrics').then((r) => { if (r.status !== 200) errors++; return r; });
    jobs.push(p.then((r) => { if (i >= 300) lat.push(r.ms); }));
    if (Date.now() - t0 > 30000) break;
  }
  await Promise.all(jobs);
  const m1 = (await req('GET', '/metrics')).text;
  lat.sort((a, b) => a - b);
  const q = (x) => lat[Math.min(lat.length - 1, Math.floor(x * lat.length))].toFixed(1);
  const dOrders = count(m1, /^http_requests_total\{.*route="\/orders",/) - count(m0, /^http_requests_total\{.*route="\/orders",/);
  const dGet = count(m1, /^http_requests_total\{.*route="\/orders\/\{id\}"/) - count(m0, /^http_requests_total\{.*route="\/orders\/\{id\}"/);
  const dCreated = count(m1, /^orders_created_total /) - count(m0, /^orders_created_total /);
  console.log(`requests ${lat.length} in ${((Date.now() - t0) / 1000).toFixed(1)} s, errors ${errors}, p50 ${q(0.5)} ms, p95 ${q(0.95)} ms, p99 ${q(0.99)} ms, max ${lat[lat.length - 1].toFixed(1)} ms`);
  console.log(`POST /orders sent ${sent.orders} counted ${dOrders}; GET /orders/{id} sent ${sent.get} counted ${dGet}; created ${sent.created} counted ${dCreated}`);
  child.kill('SIGTERM'); fake.close(); agent.destroy();
  process.exit(errors || dOrders !== sent.orders || dGet !== sent.get || dCreated !== sent.created ? 1 : 0);
})();
