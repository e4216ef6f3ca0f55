import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import http, { type IncomingMessage } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { after, describe, test } from 'node:test';
import { helpText, parseArgs } from '../../src/config/cli-options.js';
import { canonicalName, defaults, settingDef } from '../../src/config/settings.js';
import { BadRequestError } from '../../src/errors.js';
import {
  checkRequest,
  forbiddenInTrailers,
  isName,
  onClientError,
  parserOptions,
  refuse,
  rejection,
  requestLimits,
  Verdict,
  type RequestLimits,
} from '../../src/http/limits.js';
import type { Logger } from '../../src/log/logger.js';

/** Just what checkRequest reads of a request. */
function req(method: string, url: string, raw: string[], version = '1.1'): IncomingMessage {
  const headers: Record<string, string> = {};
  for (let i = 0; i < raw.length; i += 2) headers[raw[i]!.toLowerCase()] ??= raw[i + 1]!;
  const [major, minor] = version.split('.').map(Number);
  const socket = { destroyed: false };
  return { method, url, rawHeaders: raw, headers, httpVersionMajor: major, httpVersionMinor: minor, socket } as unknown as IncomingMessage;
}

const DEFAULTS = requestLimits(defaults({}));
const limits = (over: Partial<RequestLimits>): RequestLimits => ({ ...DEFAULTS, ...over });

describe('request limits: the settings', () => {
  test("Gunicorn's names, flags (its exact spelling) and defaults", () => {
    assert.deepEqual(settingDef('limit_request_line').flags, ['--limit-request-line']);
    assert.deepEqual(settingDef('limit_request_fields').flags, ['--limit-request-fields']);
    assert.deepEqual(settingDef('limit_request_field_size').flags, ['--limit-request-field_size']);
    assert.deepEqual(settingDef('header_map').flags, ['--header-map']);
    const d = defaults({});
    assert.equal(d.limit_request_line, 4094);
    assert.equal(d.limit_request_fields, 100);
    assert.equal(d.limit_request_field_size, 8190);
    assert.equal(d.header_map, 'drop');
    assert.equal(settingDef('limit_request_line').section, 'Security');
    assert.match(helpText(), /Security:[\s\S]*--limit-request-line[\s\S]*--limit-request-fields[\s\S]*--limit-request-field_size/);
    assert.equal(canonicalName('limitRequestFieldSize'), 'limit_request_field_size');
  });

  test('the command line reads them', () => {
    const { values } = parseArgs(['--limit-request-line', '100', '--limit-request-fields', '5', '--limit-request-field_size', '64', '--header-map', 'refuse', 'app:app']);
    assert.deepEqual(
      Object.fromEntries(Object.entries(values).filter(([k]) => k.startsWith('limit') || k === 'header_map')),
      { limit_request_line: '100', limit_request_fields: '5', limit_request_field_size: '64', header_map: 'refuse' },
    );
  });

  test('validation: integers from 0, three header_map choices', () => {
    assert.equal(settingDef('limit_request_line').validate('0', 'limit_request_line'), 0);
    assert.throws(() => settingDef('limit_request_line').validate('-1', 'limit_request_line'), /limit_request_line: "-1": must be at least 0/);
    assert.throws(() => settingDef('limit_request_fields').validate('many', 'limit_request_fields'), /not an integer/);
    assert.equal(settingDef('header_map').validate('Dangerous', 'header_map'), 'dangerous');
    assert.throws(() => settingDef('header_map').validate('keep', 'header_map'), /header_map: "keep": must be one of drop, refuse, dangerous/);
  });

  test('clamped as Gunicorn clamps them', () => {
    assert.deepEqual(DEFAULTS, { line: 4094, fields: 100, fieldSize: 8190, headerMap: 'drop' });
    assert.equal(requestLimits({ limit_request_line: 8200 }).line, 8190);
    assert.equal(requestLimits({ limit_request_line: 0 }).line, 0);
    assert.equal(requestLimits({ limit_request_fields: 0 }).fields, 32768);
    assert.equal(requestLimits({ limit_request_fields: 40000 }).fields, 32768);
    // 0 is the default size in Gunicorn 26 (its test limit_header_default_01), not unlimited.
    assert.equal(requestLimits({ limit_request_field_size: 0 }).fieldSize, 8190);
    assert.equal(requestLimits({ limit_request_field_size: 20000 }).fieldSize, 20000);
  });

  test("node:http's own bounds never refuse what the limits allow", () => {
    assert.deepEqual(parserOptions(DEFAULTS), { maxHeaderSize: 4094 + 100 * 8192 + 4, maxHeadersCount: 101 });
    assert.equal(parserOptions(limits({ line: 0 })).maxHeaderSize, 1024 * 1024 + 100 * 8192 + 4);
  });
});

