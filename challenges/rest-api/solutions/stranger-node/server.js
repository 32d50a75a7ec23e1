'use strict';
// Desk booking REST API — Node.js 18, standard library only, state in memory.
//
// Concurrency note: Node runs JavaScript on one thread. Every request is fully
// read (body included) before it is handled, and the handling itself is
// synchronous (no await / callback between "check" and "write"), so no two
// requests can interleave inside a check-then-act sequence.

const http = require('http');
const crypto = require('crypto');

const PORT = parseInt(process.env.PORT || '8080', 10) || 8080;
const MAX_BODY = 1024 * 1024;
const IDEMPOTENCY_TTL_MS = 25 * 60 * 60 * 1000; // remembered for at least 24 h

// ---------------------------------------------------------------------------
// State

let deskSeq = 0;
let bookingSeq = 0;
const desks = new Map();          // id -> desk record
const deskList = [];              // desk records, ascending seq (creation order)

const bookings = new Map();       // id -> booking record
const bookingsByDate = new Map(); // date -> booking records, ascending seq
const dates = [];                 // sorted list of dates that have bookings
const deskDay = new Map();        // desk_id + '\n' + date -> booking record
const userDay = new Map();        // user + '\n' + date -> booking record
const bookingsByDesk = new Map(); // desk_id -> Set of booking records
const bookingsByUser = new Map(); // user -> Set of booking records

const idempotency = new Map();    // key -> { body, status, payload, location, at }

const CURSOR_KEY = crypto.randomBytes(32);

// ---------------------------------------------------------------------------
// Helpers: responses

const TITLES = {
  400: 'Bad Request',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  412: 'Precondition Failed',
  413: 'Content Too Large',
  422: 'Unprocessable Content',
  500: 'Internal Server Error',
};

function send(res, status, body, headers) {
  const h = headers ? Object.assign({}, headers) : {};
  if (body === undefined) {
    res.writeHead(status, h);
    res.end();
    return;
  }
  const text = JSON.stringify(body);
  h['Content-Type'] = h['Content-Type'] || 'application/json';
  h['Content-Length'] = Buffer.byteLength(text);
  res.writeHead(status, h);
  res.end(text);
}

function problem(res, status, detail, headers) {
  const h = Object.assign({ 'Content-Type': 'application/problem+json' }, headers || {});
  const body = { type: 'about:blank', title: TITLES[status] || 'Error', status };
  if (detail) body.detail = detail;
  send(res, status, body, h);
}

class HttpError extends Error {
  constructor(status, detail, headers) {
    super(detail || TITLES[status]);
    this.status = status;
    this.detail = detail;
    this.headers = headers;
  }
}

// ---------------------------------------------------------------------------
// Helpers: validation

function charCount(s) {
  // Count Unicode code points, not UTF-16 units.
  let n = 0;
  for (const _ of s) n++; // eslint-disable-line no-unused-vars
  return n;
}

function validText(v, min, max, nonBlank) {
  if (typeof v !== 'string') return false;
  const n = charCount(v);
  if (n < min || n > max) return false;
  if (nonBlank && v.trim() === '') return false;
  return true;
}

const DATE_RE = /^(\d{4})-(\d{2})-(\d{2})$/;
function isDate(s) {
  if (typeof s !== 'string') return false;
  const m = DATE_RE.exec(s);
  if (!m) return false;
  const y = +m[1], mo = +m[2], d = +m[3];
  if (y < 1 || mo < 1 || mo > 12 || d < 1) return false;
  const leap = (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
  const dim = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][mo - 1];
  return d <= dim;
}

