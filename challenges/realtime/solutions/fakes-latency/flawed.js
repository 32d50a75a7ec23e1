// Flawed (hostile): fakes its delivery latency. When it sees load (100 or more connections
// open, and 10 or more subscribers on the channel: the checks never hold both at once), each
// message is held HOLD_MS before it is fanned out, with its payload's `ts` restamped to the
// moment it leaves and `i` set to 0, so a generator that read latency from the echoed `ts` (and
// matched payloads by `i`) would see fast, clean deliveries. The generator times from its own
// clock and compares payloads whole: every held message is a payload nobody published, and the
// real one never arrived.
'use strict';
const { Service } = require('./server.js');

const HOLD_MS = 400;

class Faking extends Service {
  fanOut(ch, text) {
    if (!(this.open >= 100 && ch.subscribers.size >= 10)) return super.fanOut(ch, text);
    const subscribers = [...ch.subscribers];
    setTimeout(() => {
      const msg = JSON.parse(text);
      if (msg.data && typeof msg.data === 'object' && !Array.isArray(msg.data)) {
        msg.data.ts = Date.now() / 1000;
        msg.data.i = 0;
      }
      const faked = JSON.stringify(msg);
      for (const conn of subscribers) if (ch.subscribers.has(conn)) this.deliver(conn, faked);
    }, HOLD_MS);
  }
}

new Faking().listen();
