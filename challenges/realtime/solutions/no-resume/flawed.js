// Flawed: last_seq is accepted but ignored: no replay and no reset, only live messages.
'use strict';
const { Service } = require('./server.js');

class NoResume extends Service {
  replay() {}
}

new NoResume().listen();