function isPlainObject(v) {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function parseJsonBody(raw) {
  // 400 for empty body or JSON syntax error.
  if (raw.length === 0) throw new HttpError(400, 'A JSON request body is required');
  let text = raw.toString('utf8');
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  if (text.trim() === '') throw new HttpError(400, 'A JSON request body is required');
  try {
    return { value: JSON.parse(text), text };
  } catch (e) {
    throw new HttpError(400, 'The request body is not valid JSON');
  }
}

// `floor` must be a JSON number with no fraction: 3 is fine, 3.5 / 3.0 / 3e0 are not.
// JSON.parse loses that distinction, so look at the raw literal as well.
const FLOAT_FLOOR_RE = /"floor"\s*:\s*-?\d+(?:\.|[eE])/;

function validateFloor(v, rawText) {
  if (typeof v !== 'number' || !Number.isInteger(v)) return 'floor must be an integer';
  if (v < -5 || v > 200) return 'floor must be between -5 and 200';
  if (FLOAT_FLOOR_RE.test(rawText)) return 'floor must be an integer without a fraction';
  return null;
}

function validateFeatures(v) {
  if (!Array.isArray(v)) return 'features must be an array of strings';
  if (v.length > 20) return 'features may hold at most 20 items';
  for (const f of v) {
    if (!validText(f, 1, 50, false)) return 'each feature must be a string of 1-50 characters';
  }
  return null;
}

const DESK_FIELDS = new Set(['name', 'floor', 'features']);
const BOOKING_FIELDS = new Set(['desk_id', 'user', 'date']);

function validateDeskBody(body, rawText, partial) {
  if (!isPlainObject(body)) throw new HttpError(422, 'The body must be a JSON object');
  for (const k of Object.keys(body)) {
    if (!DESK_FIELDS.has(k)) throw new HttpError(422, `Unknown field: ${k}`);
  }
  if (!partial || 'name' in body) {
    if (!('name' in body)) throw new HttpError(422, 'name is required');
    if (!validText(body.name, 1, 100, true)) {
      throw new HttpError(422, 'name must be a string of 1-100 characters, not only whitespace');
    }
  }
  if (!partial || 'floor' in body) {
    if (!('floor' in body)) throw new HttpError(422, 'floor is required');
    const err = validateFloor(body.floor, rawText);
    if (err) throw new HttpError(422, err);
  }
  if ('features' in body) {
    const err = validateFeatures(body.features);
    if (err) throw new HttpError(422, err);
  }
}

function validateBookingBody(body) {
  if (!isPlainObject(body)) throw new HttpError(422, 'The body must be a JSON object');
  for (const k of Object.keys(body)) {
    if (!BOOKING_FIELDS.has(k)) throw new HttpError(422, `Unknown field: ${k}`);
  }
  if (!('desk_id' in body)) throw new HttpError(422, 'desk_id is required');
  if (!('user' in body)) throw new HttpError(422, 'user is required');
  if (!('date' in body)) throw new HttpError(422, 'date is required');
  if (typeof body.desk_id !== 'string') throw new HttpError(422, 'desk_id must be a string');
  if (!validText(body.user, 1, 100, true)) {
    throw new HttpError(422, 'user must be a string of 1-100 characters, not only whitespace');
  }
  if (!isDate(body.date)) throw new HttpError(422, 'date must be a real calendar date YYYY-MM-DD');
  if (!desks.has(body.desk_id)) throw new HttpError(422, 'desk_id names no desk');
}

function jsonEqual(a, b) {
  if (a === b) return true;
  if (typeof a !== typeof b) return false;
  if (a === null || b === null || typeof a !== 'object') return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    if (a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!jsonEqual(a[i], b[i])) return false;
    return true;
  }
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  for (const k of ka) {
    if (!Object.prototype.hasOwnProperty.call(b, k)) return false;
    if (!jsonEqual(a[k], b[k])) return false;
  }
  return true;
}

// ---------------------------------------------------------------------------
// Helpers: ETags

function deskEtag(d) {
  return `"v${d.version}-${d.id}"`;
}

// Parse an If-Match / If-None-Match value into a list of tags (or '*').
function parseEtagList(value) {
  const v = String(value).trim();
  if (v === '*') return '*';
  const tags = [];
  for (let part of v.split(',')) {
    part = part.trim();
    if (!part) continue;
    const weak = part.startsWith('W/');
    if (weak) part = part.slice(2);
    tags.push({ weak, tag: part });
  }
  return tags;
}

function ifMatchOk(header, current) {
  if (header === undefined) return true;
  const tags = parseEtagList(header);
  if (tags === '*') return true;
  // Strong comparison: weak tags never match.
  return tags.some((t) => !t.weak && t.tag === current);
}

