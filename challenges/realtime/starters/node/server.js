// Starter service (ws): GET /healthz answers, GET /ws upgrades to a WebSocket and acknowledges
// `subscribe` (with seq 0: nothing is published yet); everything else is a 501 or an
// `unknown_op` error until you build it from BRIEF.md.
const http = require('http');
const {WebSocketServer} = require('ws');

const port = Number(process.env.PORT || 8080);
const notImplemented = JSON.stringify({title: 'not implemented', status: 501});

const server = http.createServer((req, res) => {
  req.resume();  // drain the body so the connection stays usable
  req.on('end', () => {
    if (req.method === 'GET' && req.url === '/healthz') {
      res.writeHead(200, {'Content-Type': 'text/plain'});
      return res.end('ok');
    }
    if (req.url === '/ws') {  // /ws without a WebSocket upgrade: 426, no upgrade
      res.writeHead(426, {'Content-Type': 'text/plain', 'Sec-WebSocket-Version': '13'});
      return res.end('expected a WebSocket upgrade');
    }
    res.writeHead(501, {'Content-Type': 'application/problem+json'});
    res.end(notImplemented);
  });
});

const wss = new WebSocketServer({noServer: true});
server.on('upgrade', (req, socket, head) => {
  if (req.url !== '/ws') {
    socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    return;
  }
  // ws answers an invalid upgrade (bad key, version other than 13) with a 400 itself
  wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
});

wss.on('connection', (ws) => {
  const send = (event) => ws.send(JSON.stringify(event));
  ws.on('message', (data, isBinary) => {
    let command = null;
    try {
      command = isBinary ? null : JSON.parse(data.toString());
    } catch (e) {
      command = null;
    }
    if (command === null || typeof command !== 'object' || Array.isArray(command)) {
      send({type: 'error', code: 'bad_json', message: 'not a JSON object'});
    } else if (command.op === 'subscribe') {
      send({type: 'subscribed', channel: command.channel, seq: 0});
    } else {
      send({type: 'error', code: 'unknown_op', message: 'todo'});
    }
  });
});

server.listen(port, '0.0.0.0', () => console.log(`starter listening on ${port}`));
