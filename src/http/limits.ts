/**
 * Gunicorn's request limits and header-name policy, on top of node:http (llhttp).
 *
 * - limit_request_line: the request line ("METHOD SP target SP HTTP/x.y") longer than this gets
 *   400, as Gunicorn's LimitRequestLine. 0 is unlimited; values above 8190 mean 8190.
 * - limit_request_fields: more header fields than this gets 431 (LimitRequestHeaders). 0 or values
 *   above 32768 mean 32768.
 * - limit_request_field_size: one header field ("Name: value" and its CRLF) larger than this gets
 *   431. 0 means the default, 8190, as in Gunicorn 26 (its code and its own test
 *   `limit_header_default_01`, whatever its docs say).
 * - header_map: a header name containing '_' is dropped before the app sees it (drop), refused
 *   with 400 (refuse) or kept (dangerous).
 *
 * Two layers enforce them. llhttp itself bounds the total header bytes with `maxHeaderSize`, set to
 * Gunicorn's own bound for the configured limits (so nothing Gunicorn accepts is refused there;
 * node answers 431 beyond it), and `maxHeadersCount` is one more than the field limit so an excess
 * is seen rather than silently truncated. Then `checkRequest` runs at the start of every request,
 * before the app: a couple of comparisons for the line, and two per header.
 *
 * Sizes are node's latin1 strings, one char per byte. node:http strips the optional whitespace
 * around a header value, so a field's size is counted as name + ": " + value + CRLF.
 *
 * `onClientError` replaces node:http's answer to a parse error in one case: bytes that cannot be
 * parsed arrive after a complete request whose answer is still being made (a client pipelining
 * after HTTP/1.0 or `Connection: close`, or sending garbage after a request). node would write a
 * bare 400 in place of that answer and cut the connection; Gunicorn answers the request, then
 * closes. So does this: the pending answer goes out with Connection: close, then the connection
 * closes. Every other error gets node's own answer.
 */
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type net from 'node:net';
import type { Logger } from '../log/logger.js';
import { sendError } from './errors.js';

export type HeaderMap = 'drop' | 'refuse' | 'dangerous';

/** Gunicorn's constants (gunicorn/http/message.py). */
export const MAX_REQUEST_LINE = 8190;
export const MAX_HEADERS = 32768;
export const DEFAULT_MAX_HEADERFIELD_SIZE = 8190;
/** What Gunicorn's fast parser allows for an "unlimited" request line. */
export const UNLIMITED_REQUEST_LINE = 1024 * 1024;

export interface RequestLimits {
  /** Maximum request-line bytes; 0 = unlimited. */
  readonly line: number;
  /** Maximum number of header fields. */
  readonly fields: number;
  /** Maximum bytes of one header field, name + ": " + value + CRLF. */
  readonly fieldSize: number;
  readonly headerMap: HeaderMap;
}

export interface LimitSettings {
  limit_request_line?: number;
  limit_request_fields?: number;
  limit_request_field_size?: number;
  header_map?: HeaderMap;
}

/** The effective limits, clamped as Gunicorn clamps them. */
export function requestLimits(s: LimitSettings): RequestLimits {
  let line = s.limit_request_line ?? 4094;
  if (line < 0 || line > MAX_REQUEST_LINE) line = MAX_REQUEST_LINE;
  let fields = s.limit_request_fields ?? 100;
  if (fields <= 0 || fields > MAX_HEADERS) fields = MAX_HEADERS;
  let fieldSize = s.limit_request_field_size ?? DEFAULT_MAX_HEADERFIELD_SIZE;
  if (fieldSize <= 0) fieldSize = DEFAULT_MAX_HEADERFIELD_SIZE;
  return { line, fields, fieldSize, headerMap: s.header_map ?? 'drop' };
}

/**
 * Options for node:http: llhttp's bound on header bytes (it counts the target, names and values)
 * and the number of header fields it keeps. `maxHeaderSize` is Gunicorn's own buffer bound for
 * these limits (limit_request_fields × (limit_request_field_size + 2) + 4, plus the request line).
 */
export function parserOptions(l: RequestLimits): { maxHeaderSize: number; maxHeadersCount: number } {
  return {
    maxHeaderSize: (l.line || UNLIMITED_REQUEST_LINE) + l.fields * (l.fieldSize + 2) + 4,
    maxHeadersCount: l.fields + 1,
  };
}

/** What `checkRequest` found. */
export const Verdict = {
  Ok: 0,
  LineTooLong: 1,
  TooManyFields: 2,
  FieldTooLarge: 3,
  UnderscoreRefused: 4,
  /** Trusted secure_scheme_headers that disagree (src/http/proxy.ts). */
  ContradictoryScheme: 5,
} as const;
export type Verdict = (typeof Verdict)[keyof typeof Verdict];

