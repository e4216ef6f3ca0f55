/**
 * The access log, end to end: Gunicorn's default line, custom formats, stdout or a file, and
 * every line written by the time a graceful stop is over.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { describe, test } from 'node:test';
import { FIXTURES, serve, sleep, tempDir } from '../helpers/server.js';

const APP = `${path.join(FIXTURES, 'apps', 'access.cjs')}:app`;
/** What the fixture answers to GET /path: 18 characters, 19 bytes. */
const PATH_BODY = 'héllo, access log\n';
const PATH_BYTES = 19;
const NOT_FOUND_BYTES = 13;

interface Reply {
  status: number;
  body: string;
}

/** A request on a connection of its own, with exactly the headers given (node:http, not fetch, which adds its own). */
function request(url: string, opts: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: opts.method ?? 'GET', headers: opts.headers, agent: false, timeout: 10_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => resolve({ status: res.statusCode!, body: Buffer.concat(chunks).toString() }));
    });
    req.on('timeout', () => req.destroy(new Error(`${opts.method ?? 'GET'} ${url}: no answer within 10 s`)));
    req.on('error', reject);
    req.end(opts.body);
  });
}

function lines(text: string): string[] {
  return text.split('\n').filter((l) => l !== '');
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const DEFAULT_LINE =
  /^(127\.0\.0\.1) - - \[(\d\d)\/([A-Z][a-z]{2})\/(\d{4}):(\d\d):(\d\d):(\d\d) ([+-])(\d\d)(\d\d)\] "(.*)" (\d{3}) (\d+|-) "(.*)" "(.*)"$/;

interface DefaultLine {
  host: string;
  time: Date;
  request: string;
  status: number;
  bytes: string;
  referer: string;
  agent: string;
}

/** Parses a line in Gunicorn's default format; the time is checked to be a real strftime('%d/%b/%Y:%H:%M:%S %z'). */
function parseDefault(line: string): DefaultLine {
  const m = DEFAULT_LINE.exec(line);
  assert.ok(m, `not a default-format access line: ${JSON.stringify(line)}`);
  const [, host, dd, mon, yyyy, hh, mi, ss, sign, zh, zm, request, status, bytes, referer, agent] = m;
  const month = MONTHS.indexOf(mon!);
  assert.ok(month >= 0, `bad month ${mon}`);
  const offsetMin = (sign === '-' ? -1 : 1) * (Number(zh) * 60 + Number(zm));
  const utc = Date.UTC(Number(yyyy), month, Number(dd), Number(hh), Number(mi), Number(ss)) - offsetMin * 60_000;
  // The offset is the local one at that moment, as %z prints it.
  assert.equal(offsetMin, 0 - new Date(utc).getTimezoneOffset(), `zone ${sign}${zh}${zm} is not local time`);
  return { host: host!, time: new Date(utc), request: request!, status: Number(status), bytes: bytes!, referer: referer!, agent: agent! };
}

describe('the default format is Gunicorn\'s: %(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"', () => {
  test('--access-logfile FILE (async worker)', { timeout: 30_000 }, async (t) => {
    const file = path.join(tempDir(), 'logs', 'access.log');
    const { srv, url } = await serve(['-w', '1', '-k', 'async', '--access-logfile', file, APP]);
    t.after(() => srv.kill());

    const t0 = Date.now();
    const res = await request(`${url}/path?q=1`, {
      headers: { Referer: 'http://referrer.example/from?page=2', 'User-Agent': 'access-log-test/1.0 (tsgunicorn)' },
    });
    assert.equal(res.status, 200);
    assert.equal(res.body, PATH_BODY);
    assert.equal(Buffer.byteLength(res.body), PATH_BYTES);
    // No Referer, a User-Agent with quotes (escaped as Gunicorn's SafeAtoms does), a 404.
    const missing = await request(`${url}/nope`, { headers: { 'User-Agent': 'say "hi"' } });
    assert.equal(missing.status, 404);
    assert.equal(Buffer.byteLength(missing.body), NOT_FOUND_BYTES);
    const t1 = Date.now();

    assert.deepEqual(await srv.stop(), { code: 0, signal: null });
    const logged = lines(readFileSync(file, 'utf8'));
    assert.equal(logged.length, 2, logged.join('\n'));

    const first = parseDefault(logged[0]!);
    assert.deepEqual(
      { ...first, time: undefined },
      {
        host: '127.0.0.1',
        time: undefined,
        request: 'GET /path?q=1 HTTP/1.1',
        status: 200,
        bytes: String(PATH_BYTES),
        referer: 'http://referrer.example/from?page=2',
        agent: 'access-log-test/1.0 (tsgunicorn)',
      },
    );
    // Whole seconds in the line: between the second before the request and the one after the answer.
    assert.ok(first.time.getTime() >= Math.floor(t0 / 1000) * 1000 && first.time.getTime() <= t1, `${first.time.toISOString()} not in [${t0}, ${t1}]`);

    const second = parseDefault(logged[1]!);
    assert.equal(second.request, 'GET /nope HTTP/1.1');
    assert.equal(second.status, 404);
    assert.equal(second.bytes, String(NOT_FOUND_BYTES));
    assert.equal(second.referer, '-');
    assert.equal(second.agent, 'say \\"hi\\"');
    assert.match(logged[1]!, / 404 13 "-" "say \\"hi\\""$/);
  });

  test('--access-logfile - writes to stdout, not stderr (sync worker)', { timeout: 30_000 }, async (t) => {
    const { srv, url } = await serve(['-w', '1', '-k', 'sync', '--access-logfile', '-', APP]);
    t.after(() => srv.kill());
    let stdout = '';
    let stderr = '';
    srv.proc.stdout!.on('data', (b: Buffer) => (stdout += b.toString()));
    srv.proc.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));

    const res = await request(`${url}/path?q=1`, { headers: { Referer: 'http://127.0.0.1/ref', 'User-Agent': 'stdout-test' } });
    assert.equal(res.status, 200);
    assert.equal((await request(`${url}/path`, { method: 'HEAD' })).status, 200);

    assert.deepEqual(await srv.stop(), { code: 0, signal: null });
    const logged = lines(stdout);
    assert.equal(logged.length, 2, `stdout:\n${stdout}`);
    assert.match(
      logged[0]!,
      /^127\.0\.0\.1 - - \[\d\d\/(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)\/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] "GET \/path\?q=1 HTTP\/1\.1" 200 19 "http:\/\/127\.0\.0\.1\/ref" "stdout-test"$/,
    );
    // HEAD: no body sent; no Referer or User-Agent sent either.
    assert.match(logged[1]!, /^127\.0\.0\.1 - - \[[^\]]+\] "HEAD \/path HTTP\/1\.1" 200 0 "-" "-"$/);
    parseDefault(logged[1]!);
    // The error log (stderr) carries no access line; it did log the stop.
    assert.match(stderr, /Shutting down: Master/);
    assert.doesNotMatch(stderr, /HTTP\/1\.1"/);
  });
});