describe('request limits: the check', () => {
  test('within the limits', () => {
    assert.equal(checkRequest(req('GET', '/', ['Host', 'x', 'Accept', '*/*']), DEFAULTS), Verdict.Ok);
  });

  test('the request line: method SP target SP HTTP/x.y, bytes', () => {
    // "GET /aaaa HTTP/1.1" is 18 bytes.
    const r = req('GET', '/aaaa', []);
    assert.equal(checkRequest(r, limits({ line: 18 })), Verdict.Ok);
    assert.equal(checkRequest(r, limits({ line: 17 })), Verdict.LineTooLong);
    assert.equal(checkRequest(req('GET', `/${'a'.repeat(100_000)}`, []), limits({ line: 0 })), Verdict.Ok);
    assert.deepEqual(rejection(Verdict.LineTooLong, r, limits({ line: 17 })), { status: 400, message: 'Request Line is too large (18 > 17)' });
  });

  test('the number of fields', () => {
    const raw = ['A', '1', 'B', '2', 'C', '3'];
    assert.equal(checkRequest(req('GET', '/', raw), limits({ fields: 3 })), Verdict.Ok);
    assert.equal(checkRequest(req('GET', '/', raw), limits({ fields: 2 })), Verdict.TooManyFields);
    assert.equal(rejection(Verdict.TooManyFields, req('GET', '/', raw), DEFAULTS).status, 431);
  });

  test('the size of one field: name + ": " + value + CRLF', () => {
    // "Accept: */*\r\n" is 13 bytes.
    const r = req('GET', '/', ['Accept', '*/*']);
    assert.equal(checkRequest(r, limits({ fieldSize: 13 })), Verdict.Ok);
    assert.equal(checkRequest(r, limits({ fieldSize: 12 })), Verdict.FieldTooLarge);
    assert.equal(rejection(Verdict.FieldTooLarge, r, DEFAULTS).status, 431);
  });

  test("header_map: a name with '_' is dropped, refused or kept", () => {
    const raw = () => ['Transfer_Encoding', 'tricked', 'Content-Length', '7', 'Content_Length', '-1E23'];
    const dropped = req('GET', '/', raw());
    assert.equal(checkRequest(dropped, limits({ headerMap: 'drop' })), Verdict.Ok);
    assert.deepEqual(dropped.rawHeaders, ['Content-Length', '7']);
    assert.deepEqual(dropped.headers, { 'content-length': '7' });

    const refused = req('GET', '/', raw());
    assert.equal(checkRequest(refused, limits({ headerMap: 'refuse' })), Verdict.UnderscoreRefused);
    assert.deepEqual(rejection(Verdict.UnderscoreRefused, refused, DEFAULTS), { status: 400, message: "Invalid HTTP header name: 'TRANSFER_ENCODING'" });

    const kept = req('GET', '/', raw());
    assert.equal(checkRequest(kept, limits({ headerMap: 'dangerous' })), Verdict.Ok);
    assert.deepEqual(kept.rawHeaders, raw());
  });

  test("in Gunicorn's order: the line first, then field by field", () => {
    const r = req('GET', '/long', ['A_B', '1', 'Big', 'x'.repeat(100)]);
    assert.equal(checkRequest(r, limits({ line: 5, headerMap: 'refuse', fieldSize: 50 })), Verdict.LineTooLong);
    assert.equal(checkRequest(r, limits({ headerMap: 'refuse', fieldSize: 50 })), Verdict.UnderscoreRefused);
    assert.equal(checkRequest(r, limits({ headerMap: 'refuse', fieldSize: 50, fields: 0 })), Verdict.TooManyFields);
  });
});

