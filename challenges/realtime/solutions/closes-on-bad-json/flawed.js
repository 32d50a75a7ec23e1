// Flawed: a message that is not valid JSON closes the connection (1003) instead of an error.
'use strict';
const { Service } = require('./server.js');

class Strict extends Service {
  onMessage(conn, data, isBinary) {
    if (!isBinary) {
      try {
        JSON.parse(data.toString('utf8'));
      } catch {
        this.serverClose(conn, 1003, 'invalid JSON');
        return;
      }
    }
    super.onMessage(conn, data, isBinary);
  }
}

new Strict().listen();