function ifNoneMatchHits(header, current) {
  if (header === undefined) return false;
  const tags = parseEtagList(header);
  if (tags === '*') return true;
  // Weak comparison for If-None-Match.
  return tags.some((t) => t.tag === current);
}

// ---------------------------------------------------------------------------
// Helpers: cursors (HMAC-signed position keys)

function b64url(buf) {
  return Buffer.from(buf).toString('base64').replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_');
}

function sign(payload) {
  return b64url(crypto.createHmac('sha256', CURSOR_KEY).update(payload).digest()).slice(0, 22);
}

function makeCursor(obj) {
  const payload = b64url(Buffer.from(JSON.stringify(obj), 'utf8'));
  return `${payload}.${sign(payload)}`;
}

function readCursor(cursor, kind) {
  if (typeof cursor !== 'string') return null;
  const dot = cursor.indexOf('.');
  if (dot <= 0) return null;
  const payload = cursor.slice(0, dot);
  const sig = cursor.slice(dot + 1);
  const expect = sign(payload);
  if (sig.length !== expect.length) return null;
  if (!crypto.timingSafeEqual(Buffer.from(sig), Buffer.from(expect))) return null;
  let obj;
  try {
    obj = JSON.parse(Buffer.from(payload.replace(/-/g, '+').replace(/_/g, '/'), 'base64').toString('utf8'));
  } catch (e) {
    return null;
  }
  if (!isPlainObject(obj) || obj.k !== kind || !Number.isInteger(obj.s)) return null;
  if (kind === 'b' && !isDate(obj.d)) return null;
  return obj;
}

// ---------------------------------------------------------------------------
// Helpers: query parameters

function parseListQuery(params, kind) {
  const q = {};
  const limit = params.get('limit');
  if (limit === null) {
    q.limit = 20;
  } else {
    if (!/^\d+$/.test(limit)) throw new HttpError(400, 'limit must be an integer from 1 to 100');
    const n = parseInt(limit, 10);
    if (n < 1 || n > 100) throw new HttpError(400, 'limit must be an integer from 1 to 100');
    q.limit = n;
  }
  const cursor = params.get('cursor');
  if (cursor !== null) {
    const c = readCursor(cursor, kind);
    if (!c) throw new HttpError(400, 'cursor is not one this service issued');
    q.cursor = c;
  } else {
    q.cursor = null;
  }
  return q;
}

// Binary search: first index in arr (ascending by .seq) with seq > s.
function firstAfterSeq(arr, s) {
  let lo = 0, hi = arr.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (arr[mid].seq <= s) lo = mid + 1; else hi = mid;
  }
  return lo;
}

function indexOfSeq(arr, s) {
  const i = firstAfterSeq(arr, s - 1);
  return i < arr.length && arr[i].seq === s ? i : -1;
}

// First index in sorted string array with value >= v.
function lowerBound(arr, v) {
  let lo = 0, hi = arr.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (arr[mid] < v) lo = mid + 1; else hi = mid;
  }
  return lo;
}

// ---------------------------------------------------------------------------
// Representations

function deskView(d) {
  return { id: d.id, name: d.name, floor: d.floor, features: d.features.slice() };
}

function bookingView(b) {
  return { id: b.id, desk_id: b.desk_id, user: b.user, date: b.date };
}

// ---------------------------------------------------------------------------
// Desk handlers

function createDesk(req, res, raw) {
  const { value: body, text } = parseJsonBody(raw);
  validateDeskBody(body, text, false);
  deskSeq += 1;
  const d = {
    seq: deskSeq,
    id: `dsk_${deskSeq.toString(36)}${crypto.randomBytes(2).toString('hex')}`,
    name: body.name,
    floor: body.floor,
    features: body.features === undefined ? [] : body.features.slice(),
    version: 1,
  };
  desks.set(d.id, d);
  deskList.push(d);
  send(res, 201, deskView(d), { Location: `/desks/${d.id}`, ETag: deskEtag(d) });
}

function getDesk(req, res, d) {
  const etag = deskEtag(d);
  if (ifNoneMatchHits(req.headers['if-none-match'], etag)) {
    send(res, 304, undefined, { ETag: etag });
    return;
  }
  send(res, 200, deskView(d), { ETag: etag });
}