describe("Gunicorn's message rules llhttp does not apply", () => {
  test('HTTP/1.x only: llhttp also parses 0.9 and 2.0', () => {
    assert.equal(checkRequest(req('GET', '/', [], '1.0'), DEFAULTS), Verdict.Ok);
    assert.equal(checkRequest(req('GET', '/', ['Host', 'x'], '1.1'), DEFAULTS), Verdict.Ok);
    const two = req('GET', '/foo', [], '2.0');
    assert.equal(checkRequest(two, DEFAULTS), Verdict.BadVersion);
    assert.equal(checkRequest(req('GET', '/', [], '0.9'), DEFAULTS), Verdict.BadVersion);
    assert.deepEqual(rejection(Verdict.BadVersion, two, DEFAULTS), { status: 400, message: 'Invalid HTTP Version: (2, 0)' });
  });

  test('the asterisk form with OPTIONS only', () => {
    assert.equal(checkRequest(req('OPTIONS', '*', ['Host', 'x']), DEFAULTS), Verdict.Ok);
    const get = req('GET', '*', ['Host', 'x']);
    assert.equal(checkRequest(get, DEFAULTS), Verdict.AsteriskNotOptions);
    assert.equal(checkRequest(req('M-SEARCH', '*', ['Host', 'x']), DEFAULTS), Verdict.AsteriskNotOptions);
    assert.equal(checkRequest(req('GET', '/*', ['Host', 'x']), DEFAULTS), Verdict.Ok);
    assert.deepEqual(rejection(Verdict.AsteriskNotOptions, get, DEFAULTS), { status: 400, message: "Invalid HTTP request line: 'GET * HTTP/1.1'" });
  });

  test('Host and Content-Type at most once, in any case; other fields may repeat', () => {
    const host = req('GET', '/', ['Host', 'localhost', 'HOST', 'evil.example.com']);
    assert.equal(checkRequest(host, DEFAULTS), Verdict.RepeatedHost);
    assert.deepEqual(rejection(Verdict.RepeatedHost, host, DEFAULTS), { status: 400, message: "Invalid HTTP Header: 'HOST'" });
    const type = req('GET', '/', ['Host', 'x', 'content-type', 'a/b', 'Content-TYPE', 'c/d']);
    assert.equal(checkRequest(type, DEFAULTS), Verdict.RepeatedContentType);
    assert.deepEqual(rejection(Verdict.RepeatedContentType, type, DEFAULTS), { status: 400, message: "Invalid HTTP Header: 'CONTENT-TYPE'" });
    const fine = ['Host', 'x', 'Accept', 'a', 'Accept', 'b', 'X-Host', '1', 'X-Host', '2', 'Hosts', '1', 'Hosts', '2', 'Content-Types', '1', 'Content-Types', '2'];
    assert.equal(checkRequest(req('GET', '/', fine), DEFAULTS), Verdict.Ok);
  });

  test('Transfer-Encoding in an HTTP/1.0 request', () => {
    const te = ['Transfer-Encoding', 'chunked'];
    const old = req('POST', '/', te, '1.0');
    assert.equal(checkRequest(old, DEFAULTS), Verdict.ChunkedHttp10);
    assert.equal(checkRequest(req('POST', '/', ['TRANSFER-ENCODING', 'chunked'], '1.0'), DEFAULTS), Verdict.ChunkedHttp10);
    assert.deepEqual(rejection(Verdict.ChunkedHttp10, old, DEFAULTS), { status: 400, message: "Invalid HTTP Header: 'TRANSFER-ENCODING'" });
    assert.equal(checkRequest(req('POST', '/', ['Host', 'x', ...te], '1.1'), DEFAULTS), Verdict.Ok);
    // Under header_map=drop, a look-alike with '_' is no Transfer-Encoding.
    assert.equal(checkRequest(req('POST', '/', ['Transfer_Encoding', 'chunked'], '1.0'), DEFAULTS), Verdict.Ok);
  });

  test("in Gunicorn's order: the line, the version, the target, then field by field, then the body's framing", () => {
    const raw = ['Host', 'a', 'Host', 'b', 'X_Y', '1', 'Transfer-Encoding', 'chunked'];
    assert.equal(checkRequest(req('GET', '*', raw, '2.0'), limits({ line: 5 })), Verdict.LineTooLong);
    assert.equal(checkRequest(req('GET', '*', raw, '2.0'), DEFAULTS), Verdict.BadVersion);
    assert.equal(checkRequest(req('GET', '*', raw, '1.0'), DEFAULTS), Verdict.AsteriskNotOptions);
    assert.equal(checkRequest(req('GET', '/', raw, '1.0'), limits({ fields: 1 })), Verdict.TooManyFields);
    assert.equal(checkRequest(req('GET', '/', raw, '1.0'), limits({ headerMap: 'refuse' })), Verdict.RepeatedHost);
    assert.equal(checkRequest(req('GET', '/', raw.slice(2), '1.0'), limits({ headerMap: 'refuse' })), Verdict.UnderscoreRefused);
    assert.equal(checkRequest(req('GET', '/', raw.slice(2), '1.0'), DEFAULTS), Verdict.ChunkedHttp10);
  });

  test('a request parsed after its connection closed is dropped without a word', () => {
    const r = req('GET', '/', ['Host', 'x']);
    (r.socket as { destroyed: boolean }).destroyed = true;
    assert.equal(checkRequest(r, DEFAULTS), Verdict.Closed);
    const log = { warning: () => assert.fail('logged') } as unknown as Logger;
    refuse(r, { writeHead: () => assert.fail('answered') } as unknown as http.ServerResponse, Verdict.Closed, DEFAULTS, log);
  });

  test('field names compared without case, and nothing else matches', () => {
    assert.ok(isName('Host', 'host'));
    assert.ok(isName('HOST', 'host'));
    assert.ok(isName('cOnTeNt-TyPe', 'content-type'));
    assert.ok(!isName('Hosu', 'host'));
    // The token characters whose 0x20 bit is clear besides letters fold onto no letter nor '-'.
    assert.ok(!isName('Content_Type', 'content-type'));
    assert.ok(!isName('Content^Type', 'content-type'));
    for (const name of ['TE', 'Host', 'trailer', 'Authorization', 'CONTENT-LENGTH', 'Transfer-Encoding']) assert.ok(forbiddenInTrailers(name), name);
    for (const name of ['X-Checksum', 'Content-Type', 'Expires', 'Hosts', 'Te-', 'Content_Length', 'Server-Timing']) assert.ok(!forbiddenInTrailers(name), name);
  });

  test('a refusal is logged as Gunicorn logs it and answered with Connection: close', () => {
    const lines: string[] = [];
    const log = { warning: (m: string) => lines.push(m) } as unknown as Logger;
    const written: { status?: number; headers?: Record<string, unknown>; body?: string } = {};
    const res = {
      req: { method: 'GET' },
      shouldKeepAlive: true,
      writeHead(status: number, headers: Record<string, unknown>) {
        written.status = status;
        written.headers = headers;
      },
      end(body: string) {
        written.body = body;
      },
    };
    const r = Object.assign(req('GET', '/', ['Host', 'a', 'Host', 'b']), { socket: { remoteAddress: '192.0.2.7' } });
    refuse(r, res as unknown as http.ServerResponse, Verdict.RepeatedHost, DEFAULTS, log);
    assert.deepEqual(lines, ["Invalid request from ip=192.0.2.7: Invalid HTTP Header: 'HOST'"]);
    assert.equal(written.status, 400);
    assert.equal(written.headers?.['Connection'], 'close');
    assert.equal(res.shouldKeepAlive, false);
    assert.equal(requestLimits({}, log).log, log);
  });
});

