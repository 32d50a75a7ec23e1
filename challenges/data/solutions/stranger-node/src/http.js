'use strict';

const MAX_BODY_BYTES = 1024 * 1024;

/** An error that maps to an RFC 9457 problem response. */
class HttpError extends Error {
  constructor(status, title, detail, extra = {}) {
    super(detail || title);
    this.status = status;
    this.title = title;
    this.detail = detail;
    this.extra = extra; // { headers?, fields? }
  }
}

const TITLES = {
  400: 'Bad Request',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  412: 'Precondition Failed',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  428: 'Precondition Required',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

const badRequest = (detail, fields) => new HttpError(400, TITLES[400], detail, { fields });
const notFound = (detail) => new HttpError(404, TITLES[404], detail);
const conflict = (detail, fields) => new HttpError(409, TITLES[409], detail, { fields });
const unprocessable = (detail, fields) => new HttpError(422, TITLES[422], detail, { fields });

function send(res, status, body, headers = {}) {
  const payload = body === undefined ? '' : typeof body === 'string' ? body : JSON.stringify(body);
  const h = {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(payload),
    ...headers,
  };
  if (res.ctx && res.ctx.shuttingDown) h.Connection = 'close';
  res.writeHead(status, h);
  res.end(payload);
}

function sendProblem(res, err, instance) {
  const status = err.status || 500;
  const body = {
    type: 'about:blank',
    title: err.title || TITLES[status] || 'Error',
    status,
  };
  if (err.detail) body.detail = err.detail;
  if (instance) body.instance = instance;
  if (err.extra && err.extra.fields) Object.assign(body, err.extra.fields);
  const headers = { 'Content-Type': 'application/problem+json; charset=utf-8' };
  if (err.extra && err.extra.headers) Object.assign(headers, err.extra.headers);
  send(res, status, body, headers);
}

/** Reads and parses a JSON request body (bounded). Resolves to the parsed value. */
function readJson(req) {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > MAX_BODY_BYTES) {
      reject(new HttpError(413, TITLES[413], `request body exceeds ${MAX_BODY_BYTES} bytes`, { headers: { Connection: 'close' } }));
      req.resume();
      return;
    }
    const chunks = [];
    let size = 0;
    let failed = false;
    req.on('data', (chunk) => {
      if (failed) return;
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        failed = true;
        reject(new HttpError(413, TITLES[413], `request body exceeds ${MAX_BODY_BYTES} bytes`, { headers: { Connection: 'close' } }));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (failed) return;
      const text = Buffer.concat(chunks).toString('utf8');
      if (text.trim() === '') {
        reject(badRequest('request body must be a JSON object'));
        return;
      }
      try {
        resolve(JSON.parse(text));
      } catch (e) {
        reject(badRequest('request body is not valid JSON'));
      }
    });
    req.on('error', (e) => {
      if (!failed) {
        failed = true;
        reject(e);
      }
    });
  });
}

module.exports = { HttpError, TITLES, badRequest, notFound, conflict, unprocessable, send, sendProblem, readJson };