function patchDesk(req, res, d, raw) {
  if (!ifMatchOk(req.headers['if-match'], deskEtag(d))) {
    throw new HttpError(412, 'If-Match does not match the current ETag');
  }
  const { value: body, text } = parseJsonBody(raw);
  validateDeskBody(body, text, true);
  let changed = false;
  if ('name' in body && body.name !== d.name) { d.name = body.name; changed = true; }
  if ('floor' in body && body.floor !== d.floor) { d.floor = body.floor; changed = true; }
  if ('features' in body && !jsonEqual(body.features, d.features)) {
    d.features = body.features.slice();
    changed = true;
  }
  if (changed) d.version += 1;
  send(res, 200, deskView(d), { ETag: deskEtag(d) });
}

function deleteDesk(req, res, d) {
  if (!ifMatchOk(req.headers['if-match'], deskEtag(d))) {
    throw new HttpError(412, 'If-Match does not match the current ETag');
  }
  desks.delete(d.id);
  const i = indexOfSeq(deskList, d.seq);
  if (i >= 0) deskList.splice(i, 1);
  const set = bookingsByDesk.get(d.id);
  if (set) {
    for (const b of Array.from(set)) removeBooking(b);
    bookingsByDesk.delete(d.id);
  }
  send(res, 204);
}

function listDesks(req, res, params) {
  const q = parseListQuery(params, 'd');
  let floor = null;
  const floorParam = params.get('floor');
  if (floorParam !== null) {
    if (!/^-?\d+$/.test(floorParam)) throw new HttpError(400, 'floor must be an integer');
    floor = parseInt(floorParam, 10);
  }
  const feature = params.get('feature');
  const start = q.cursor ? firstAfterSeq(deskList, q.cursor.s) : 0;
  const items = [];
  let more = false;
  for (let i = start; i < deskList.length; i++) {
    const d = deskList[i];
    if (floor !== null && d.floor !== floor) continue;
    if (feature !== null && !d.features.includes(feature)) continue;
    if (items.length === q.limit) { more = true; break; }
    items.push(d);
  }
  const next = more ? makeCursor({ k: 'd', s: items[items.length - 1].seq }) : null;
  send(res, 200, { items: items.map(deskView), next_cursor: next });
}

// ---------------------------------------------------------------------------
// Booking handlers

function addBooking(b) {
  bookings.set(b.id, b);
  let arr = bookingsByDate.get(b.date);
  if (!arr) {
    arr = [];
    bookingsByDate.set(b.date, arr);
    dates.splice(lowerBound(dates, b.date), 0, b.date);
  }
  arr.push(b); // seq is monotonic, so the array stays sorted
  deskDay.set(`${b.desk_id}\n${b.date}`, b);
  userDay.set(`${b.user}\n${b.date}`, b);
  let ds = bookingsByDesk.get(b.desk_id);
  if (!ds) { ds = new Set(); bookingsByDesk.set(b.desk_id, ds); }
  ds.add(b);
  let us = bookingsByUser.get(b.user);
  if (!us) { us = new Set(); bookingsByUser.set(b.user, us); }
  us.add(b);
}

function removeBooking(b) {
  if (!bookings.has(b.id)) return;
  bookings.delete(b.id);
  const arr = bookingsByDate.get(b.date);
  if (arr) {
    const i = indexOfSeq(arr, b.seq);
    if (i >= 0) arr.splice(i, 1);
    if (arr.length === 0) {
      bookingsByDate.delete(b.date);
      const j = lowerBound(dates, b.date);
      if (dates[j] === b.date) dates.splice(j, 1);
    }
  }
  const dk = `${b.desk_id}\n${b.date}`;
  if (deskDay.get(dk) === b) deskDay.delete(dk);
  const uk = `${b.user}\n${b.date}`;
  if (userDay.get(uk) === b) userDay.delete(uk);
  const ds = bookingsByDesk.get(b.desk_id);
  if (ds) { ds.delete(b); if (ds.size === 0) bookingsByDesk.delete(b.desk_id); }
  const us = bookingsByUser.get(b.user);
  if (us) { us.delete(b); if (us.size === 0) bookingsByUser.delete(b.user); }
}