describe('trailers: fields forbidden there (RFC 9110 §6.5.1)', () => {
  const servers: http.Server[] = [];
  after(() => {
    for (const s of servers) s.close();
  });

  interface Seen {
    /** The targets the app was handed. */
    requests: string[];
    events: string[];
    error?: Error & { code?: string };
    trailers?: Record<string, string | undefined>;
    writeThrew?: unknown;
  }

  /**
   * A node:http server that checks each request as the worker does, then runs `app`; what the app
   * saw lands in `seen`, the warnings in `logged`.
   */
  async function serveWith(app: (req: IncomingMessage, res: http.ServerResponse, seen: Seen) => void) {
    const logged: string[] = [];
    const log = { warning: (m: string) => logged.push(m) } as unknown as Logger;
    const l = requestLimits({}, log);
    const seen: Seen = { requests: [], events: [] };
    const server = http.createServer((req, res) => {
      const v = checkRequest(req, l);
      if (v !== Verdict.Ok) return refuse(req, res, v, l, log);
      seen.requests.push(req.url!);
      req.once('end', () => seen.events.push('end'));
      req.once('aborted', () => seen.events.push('aborted'));
      req.once('close', () => seen.events.push('close'));
      app(req, res, seen);
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return { port: (server.address() as AddressInfo).port, seen, logged };
  }

  /** Sends raw bytes, half-closes, and reads to the end (bounded). */
  function send(port: number, raw: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const sock = net.connect(port, '127.0.0.1', () => sock.end(raw));
      const chunks: Buffer[] = [];
      const timer = setTimeout(() => {
        sock.destroy();
        reject(new Error(`no end; got ${JSON.stringify(Buffer.concat(chunks).toString('latin1'))}`));
      }, 5000);
      sock.on('data', (d: Buffer) => chunks.push(d));
      sock.on('error', () => {});
      sock.on('close', () => {
        clearTimeout(timer);
        resolve(Buffer.concat(chunks).toString('latin1'));
      });
    });
  }

  const chunked = (trailers: string) => `POST /p HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n${trailers}\r\n`;

  /** Echoes the body once it has all been read. */
  const echo = (req: IncomingMessage, res: http.ServerResponse, seen: Seen) => {
    let body = '';
    req.on('error', (err) => (seen.error = err));
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      seen.trailers = { ...req.trailers };
      res.end(body);
    });
  };

  test('trailers that may be there reach the app', async () => {
    const { port, seen } = await serveWith(echo);
    const answer = await send(port, chunked('X-Checksum: abc\r\n'));
    assert.match(answer, /^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\nhello$/);
    assert.deepEqual(seen.trailers, { 'x-checksum': 'abc' });
  });

  // llhttp itself refuses Content-Length and Transfer-Encoding there; the other four reach the check.
  for (const field of ['Host: evil.example.com', 'Authorization: Basic eDp5', 'te: trailers']) {
    test(`${field.split(':')[0]} in the trailers: 400 and a close; the app's body stream fails, it never ends`, async () => {
      const { port, seen, logged } = await serveWith(echo);
      const answer = await send(port, chunked(`X-Checksum: abc\r\n${field}\r\n`));
      const name = field.split(':')[0]!.toUpperCase();
      assert.match(answer, /^HTTP\/1\.1 400 Bad Request\r\n/);
      assert.match(answer, /\r\nConnection: close\r\n/);
      assert.match(answer, /\r\nDate: /);
      const [head, body] = answer.split('\r\n\r\n');
      assert.equal(Buffer.byteLength(body!), Number(/Content-Length: (\d+)/.exec(head!)![1]));
      assert.ok(body!.includes(`Invalid HTTP header name: '${name}'`));
      assert.ok(seen.error instanceof BadRequestError);
      assert.equal(seen.error.code, 'E_BAD_REQUEST');
      assert.equal(seen.trailers, undefined);
      assert.ok(!seen.events.includes('end'));
      assert.deepEqual(logged, [`Invalid request from ip=127.0.0.1: Invalid HTTP header name: '${name}'`]);
    });
  }

  test('requests pipelined behind the refused one are not handed to the app', async () => {
    const { port, seen, logged } = await serveWith(echo);
    const answer = await send(port, chunked('Host: evil.example.com\r\n') + 'GET /next HTTP/1.1\r\nHost: example.com\r\n\r\n');
    assert.match(answer, /^HTTP\/1\.1 400 Bad Request\r\n/);
    assert.deepEqual(seen.requests, ['/p']);
    // Not logged as a refusal of its own: it was never read, as far as the client can tell.
    assert.equal(logged.length, 1);
  });

  test('an app without an error listener is not thrown at, and its late answer goes nowhere', async () => {
    const { port, seen } = await serveWith((req, res, s) => {
      req.resume();
      // Answers on its own schedule, whatever became of the request.
      setTimeout(() => {
        try {
          res.writeHead(200, { 'Content-Length': 2 });
          res.end('ok');
        } catch (err) {
          s.writeThrew = err;
        }
      }, 50);
    });
    const answer = await send(port, chunked('TE: trailers\r\n'));
    assert.match(answer, /^HTTP\/1\.1 400 Bad Request\r\n/);
    assert.ok(!answer.includes('200 OK'));
    await new Promise((r) => setTimeout(r, 150));
    assert.equal(seen.writeThrew, undefined);
    assert.ok(seen.events.includes('close') && !seen.events.includes('end'));
  });

  test('once the answer has begun, the connection just closes', async () => {
    const { port, seen } = await serveWith((req, res, s) => {
      req.on('error', (err) => (s.error = err));
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      res.write('partial');
      req.resume();
    });
    const answer = await send(port, chunked('Trailer: x\r\n'));
    assert.match(answer, /^HTTP\/1\.1 200 OK\r\n/);
    assert.ok(!answer.includes('400'));
    // The chunked answer never got its last chunk: the client sees it cut short.
    assert.ok(!answer.endsWith('0\r\n\r\n'));
    assert.equal(seen.error?.code, 'E_BAD_REQUEST');
  });
});

