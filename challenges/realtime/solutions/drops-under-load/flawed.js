// Flawed: "overload protection": while more than LIMIT deliveries a second go out, and the
// previous second was over LIMIT too, every tenth message is stored (seq, history) but not fanned
// out. The checks' traffic, a short burst of concurrent publishers included, looks perfect;
// sustained fan-out, as in the load phase, loses messages.
'use strict';
const { Service } = require('./server.js');

const LIMIT = 1200; // deliveries per second

class Shedding extends Service {
  constructor(...args) {
    super(...args);
    this.second = 0;
    this.sent = 0;
    this.previousOver = false;
    this.over = 0;
  }

  fanOut(ch, text) {
    const second = Math.floor(Date.now() / 1000);
    if (second !== this.second) {
      this.previousOver = this.sent > LIMIT && second === this.second + 1;
      this.second = second;
      this.sent = 0;
    }
    if (this.previousOver && this.sent > LIMIT && ++this.over % 10 === 0) return;
    this.sent += ch.subscribers.size;
    super.fanOut(ch, text);
  }
}

new Shedding().listen();
