import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import type { IncomingMessage } from 'node:http';
import type net from 'node:net';
import { describe, test } from 'node:test';
import { helpText, parseArgs } from '../../src/config/cli-options.js';
import { canonicalName, defaults, settingDef } from '../../src/config/settings.js';
import { checkRequest, onClientError, parserOptions, rejection, requestLimits, Verdict, type RequestLimits } from '../../src/http/limits.js';

/** Just what checkRequest reads of a request. */
function req(method: string, url: string, raw: string[]): IncomingMessage {
  const headers: Record<string, string> = {};
  for (let i = 0; i < raw.length; i += 2) headers[raw[i]!.toLowerCase()] ??= raw[i + 1]!;
  return { method, url, rawHeaders: raw, headers } as unknown as IncomingMessage;
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
