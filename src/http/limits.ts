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
 * And Gunicorn's message rules that llhttp does not apply, each answered 400 as Gunicorn does:
 * - the version: llhttp also parses HTTP/0.9 and HTTP/2.0 request lines, and node:http would serve
 *   them as HTTP/1.x; Gunicorn takes 1.x only (its permit_unconventional_http_version is not
 *   offered: llhttp refuses most of what it would let through anyway).
 * - the asterisk form ("*") is for OPTIONS only (RFC 9112 §3.2.4).
 * - Host and Content-Type at most once (RFC 9110 §5.3, singletons): node:http keeps the first
 *   and silently drops the others, while a proxy in front may have used the last one.
 * - Transfer-Encoding in an HTTP/1.0 request (RFC 9112 §6.1): a 1.0 hop does not know chunked
 *   framing, so the body's end is ambiguous.
 * - fields that steer routing, framing or authentication (Host, Content-Length,
 *   Transfer-Encoding, Trailer, Authorization, TE) in the trailers of a chunked body
 *   (RFC 9110 §6.5.1). Trailers arrive after the body, when the app already has the request, so
 *   the refusal works like Gunicorn's, where the app's last body read raises: the request stream
 *   is destroyed with a BadRequestError (the app sees 'error' if it listens, and 'close', never
 *   'end'), the client gets the 400 if no byte of the answer has been written yet, and the
 *   connection closes in any case (what the app writes afterwards goes nowhere; requests
 *   pipelined behind it are not handed to the app). The check costs nothing unless the request
 *   is chunked and has trailers.
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
import { IncomingMessage, STATUS_CODES, type ServerResponse } from 'node:http';
import type net from 'node:net';
import { BadRequestError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { errorPage, sendError } from './errors.js';

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
  /** Where a refusal made after the app got the request (forbidden trailers) is reported. */
  readonly log?: Logger;
}

export interface LimitSettings {
  limit_request_line?: number;
  limit_request_fields?: number;
  limit_request_field_size?: number;
  header_map?: HeaderMap;
}

/** The effective limits, clamped as Gunicorn clamps them. */
export function requestLimits(s: LimitSettings, log?: Logger): RequestLimits {
  let line = s.limit_request_line ?? 4094;
  if (line < 0 || line > MAX_REQUEST_LINE) line = MAX_REQUEST_LINE;
  let fields = s.limit_request_fields ?? 100;
  if (fields <= 0 || fields > MAX_HEADERS) fields = MAX_HEADERS;
  let fieldSize = s.limit_request_field_size ?? DEFAULT_MAX_HEADERFIELD_SIZE;
  if (fieldSize <= 0) fieldSize = DEFAULT_MAX_HEADERFIELD_SIZE;
  const limits = { line, fields, fieldSize, headerMap: s.header_map ?? 'drop' };
  return log ? { ...limits, log } : limits;
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
  /** Not HTTP/1.x. */
  BadVersion: 6,
  /** "*" as the target of a method other than OPTIONS. */
  AsteriskNotOptions: 7,
  RepeatedHost: 8,
  RepeatedContentType: 9,
  /** Transfer-Encoding in an HTTP/1.0 request. */
  ChunkedHttp10: 10,
  /**
   * The connection is already closed: a request pipelined behind one refused for its trailers,
   * parsed from the same bytes. Nobody can get its answer, and Gunicorn would never read it.
   */
  Closed: 11,
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
  if (req.socket.destroyed) return Verdict.Closed;
  if (l.line > 0 && req.method!.length + req.url!.length + LINE_OVERHEAD > l.line) return Verdict.LineTooLong;
  if (req.httpVersionMajor !== 1) return Verdict.BadVersion;
  if (req.url === '*' && req.method !== 'OPTIONS') return Verdict.AsteriskNotOptions;
  const raw = req.rawHeaders;
  const n = raw.length;
  let underscore = false;
  let host = false;
  let contentType = false;
  let chunked = false;
  for (let i = 0; i < n; i += 2) {
    if (i >= l.fields * 2) return Verdict.TooManyFields;
    const name = raw[i]!;
    const len = name.length;
    if (len + raw[i + 1]!.length + FIELD_OVERHEAD > l.fieldSize) return Verdict.FieldTooLarge;
    // The length picks the one candidate name, so most fields cost a single comparison.
    if (len === 4) {
      if (isName(name, 'host')) {
        if (host) return Verdict.RepeatedHost;
        host = true;
      }
    } else if (len === 12) {
      if (isName(name, 'content-type')) {
        if (contentType) return Verdict.RepeatedContentType;
        contentType = true;
      }
    } else if (len === 17 && isName(name, 'transfer-encoding')) {
      // llhttp only lets a request through with chunked as the final coding.
      chunked = true;
    }
    if (name.indexOf('_') !== -1) {
      if (l.headerMap === 'refuse') return Verdict.UnderscoreRefused;
      underscore = true;
    }
  }
  if (chunked) {
    if (req.httpVersionMinor === 0) return Verdict.ChunkedHttp10;
    guardTrailers(req, l);
  }
  if (underscore && l.headerMap === 'drop') dropUnderscored(req);
  return Verdict.Ok;
}

