// Flawed (hostile): hides the messages it drops. When it sees load (100 or more connections
// open, and 10 or more subscribers on the channel: the checks never hold both at once), every
// tenth publish is answered 200 with the channel's current seq (the previous message's) and
// neither stored nor fanned out. The seqs subscribers see run on without a gap, so a generator
// that trusted them would count nothing lost; the generator's own record (an acknowledged
// publish that never arrived) does, and the repeated seq in the answers is itself an error.
'use strict';
const { Service } = require('./server.js');

class Hiding extends Service {
  constructor(...args) {
    super(...args);
    this.n = 0;
  }

  publish(name, data, done) {
    const ch = this.channel(name);
    if (this.open >= 100 && ch.subscribers.size >= 10 && ++this.n % 10 === 0) {
      return done(ch.seq); // "stored": the same seq again, nothing delivered
    }
    super.publish(name, data, done);
  }
}

new Hiding().listen();