describe('parse errors after a complete request', () => {
  function fakeSocket(pending: EventEmitter | null) {
    const s = { writable: true, written: [] as string[], destroyed: 0, destroyedSoon: 0, _httpMessage: pending } as {
      writable: boolean;
      written: string[];
      destroyed: number;
      destroyedSoon: number;
      _httpMessage: EventEmitter | null;
    } & Record<string, unknown>;
    s.write = (d: string) => s.written.push(d);
    s.destroy = () => s.destroyed++;
    s.destroySoon = () => s.destroyedSoon++;
    return s;
  }
  const parseError = (code: string) => Object.assign(new Error(code), { code });

  test("the pending answer goes out with Connection: close, then the connection closes", () => {
    const res = Object.assign(new EventEmitter(), { req: { complete: true }, headersSent: false, shouldKeepAlive: true });
    const sock = fakeSocket(res);
    onClientError(parseError('HPE_CLOSED_CONNECTION'), sock as unknown as net.Socket);
    onClientError(parseError('HPE_INVALID_EOF_STATE'), sock as unknown as net.Socket);
    assert.deepEqual(sock.written, []);
    assert.equal(sock.destroyed, 0);
    assert.equal(res.shouldKeepAlive, false);
    res.emit('close');
    assert.equal(sock.destroyedSoon, 1);
  });

  test("otherwise node:http's own answer: 400, or 431 for oversized headers, then the connection is cut", () => {
    let sock = fakeSocket(null);
    onClientError(parseError('HPE_INVALID_METHOD'), sock as unknown as net.Socket);
    assert.deepEqual(sock.written, ['HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n']);
    assert.equal(sock.destroyed, 1);

    sock = fakeSocket(null);
    onClientError(parseError('HPE_HEADER_OVERFLOW'), sock as unknown as net.Socket);
    assert.deepEqual(sock.written, ['HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\n\r\n']);

    // An error inside the body of the request being answered: that request is broken.
    const res = Object.assign(new EventEmitter(), { req: { complete: false }, headersSent: false, shouldKeepAlive: true });
    sock = fakeSocket(res);
    onClientError(parseError('HPE_INVALID_CHUNK_SIZE'), sock as unknown as net.Socket);
    assert.equal(sock.written.length, 1);
    assert.equal(sock.destroyed, 1);
  });
});