/**
 * Whether a field name is `lower` (same length), ignoring case. Names reaching here are tokens
 * (llhttp refuses others), and among token characters `| 0x20` folds exactly the letters onto
 * their lower case: the other token characters either have that bit already or fold onto no
 * letter nor '-', so no other name can match.
 */
export function isName(name: string, lower: string): boolean {
  for (let i = 0; i < lower.length; i++) if ((name.charCodeAt(i) | 0x20) !== lower.charCodeAt(i)) return false;
  return true;
}

/** RFC 9110 §6.5.1, Gunicorn's list: fields a trailer must not carry (they steer routing, framing, authentication). */
const FORBIDDEN_IN_TRAILERS = ['te', 'host', 'trailer', 'authorization', 'content-length', 'transfer-encoding'];

export function forbiddenInTrailers(name: string): boolean {
  for (const f of FORBIDDEN_IN_TRAILERS) if (name.length === f.length && isName(name, f)) return true;
  return false;
}

/** node:http's own bookkeeping: it files a message's header lines, then (once complete) its trailers, through this. */
type FilesLines = IncomingMessage & { _addHeaderLines(lines: string[], n: number): void };
const fileLines = (IncomingMessage.prototype as FilesLines)._addHeaderLines;

/**
 * Checks a chunked request's trailers before they are filed, hence before the body stream ends
 * (node files them, then ends the stream): see the top of this file. node calls this only when
 * there are trailers, so a chunked body without them costs nothing but this installation.
 */
function guardTrailers(req: IncomingMessage, l: RequestLimits): void {
  (req as FilesLines)._addHeaderLines = (lines: string[], n: number) => {
    if (req.complete) {
      for (let i = 0; i < n; i += 2) if (forbiddenInTrailers(lines[i]!)) return refuseTrailer(req, lines[i]!, l);
    }
    fileLines.call(req, lines, n);
  };
}

function refuseTrailer(req: IncomingMessage, name: string, l: RequestLimits): void {
  const message = `Invalid HTTP header name: '${name.toUpperCase()}'`;
  const socket = req.socket as HttpSocket;
  l.log?.warning(`Invalid request from ip=${socket.remoteAddress ?? ''}: ${message}`);
  // Written to the socket, not through the app's response: the app may still write to that one
  // (its writes must go nowhere, not throw because headers were sent). Only when this request's
  // answer is the one due on the connection and not a byte of it is out.
  const res = socket._httpMessage;
  if (res && res.req === req && !res.headersSent && socket.writable) socket.write(rawError(400, message, req.method === 'HEAD'));
  // The connection first, without an error: the request's own destroy then reports the error to
  // the app's listeners only (node:http does not emit it when nobody listens). The short answer
  // above is already with the kernel (a write on an idle socket goes out at once), which sends it
  // before the close.
  socket.destroy();
  req.destroy(new BadRequestError(message));
}

/** A whole error response, for writing straight to the socket. */
function rawError(status: number, detail: string, head: boolean): string {
  const body = errorPage(status, detail);
  return (
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nDate: ${new Date().toUTCString()}\r\nContent-Type: text/html\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${head ? '' : body}`
  );
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
    case Verdict.BadVersion:
      return { status: 400, message: `Invalid HTTP Version: (${req.httpVersionMajor}, ${req.httpVersionMinor})` };
    case Verdict.AsteriskNotOptions:
      return { status: 400, message: `Invalid HTTP request line: '${req.method} * HTTP/${req.httpVersionMajor}.${req.httpVersionMinor}'` };
    case Verdict.RepeatedHost:
      return { status: 400, message: "Invalid HTTP Header: 'HOST'" };
    case Verdict.RepeatedContentType:
      return { status: 400, message: "Invalid HTTP Header: 'CONTENT-TYPE'" };
    case Verdict.ChunkedHttp10:
      return { status: 400, message: "Invalid HTTP Header: 'TRANSFER-ENCODING'" };
    default:
      return { status: 400, message: 'Bad Request' };
  }
}

/** Answers a refused request (Connection: close) and logs it as Gunicorn does; the app never runs. */
export function refuse(req: IncomingMessage, res: ServerResponse, v: Verdict, l: RequestLimits, log: Logger): void {
  if (v === Verdict.Closed) return;
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
