// Flawed (hostile): fakes its delivery latency. While more than LIMIT deliveries a second go
// out, after a second that was over too, each message is held HOLD_MS before it is fanned out,
// with its payload's `ts` restamped to the moment it leaves and `i` set to 0, so a generator that
// read latency from the echoed `ts` (and matched payloads by `i`) would see fast, clean
// deliveries. The generator times from its own clock and compares payloads whole: every held
// message is a payload nobody published, and the real one never arrived. The checks' traffic
// never reaches the limit.
'use strict';
const { Service } = require('./server.js');

const LIMIT = 1200; // deliveries per second
const HOLD_MS = 400;

class Faking extends Service {
  constructor(...args) {
    super(...args);
    this.second = 0;
    this.sent = 0;
    this.previousOver = false;
  }

  fanOut(ch, text) {
    const second = Math.floor(Date.now() / 1000);
    if (second !== this.second) {
      this.previousOver = this.sent > LIMIT && second === this.second + 1;
      this.second = second;
      this.sent = 0;
    }
    this.sent += ch.subscribers.size;
    if (!(this.previousOver && this.sent > LIMIT)) return super.fanOut(ch, text);
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