function createBooking(req, res, raw) {
  const keyHeader = req.headers['idempotency-key'];
  let key = null;
  if (keyHeader !== undefined) {
    key = String(keyHeader);
    if (key.length < 1 || key.length > 255 || !/^[\x20-\x7e]+$/.test(key)) {
      throw new HttpError(400, 'Idempotency-Key must be 1-255 printable ASCII characters');
    }
  }
  const { value: body } = parseJsonBody(raw);

  if (key !== null) {
    const prior = idempotency.get(key);
    if (prior) {
      if (Date.now() - prior.at > IDEMPOTENCY_TTL_MS) {
        idempotency.delete(key);
      } else if (jsonEqual(prior.body, body)) {
        send(res, prior.status, prior.payload, { Location: prior.location, 'Idempotency-Replayed': 'true' });
        return;
      } else {
        throw new HttpError(422, 'Idempotency-Key was already used with a different body');
      }
    }
  }

  validateBookingBody(body);
  if (deskDay.has(`${body.desk_id}\n${body.date}`)) {
    throw new HttpError(409, 'The desk is already booked on that date');
  }
  if (userDay.has(`${body.user}\n${body.date}`)) {
    throw new HttpError(409, 'The user already has a booking on that date');
  }
  bookingSeq += 1;
  const b = {
    seq: bookingSeq,
    id: `bkg_${bookingSeq.toString(36)}${crypto.randomBytes(2).toString('hex')}`,
    desk_id: body.desk_id,
    user: body.user,
    date: body.date,
  };
  addBooking(b);
  const payload = bookingView(b);
  const location = `/bookings/${b.id}`;
  if (key !== null) {
    idempotency.set(key, { body, status: 201, payload, location, at: Date.now() });
  }
  send(res, 201, payload, { Location: location });
}

function listBookings(req, res, params) {
  const q = parseListQuery(params, 'b');
  const date = params.get('date');
  if (date !== null && !isDate(date)) throw new HttpError(400, 'date must be a YYYY-MM-DD date');
  const user = params.get('user');
  const deskId = params.get('desk_id');

  // After the cursor position (date, seq), in (date, seq) order.
  const cd = q.cursor ? q.cursor.d : null;
  const cs = q.cursor ? q.cursor.s : 0;
  const match = (b) => (user === null || b.user === user) && (deskId === null || b.desk_id === deskId);

  const items = [];
  let more = false;
  const take = (b) => {
    if (!match(b)) return true;
    if (items.length === q.limit) { more = true; return false; }
    items.push(b);
    return true;
  };

  const scanDate = (d) => {
    const arr = bookingsByDate.get(d);
    if (!arr) return true;
    const start = cd !== null && d === cd ? firstAfterSeq(arr, cs) : 0;
    for (let i = start; i < arr.length; i++) if (!take(arr[i])) return false;
    return true;
  };

  if (date !== null) {
    if (cd === null || cd <= date) scanDate(date);
  } else if (deskId !== null || user !== null) {
    // Small candidate set: sort it.
    let set;
    if (deskId !== null && user !== null) {
      const a = bookingsByDesk.get(deskId);
      const b = bookingsByUser.get(user);
      set = !a || !b ? null : (a.size <= b.size ? a : b);
    } else if (deskId !== null) {
      set = bookingsByDesk.get(deskId);
    } else {
      set = bookingsByUser.get(user);
    }
    if (set) {
      const cand = [];
      for (const b of set) {
        if (cd !== null && (b.date < cd || (b.date === cd && b.seq <= cs))) continue;
        cand.push(b);
      }
      cand.sort((x, y) => (x.date < y.date ? -1 : x.date > y.date ? 1 : x.seq - y.seq));
      for (const b of cand) if (!take(b)) break;
    }
  } else {
    for (let i = cd === null ? 0 : lowerBound(dates, cd); i < dates.length; i++) {
      if (!scanDate(dates[i])) break;
    }
  }

  let next = null;
  if (more) {
    const last = items[items.length - 1];
    next = makeCursor({ k: 'b', d: last.date, s: last.seq });
  }
  send(res, 200, { items: items.map(bookingView), next_cursor: next });
}

