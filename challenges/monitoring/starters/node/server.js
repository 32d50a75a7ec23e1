// Starter service: answers GET /healthz and GET /metrics (Prometheus text format 0.0.4, one
// request counter to grow from); everything else is 501 until you build it from BRIEF.md.
const http = require('http');
const port = Number(process.env.PORT || 8080);
const notImplemented = JSON.stringify({title: 'not implemented', status: 501});
const routes = new Set(['/healthz', '/metrics']);
const counts = new Map();

function metricsText() {
  const lines = [
    '# HELP http_requests_total HTTP requests answered.',
    '# TYPE http_requests_total counter',
  ];
  for (const key of [...counts.keys()].sort()) {
    const [method, route, status] = key.split(' ');
    lines.push(`http_requests_total{method="${method}",route="${route}",status="${status}"} ${counts.get(key)}`);
  }
  return lines.join('\n') + '\n';
}

http.createServer((req, res) => {
  req.resume();  // drain the body so the connection stays usable
  req.on('end', () => {
    const path = req.url.split('?')[0];
    const route = routes.has(path) ? path : 'unmatched';
    let status = 501, body = null, ctype = 'application/problem+json';
    if (req.method === 'GET' && path === '/healthz') {
      status = 200; body = 'ok'; ctype = 'text/plain';
    } else if (req.method === 'GET' && path === '/metrics') {
      status = 200; ctype = 'text/plain; version=0.0.4; charset=utf-8';
    } else {
      body = notImplemented;
    }
    const method = req.method === 'GET' || req.method === 'POST' ? req.method : 'OTHER';
    const key = `${method} ${route} ${status}`;  // counted once, when its response is known
    counts.set(key, (counts.get(key) || 0) + 1);
    if (body === null) body = metricsText();
    res.writeHead(status, {'Content-Type': ctype});
    res.end(body);
  });
}).listen(port, '0.0.0.0', () => console.log(`starter listening on ${port}`));
