// Flawed: unsubscribe acknowledges at once but leaves the channel's subscriber set alone until a
// periodic clean-up, so messages keep arriving after the acknowledgement for a while.
'use strict';
const { Service } = require('./server.js');

class LazyUnsubscribe extends Service {
  removeSubscription(conn, name) {
    conn.channels.delete(name);
    setTimeout(() => {
      if (!conn.channels.has(name)) this.channels.get(name)?.subscribers.delete(conn);
    }, 2000);
  }
}

new LazyUnsubscribe().listen();