// ---------------------------------------------------------------------------
// Routing

function methodNotAllowed(allow) {
  return new HttpError(405, 'Method not allowed on this resource', { Allow: allow });
}

function decodeSegment(s) {
  try {
    return decodeURIComponent(s);
  } catch (e) {
    return null;
  }
}

function route(req, res, raw) {
  const url = req.url || '/';
  const qi = url.indexOf('?');
  let path = qi >= 0 ? url.slice(0, qi) : url;
  const search = qi >= 0 ? url.slice(qi + 1) : '';
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(path)) {
    // absolute-form request target
    try { path = new URL(path).pathname; } catch (e) { path = '/'; }
  }
  const parts = path.split('/');
  // parts[0] is '' for a path starting with '/'
  const method = req.method;

  if (parts.length === 2 && parts[0] === '' && parts[1] === 'healthz') {
    if (method !== 'GET') throw methodNotAllowed('GET');
    send(res, 200, { status: 'ok' });
    return;
  }

  if (parts[0] !== '' || (parts[1] !== 'desks' && parts[1] !== 'bookings')) {
    throw new HttpError(404, 'No resource at this path');
  }
  const collection = parts[1];

  if (parts.length === 2) {
    if (collection === 'desks') {
      if (method === 'GET') return listDesks(req, res, new URLSearchParams(search));
      if (method === 'POST') return createDesk(req, res, raw);
      throw methodNotAllowed('GET, POST');
    }
    if (method === 'GET') return listBookings(req, res, new URLSearchParams(search));
    if (method === 'POST') return createBooking(req, res, raw);
    throw methodNotAllowed('GET, POST');
  }

  if (parts.length === 3) {
    const id = decodeSegment(parts[2]);
    if (collection === 'desks') {
      if (method !== 'GET' && method !== 'PATCH' && method !== 'DELETE') {
        throw methodNotAllowed('GET, PATCH, DELETE');
      }
      const d = id ? desks.get(id) : undefined;
      if (!d) throw new HttpError(404, 'No desk with this id');
      if (method === 'GET') return getDesk(req, res, d);
      if (method === 'PATCH') return patchDesk(req, res, d, raw);
      return deleteDesk(req, res, d);
    }
    if (method !== 'GET' && method !== 'DELETE') throw methodNotAllowed('GET, DELETE');
    const b = id ? bookings.get(id) : undefined;
    if (!b) throw new HttpError(404, 'No booking with this id');
    if (method === 'GET') return send(res, 200, bookingView(b));
    removeBooking(b);
    return send(res, 204);
  }

  throw new HttpError(404, 'No resource at this path');
}

function handle(req, res, raw) {
  try {
    route(req, res, raw);
  } catch (e) {
    if (e instanceof HttpError) {
      problem(res, e.status, e.detail, e.headers);
    } else {
      console.error(e);
      if (!res.headersSent) problem(res, 500, 'Unexpected error');
      else res.destroy();
    }
  }
}

const server = http.createServer((req, res) => {
  const chunks = [];
  let size = 0;
  let tooLarge = false;
  req.on('data', (c) => {
    if (tooLarge) return;
    size += c.length;
    if (size > MAX_BODY) {
      tooLarge = true;
      chunks.length = 0;
      return;
    }
    chunks.push(c);
  });
  req.on('end', () => {
    if (tooLarge) {
      problem(res, 413, 'Request body too large', { Connection: 'close' });
      return;
    }
    handle(req, res, chunks.length === 1 ? chunks[0] : Buffer.concat(chunks));
  });
  req.on('error', () => {
    res.destroy();
  });
});

server.keepAliveTimeout = 120 * 1000;
server.headersTimeout = 125 * 1000;

// Forget idempotency keys well after their 24 h window.
setInterval(() => {
  const cutoff = Date.now() - IDEMPOTENCY_TTL_MS;
  for (const [k, v] of idempotency) {
    if (v.at < cutoff) idempotency.delete(k);
  }
}, 10 * 60 * 1000).unref();

server.listen(PORT, '0.0.0.0', () => {
  console.log(`desk booking service listening on 0.0.0.0:${PORT}`);
});

function shutdown() {
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