test('a custom --access-logformat with method, path, query, status, bytes and a request header', { timeout: 30_000 }, async (t) => {
  const file = path.join(tempDir(), 'access.log');
  const format = '%(m)s|%(U)s|%(q)s|%(s)s|%(B)s|%({x-trace}i)s';
  const { srv, url } = await serve(['-w', '1', '-k', 'async', '--access-logfile', file, '--access-logformat', format, APP]);
  t.after(() => srv.kill());

  const posted = await request(`${url}/submit?x=1&y=two`, { method: 'POST', headers: { 'X-Trace': 'abc-123' }, body: 'a=1&b=2' });
  assert.equal(posted.status, 201);
  assert.equal(posted.body, 'got 7 bytes\n');
  assert.equal((await request(`${url}/missing/page`)).status, 404);
  const head = await request(`${url}/path?q=2`, { method: 'HEAD', headers: { 'x-trace': 'T3' } });
  assert.equal(head.status, 200);
  assert.equal(head.body, '');

  assert.deepEqual(await srv.stop(), { code: 0, signal: null });
  assert.deepEqual(lines(readFileSync(file, 'utf8')), [
    'POST|/submit|x=1&y=two|201|12|abc-123',
    'GET|/missing/page||404|13|-',
    'HEAD|/path|q=2|200|0|T3',
  ]);
});

describe('the access log is complete once the server has stopped', () => {
  for (const signal of ['SIGTERM', 'SIGQUIT'] as const) {
    test(`${signal}: every request has its line (2 async workers)`, { timeout: 30_000 }, async (t) => {
      const file = path.join(tempDir(), 'access.log');
      const { srv, url } = await serve(['-w', '2', '-k', 'async', '--graceful-timeout', '10', '--access-logfile', file, APP], { workers: 2 });
      t.after(() => srv.kill());

      const n = 40;
      const replies = await Promise.all(Array.from({ length: n }, (_, i) => request(`${url}/n/${i}`)));
      for (const r of replies) assert.equal(r.status, 404);
      // Under SIGTERM a request in flight finishes, and is logged too.
      const inFlight = signal === 'SIGTERM' ? request(`${url}/slow?ms=1000`) : null;
      await sleep(300);

      assert.deepEqual(await srv.stop(signal), { code: 0, signal: null });
      if (inFlight) assert.deepEqual(await inFlight, { status: 200, body: 'slow\n' });

      const logged = lines(readFileSync(file, 'utf8'));
      assert.equal(logged.length, n + (inFlight ? 1 : 0), logged.join('\n'));
      for (let i = 0; i < n; i++) {
        const mine = logged.filter((l) => l.includes(`"GET /n/${i} HTTP/1.1"`));
        assert.equal(mine.length, 1, `request ${i}: ${mine.length} lines`);
        assert.match(mine[0]!, new RegExp(`^127\\.0\\.0\\.1 - - \\[[^\\]]+\\] "GET /n/${i} HTTP/1\\.1" 404 ${NOT_FOUND_BYTES} "-" "-"$`));
      }
      if (inFlight) assert.ok(logged.some((l) => / "GET \/slow\?ms=1000 HTTP\/1\.1" 200 5 "-" "-"$/.test(l)), logged.join('\n'));
    });
  }
});

test(
  'lines reach the file while the server runs, as Gunicorn writes each line when it is logged',
  { timeout: 30_000 },
  async (t) => {
    const file = path.join(tempDir(), 'access.log');
    const { srv, url } = await serve(['-w', '1', '-k', 'async', '--access-logfile', file, APP]);
    t.after(() => srv.kill());
    assert.equal((await request(`${url}/path?live=1`)).status, 200);
    const deadline = Date.now() + 3000;
    let text = '';
    while (Date.now() < deadline) {
      try {
        text = readFileSync(file, 'utf8');
      } catch {
        // Not created yet.
      }
      if (text.includes('"GET /path?live=1 HTTP/1.1" 200 19')) break;
      await sleep(50);
    }
    assert.match(text, /"GET \/path\?live=1 HTTP\/1\.1" 200 19 "-" "-"\n$/, 'the line was not written within 3 s of the response');
    await srv.stop();
  },
);
