// Starter service: reads the brief's settings from the environment and answers GET /healthz;
// everything else is 501 until you build it from BRIEF.md (add a PostgreSQL driver (psycopg, pg) to
// package.json when you connect).
const http = require('http');

// The brief's environment variables (the grader sets them; the defaults are the brief's values).
const settings = {
  DATABASE_URL: process.env.DATABASE_URL || 'postgresql://app:app@127.0.0.1:5432/shop',
};
const port = Number(process.env.PORT || 8080);
const notImplemented = JSON.stringify({title: 'not implemented', status: 501});

http.createServer((req, res) => {
  req.resume();  // drain the body so the connection stays usable
  req.on('end', () => {
    if (req.method === 'GET' && req.url === '/healthz') {
      res.writeHead(200, {'Content-Type': 'text/plain'});
      return res.end('ok');
    }
    res.writeHead(501, {'Content-Type': 'application/problem+json'});
    res.end(notImplemented);
  });
}).listen(port, '0.0.0.0', () => {
  const target = new URL(settings.DATABASE_URL);  // host and port only: never log the password
  console.log(`starter listening on ${port} (DATABASE_URL host ${target.hostname}:${target.port})`);
});
