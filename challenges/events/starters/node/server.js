// Starter service: reads the brief's settings from the environment and answers GET /healthz;
// everything else is 501 until you build it from BRIEF.md (add an AMQP 0-9-1 client (pika, aio-pika, amqplib) to
// package.json when you connect).
const http = require('http');

// The brief's environment variables (the grader sets them; the defaults are the brief's values).
const settings = {
  AMQP_URL: process.env.AMQP_URL || 'amqp://service:service@127.0.0.1:5672/events',
  LEDGER_URL: process.env.LEDGER_URL || 'http://127.0.0.1:9090',
  MAX_IN_FLIGHT: process.env.MAX_IN_FLIGHT || '20',
  MAX_ATTEMPTS: process.env.MAX_ATTEMPTS || '3',
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
  const target = new URL(settings.AMQP_URL);  // host and port only: never log the password
  console.log(`starter listening on ${port} (AMQP_URL host ${target.hostname}:${target.port})`);
});
