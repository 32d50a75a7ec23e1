'use strict';

const INT4_MAX = 2147483647;

/** Path ids: a positive decimal integer that fits exactly in a JS number (bigint ids). */
function parsePathId(s) {
  if (!/^\d{1,16}$/.test(s)) return null;
  const n = Number(s);
  if (n < 1 || !Number.isSafeInteger(n)) return null;
  return n;
}

/** Query integer in [min, max]; returns undefined when absent; throws via onError when invalid. */
function parseLimit(raw, dflt, min, max) {
  if (raw === null) return dflt;
  if (!/^\d{1,4}$/.test(raw)) return NaN;
  const n = Number(raw);
  if (n < min || n > max) return NaN;
  return n;
}

/**
 * A price filter: any integer (cents). Returns a decimal string safe to cast to bigint, or null
 * when invalid. Out-of-bigint values are clamped (no integer column value lies beyond them).
 */
function parsePriceFilter(raw) {
  const m = /^([+-]?)(\d+)$/.exec(raw);
  if (!m) return null;
  const neg = m[1] === '-';
  let digits = m[2].replace(/^0+(?=\d)/, '');
  if (digits.length > 18) digits = '1000000000000000000';
  return (neg && digits !== '0' ? '-' : '') + digits;
}

const isPlainObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
const isInt = (v) => typeof v === 'number' && Number.isInteger(v);

/** Strings stored in text columns: PostgreSQL text cannot hold NUL. */
function isText(v, { allowEmpty = false, max = 1000 } = {}) {
  return typeof v === 'string' && (allowEmpty || v.trim().length > 0) && v.length <= max && !v.includes('\u0000');
}

const TS_RE = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?(?:([Zz])|([+\- ])(\d{2}):(\d{2}))$/;

/**
 * RFC 3339 date-time (with Z or a numeric offset). A '+' in an un-encoded query string arrives
 * as a space: it is read back as '+'. Returns { text, micros } or null.
 */
function parseTimestamp(raw) {
  if (typeof raw !== 'string') return null;
  const m = TS_RE.exec(raw);
  if (!m) return null;
  const [, Y, Mo, D, h, mi, s, frac = '', z, sign, oh, om] = m;
  const year = +Y, month = +Mo, day = +D, hour = +h, minute = +mi, second = +s;
  if (year < 1 || month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59) return null;
  const dim = new Date(Date.UTC(year, month, 0)).getUTCDate();
  if (day > dim) return null;
  let offsetMin = 0;
  let offsetText = 'Z';
  if (!z) {
    if (+oh > 23 || +om > 59) return null;
    const sgn = sign === '-' ? -1 : 1;
    offsetMin = sgn * (+oh * 60 + +om);
    offsetText = `${sign === '-' ? '-' : '+'}${oh}:${om}`;
  }
  const d = new Date(0);
  d.setUTCFullYear(year, month - 1, day);
  d.setUTCHours(hour, minute, second, 0);
  const fracMicros = frac ? BigInt((frac.slice(1) + '000000').slice(0, 6)) : 0n;
  const micros = BigInt(d.getTime()) * 1000n + fracMicros - BigInt(offsetMin) * 60000000n;
  const text = `${Y}-${Mo}-${D}T${h}:${mi}:${s}${frac.slice(0, 7)}${offsetText}`;
  return { text, micros };
}

/**
 * If-Match: "*" or a list of entity tags. Our tags are "<version>"; a bare number and a weak
 * W/"n" are tolerated. Returns { any: true } | { versions: number[] }.
 */
function parseIfMatch(header) {
  const value = String(header).trim();
  if (value === '*') return { any: true };
  const versions = [];
  for (let part of value.split(',')) {
    part = part.trim();
    if (part.startsWith('W/')) part = part.slice(2);
    const m = /^(?:"(\d{1,10})"|(\d{1,10}))$/.exec(part);
    if (m) {
      const n = Number(m[1] || m[2]);
      if (n <= INT4_MAX) versions.push(n);
    }
  }
  return { versions };
}

module.exports = {
  INT4_MAX, parsePathId, parseLimit, parsePriceFilter, isPlainObject, isInt, isText, parseTimestamp, parseIfMatch,
};