/** " " + " " + "HTTP/1.1": what the request line holds besides the method and the target. */
const LINE_OVERHEAD = 10;
/** ": " + CRLF around a field's name and value. */
const FIELD_OVERHEAD = 4;

/**
 * Checks one request against the limits, in Gunicorn's order (the line, then field by field: the
 * count, the size, the name). Under header_map=drop it also removes the fields whose name holds
 * '_' from req.rawHeaders and req.headers. Runs per request: keep it to comparisons.
 */
export function checkRequest(req: IncomingMessage, l: RequestLimits): Verdict {
  if (l.line > 0 && req.method!.length + req.url!.length + LINE_OVERHEAD > l.line) return Verdict.LineTooLong;
  const raw = req.rawHeaders;
  const n = raw.length;
  let underscore = false;
  for (let i = 0; i < n; i += 2) {
    if (i >= l.fields * 2) return Verdict.TooManyFields;
    const name = raw[i]!;
    if (name.length + raw[i + 1]!.length + FIELD_OVERHEAD > l.fieldSize) return Verdict.FieldTooLarge;
    if (name.indexOf('_') !== -1) {
      if (l.headerMap === 'refuse') return Verdict.UnderscoreRefused;
      underscore = true;
    }
  }
  if (underscore && l.headerMap === 'drop') dropUnderscored(req);
  return Verdict.Ok;
}

/** header_map=drop: as if those fields had never been sent. */
export function dropUnderscored(req: IncomingMessage): void {
  const raw = req.rawHeaders;
  const kept: string[] = [];
  const dropped: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.indexOf('_') === -1) kept.push(raw[i]!, raw[i + 1]!);
    else dropped.push(raw[i]!.toLowerCase());
  }
  req.rawHeaders = kept;
  // node:http has already built req.headers (it reads Host and Expect before the app runs).
  const headers = req.headers as Record<string, unknown>;
  for (const name of dropped) delete headers[name];
}

/** The status and the Gunicorn-style message for a refused request. */
export function rejection(v: Verdict, req: IncomingMessage, l: RequestLimits): { status: number; message: string } {
  switch (v) {
    case Verdict.LineTooLong: {
      const size = req.method!.length + req.url!.length + LINE_OVERHEAD;
      return { status: 400, message: `Request Line is too large (${size} > ${l.line})` };
    }
    case Verdict.TooManyFields:
      return { status: 431, message: 'limit request headers fields' };
    case Verdict.FieldTooLarge:
      return { status: 431, message: 'limit request headers fields size' };
    case Verdict.UnderscoreRefused: {
      const raw = req.rawHeaders;
      let name = '';
      for (let i = 0; i < raw.length && !name; i += 2) if (raw[i]!.includes('_')) name = raw[i]!;
      return { status: 400, message: `Invalid HTTP header name: '${name.toUpperCase()}'` };
    }
    case Verdict.ContradictoryScheme:
      return { status: 400, message: 'Contradictory scheme headers' };
    default:
      return { status: 400, message: 'Bad Request' };
  }
}

/** Answers a refused request (Connection: close) and logs it as Gunicorn does; the app never runs. */
export function refuse(req: IncomingMessage, res: ServerResponse, v: Verdict, l: RequestLimits, log: Logger): void {
  const { status, message } = rejection(v, req, l);
  const ip = req.socket?.remoteAddress ?? '';
  log.warning(`Invalid request from ip=${ip}: ${message}`);
  // The body (if any) is not read: the connection closes after the answer.
  sendError(res, status, status === 431 ? `Error parsing headers: '${message}'` : message);
}

type HttpSocket = net.Socket & { _httpMessage?: ServerResponse | null };

/** Sockets closing after their pending answer: later parse errors on them are moot. */
const closingAfterAnswer = new WeakSet<net.Socket>();

function bareAnswer(code: string | undefined): string {
  const status =
    code === 'HPE_HEADER_OVERFLOW' ? 431 : code === 'HPE_CHUNK_EXTENSIONS_OVERFLOW' ? 413 : code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
  return `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\n\r\n`;
}

/** The server's 'clientError' listener (see the top of this file). */
export function onClientError(err: Error & { code?: string }, socket: net.Socket): void {
  if (closingAfterAnswer.has(socket)) return;
  // The answer in progress on this socket (node's own bookkeeping: the one its default uses).
  const pending = (socket as HttpSocket)._httpMessage;
  if (pending && pending.req?.complete && err.code?.startsWith('HPE_')) {
    closingAfterAnswer.add(socket);
    if (!pending.headersSent) pending.shouldKeepAlive = false;
    pending.once('close', () => socket.destroySoon());
    return;
  }
  if (socket.writable && (!pending || !pending.headersSent)) socket.write(bareAnswer(err.code));
  socket.destroy();
}
