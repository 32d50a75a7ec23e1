// Flawed: "lossless backpressure": fan-out goes through one global queue that waits until every
// subscriber has drained before it sends the next message. One stalled client stops everyone,
// publishes included, and is never closed.
'use strict';
const { Service } = require('./server.js');

const HIGH_WATER = 64 * 1024;

class Blocking extends Service {
  constructor(...args) {
    super(...args);
    this.queue = [];
    this.pumping = false;
  }

  publish(name, data, done) {
    this.queue.push({ name, data, done });
    if (!this.pumping) this.pump();
  }

  pump() {
    this.pumping = true;
    while (this.queue.length) {
      const { name } = this.queue[0];
      const ch = this.channel(name);
      const busy = [...ch.subscribers].some((c) => c.ws.bufferedAmount > HIGH_WATER);
      if (busy) {
        setTimeout(() => this.pump(), 5);
        return;
      }
      const { data, done } = this.queue.shift();
      super.publish(name, data, done);
    }
    this.pumping = false;
  }

  deliver(conn, text) {
    if (conn.closing) return;
    conn.ws.send(text);
  }
}

new Blocking().listen();
