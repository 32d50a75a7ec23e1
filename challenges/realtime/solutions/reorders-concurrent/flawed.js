// Flawed: the seq is assigned at once, but fan-out waits for an asynchronous "persist" step of
// random length, so messages published close together reach subscribers out of order.
'use strict';
const { Service } = require('./server.js');

class Reordering extends Service {
  publish(name, data, done) {
    const ch = this.channel(name);
    ch.seq += 1;
    const seq = ch.seq;
    const text = JSON.stringify({ type: 'message', channel: name, seq, data });
    ch.history.push({ seq, text });
    if (ch.history.length > this.cfg.historySize) ch.history.shift();
    setTimeout(() => {
      this.fanOut(ch, text);
      done(seq);
    }, Math.floor(Math.random() * 4));
  }
}

new Reordering().listen();
