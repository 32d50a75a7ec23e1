// Flawed (hostile): hides the messages it drops. While more than LIMIT deliveries a second go
// out, after a second that was over too, every tenth publish is answered 200 with the channel's
// current seq (the previous message's) and neither stored nor fanned out. The seqs subscribers
// see run on without a gap, so a generator that trusted them would count nothing lost; the
// generator's own record (an acknowledged publish that never arrived) does, and the repeated
// seq in the answers is itself an error. The checks' traffic never reaches the limit.
'use strict';
const { Service } = require('./server.js');

const LIMIT = 1200; // deliveries per second

class Hiding extends Service {
  constructor(...args) {
    super(...args);
    this.second = 0;
    this.sent = 0;
    this.previousOver = false;
    this.over = 0;
  }

  publish(name, data, done) {
    const second = Math.floor(Date.now() / 1000);
    if (second !== this.second) {
      this.previousOver = this.sent > LIMIT && second === this.second + 1;
      this.second = second;
      this.sent = 0;
    }
    if (this.previousOver && this.sent > LIMIT && ++this.over % 10 === 0) {
      return done(this.channel(name).seq); // "stored": the same seq again, nothing delivered
    }
    super.publish(name, data, done);
  }

  fanOut(ch, text) {
    this.sent += ch.subscribers.size;
    super.fanOut(ch, text);
  }
}

new Hiding().listen();
