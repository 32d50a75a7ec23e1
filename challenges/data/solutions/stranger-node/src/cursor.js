'use strict';

const crypto = require('crypto');

/**
 * Opaque, signed keyset cursors. The payload names the sort, a digest of the filters it was
 * issued for and the last row's sort key; an HMAC makes forged or altered cursors detectable.
 */
class CursorCodec {
  constructor(secret) {
    this.key = crypto.createHash('sha256').update(String(secret)).digest();
  }

  sign(data) {
    return crypto.createHmac('sha256', this.key).update(data).digest().subarray(0, 16);
  }

  encode(payload) {
    const body = Buffer.from(JSON.stringify(payload)).toString('base64url');
    return `${body}.${this.sign(body).toString('base64url')}`;
  }

  /** Returns the payload, or null when the cursor was not issued by us. */
  decode(token) {
    if (typeof token !== 'string' || token.length > 512) return null;
    const dot = token.indexOf('.');
    if (dot <= 0 || dot !== token.lastIndexOf('.')) return null;
    const body = token.slice(0, dot);
    const sig = token.slice(dot + 1);
    if (!/^[A-Za-z0-9_-]+$/.test(body) || !/^[A-Za-z0-9_-]+$/.test(sig)) return null;
    const given = Buffer.from(sig, 'base64url');
    const expected = this.sign(body);
    if (given.length !== expected.length || !crypto.timingSafeEqual(given, expected)) return null;
    try {
      const payload = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'));
      return payload !== null && typeof payload === 'object' ? payload : null;
    } catch (e) {
      return null;
    }
  }
}

module.exports = { CursorCodec };
