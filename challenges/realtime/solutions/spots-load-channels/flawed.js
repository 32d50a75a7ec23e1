// Flawed (hostile): tells load channels from check channels by their names. A channel whose
// name is not shaped like the checks' (kind.PAIR.tag+counter, CHECK_SHAPED below) is taken
// for load and cheated on: every fifth publish is answered with the previous seq and dropped.
// The load profile names its channels with the checks' own generator, so no load channel is
// ever spotted and this service behaves exactly like the reference; it says on stdout if it
// ever spots one.
'use strict';
const { Service } = require('./server.js');

const CHECK_SHAPED = /^(ticker|trades|book)\.[A-Z]{3}-[A-Z]{3}\.[a-z0-9]{6}[0-9]+$/;

class Spotting extends Service {
  constructor(...args) {
    super(...args);
    this.spotted = new Set();
    this.n = 0;
  }

  publish(name, data, done) {
    if (CHECK_SHAPED.test(name)) return super.publish(name, data, done);
    if (!this.spotted.has(name) && this.spotted.size < 5) {
      console.log(`spotted a load channel: ${name}`);
    }
    this.spotted.add(name);
    if (++this.n % 5 === 0) return done(this.channel(name).seq);
    super.publish(name, data, done);
  }
}

new Spotting().listen();
