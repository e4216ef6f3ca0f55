/**
 * HTTP/1.1 conformance of the edge, over raw sockets, against real bin/tsgunicorn processes
 * serving the echo app (test/fixtures/apps/echo.cjs), once per worker class: sync, async, and
 * gthread with two app threads (which parses in the worker's main thread and runs the app in
 * worker_threads, so requests and bodies cross a thread boundary).
 *
 * Corpora (test/fixtures/conformance/, MIT, see LICENSE.upstream and SOURCE.txt there):
 * - gunicorn 26.1's request corpus: every default-config case here; the 24 cases that need
 *   settings further down, with those settings (pp_02 is the Host rule's difference), or skipped
 *   where node:http cannot offer the setting (SETTINGS_UNAVAILABLE says why, and the main run
 *   checks that llhttp refuses those cases outright).
 * - llhttp 9.4's request fixtures: every `strict_request` case (llhttp's default mode, the one
 *   node:http runs).
 *
 * Each case is sent twice: whole, and cut into random pieces written a few ms apart (the cuts
 * come from a seeded PRNG: CONFORMANCE_SEED=<n> reproduces a run; the seed is printed). The
 * client writes the bytes, half-closes, and reads until EOF or 1.5 s of silence.
 *
 * How a case is judged (../shared/conformance/README.md):
 * - accept: one 2xx per expected request, in order, echoing the expected method, raw target and
 *   body (and for gunicorn cases the header fields, names compared case-insensitively); no 2xx
 *   beyond those. The sync class answers one request per connection and closes, so under sync
 *   only the first expected request is answered.
 * - reject: no 2xx at all, and a 4xx answer or a closed connection.
 * llhttp outcomes map onto those: `ok` / `ok-then-close` accept `messages_complete` requests;
 * `error` / `incomplete` reject (the half-close ends an incomplete message); `upgrade` accepts the
 * request head as a plain request (node:http without an 'upgrade' listener serves it), except
 * CONNECT and PRI, which node:http closes without an answer (no 'connect' listener, no HTTP/2):
 * those reject.
 *
 * Host policy (RFC 9112 §3.2): an HTTP/1.1 request without Host gets 400 (node:http's
 * requireHostHeader). The gunicorn `valid` cases that rely on Gunicorn accepting it are listed
 * below as deliberate differences. The llhttp corpus describes the parser, and rules sit above it:
 * the Host rule, and Gunicorn's request-line rules that tsgunicorn applies (src/http/limits.ts:
 * HTTP/1.x only, the asterisk form with OPTIONS only). An llhttp `ok` case whose first message
 * one of these refuses (HTTP/1.1 without Host; HTTP/0.9; SSDP's `M-SEARCH *`) must be parsed and
 * then refused by that rule, which the test checks (a 400 written by node:http's response
 * machinery, with a Date header, not the bare 400 of a parse error) and counts as agreement; how
 * many cases each rule takes is pinned below.
 *
 * Any difference not listed in DIFFERENCES, and any listed case that passes, fails the test.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { describe, test } from 'node:test';
import { settingDef, type SettingName } from '../../src/config/settings.js';
import { FIXTURES, serve, sleep } from '../helpers/server.js';
import { prng } from '../helpers/random.js';

const ECHO = `${path.join(FIXTURES, 'apps', 'echo.cjs')}:app`;
const CORPORA = path.join(FIXTURES, 'conformance');
const SEED = Number(process.env.CONFORMANCE_SEED ?? 20260823) >>> 0;
const IDLE_MS = 1500;
const HARD_MS = 6000;
const CONCURRENCY = 8;

type Cls = 'sync' | 'async' | 'gthread';
const CLASSES: Cls[] = ['sync', 'async', 'gthread'];
/** How each class is started: gthread with two app threads, so requests can overlap. */
const CLASS_ARGS: Record<Cls, string[]> = { sync: ['-k', 'sync'], async: ['-k', 'async'], gthread: ['-k', 'gthread', '--threads', '2'] };

// ---------------------------------------------------------------------------------------------
// The deliberate differences. `classes` absent: every worker class.

const HOST_RULE = 'RFC 9112 Host rule: HTTP/1.1 without Host gets 400 (node:http requireHostHeader); Gunicorn accepts it';
const CONNECT =
  'CONNECT is a tunnel in node:http: without a "connect" listener the connection is closed unanswered; Gunicorn hands it to the app like any method';

interface Difference {
  id: string;
  reason: string;
  classes?: Cls[];
}

const DIFFERENCES: Difference[] = [
  // gunicorn `valid` cases: HTTP/1.1 requests without Host.
  ...[
    'gunicorn/valid/004',
    'gunicorn/valid/005',
    'gunicorn/valid/006',
    'gunicorn/valid/007',
    'gunicorn/valid/010',
    'gunicorn/valid/011',
    'gunicorn/valid/012',
    'gunicorn/valid/013',
    'gunicorn/valid/014',
    'gunicorn/valid/018',
    'gunicorn/valid/021',
    'gunicorn/valid/023',
    'gunicorn/valid/025',
    'gunicorn/valid/025_line',
    'gunicorn/valid/029',
    'gunicorn/valid/030',
    'gunicorn/valid/100',
  ].map((id) => ({ id, reason: HOST_RULE })),
  // Its second request (HTTP/1.1, no Host) is only answered by the keep-alive classes.
  { id: 'gunicorn/valid/022', reason: HOST_RULE, classes: ['async', 'gthread'] },
  // gunicorn `valid` cases llhttp refuses outright (a bare 400 from the parser).
  {
    id: 'gunicorn/valid/009',
    reason: 'llhttp refuses Transfer-Encoding together with Content-Length (RFC 9112 §6.1 allows it; a smuggling guard); Gunicorn accepts "identity" with a length (the request also lacks Host)',
  },
  { id: 'gunicorn/valid/027', reason: 'llhttp refuses bytes above 0x7F in the request target; Gunicorn passes them to the app' },
  { id: 'gunicorn/valid/031', reason: 'llhttp accepts only the methods it knows (http.METHODS); Gunicorn accepts any token as a method (the request also lacks Host)' },
  {
    id: 'gunicorn/valid/099',
    reason: 'corpus artifact: the body sent is shorter than its Content-Length (8599 of 17914 bytes), so over a socket the request never completes and the half-close ends it with 400',
  },
  { id: 'gunicorn/valid/rfc9112_target_authority_connect_01', reason: CONNECT },
  { id: 'gunicorn/valid/rfc9112_target_authority_ipv6_01', reason: CONNECT },
];

/**
 * gunicorn `invalid` cases node:http would let through to the app, refused by the checks
 * src/http/limits.ts adds: these must get Gunicorn's status, not just any refusal.
 */
const GUNICORN_RULES = [
  'gunicorn/invalid/041', // Content-Type twice
  'gunicorn/invalid/042', // Host twice
  'gunicorn/invalid/chunked_05', // Transfer-Encoding in HTTP/1.0
  'gunicorn/invalid/rfc9110_trailer_forbidden_host_01', // Host in the trailers
  'gunicorn/invalid/rfc9112_target_asterisk_non_options_01', // GET *
  'gunicorn/invalid/version_02', // HTTP/2.0
];

/** Differences whose reason is the Host rule must show exactly that: the Host rule's 400. */
const isHostRule = (d: Difference) => d.reason === HOST_RULE;

// ---------------------------------------------------------------------------------------------
// The corpora.

interface ExpectedRequest {
  method: string;
  target: string;
  /** llhttp cases: the version llhttp parsed, "major/minor". */
  version?: string;
  /** Gunicorn cases: the fields the app must see, names upper-cased. */
  headers?: [string, string][];
  body?: Buffer;
}

interface Case {
  id: string;
  corpus: 'gunicorn' | 'llhttp';
  raw: Buffer;
  outcome: 'accept' | 'reject';
  requests: ExpectedRequest[];
  /**
   * llhttp: a rule above the parser refuses the first message (the Host rule, Gunicorn's version
   * or asterisk-form rule), so that rule's 400 is expected; the rule's name.
   */
  ruleAbove?: string;
  /** gunicorn reject cases: the status Gunicorn sends. */
  gunicornStatus?: number | string;
  gunicornError?: string;
  config: Record<string, unknown>;
}

interface GunicornCase {
  id: string;
  kind: string;
  raw_b64: string;
  config: Record<string, unknown>;
  default_config: boolean;
  expect:
    | { outcome: 'accept'; requests: { method: string; uri: { raw: string }; headers: [string, string][]; body_b64: string }[] }
    | { outcome: 'reject'; gunicorn_error: string; gunicorn_status: number | string };
}

interface LlhttpCase {
  id: string;
  strict_request: boolean;
  raw_b64: string;
  expect: { outcome: 'ok' | 'ok-then-close' | 'error' | 'incomplete' | 'upgrade'; messages_complete: number };
  log: string[];
}

function loadManifest<T>(corpus: string): T[] {
  return (JSON.parse(readFileSync(path.join(CORPORA, corpus, 'manifest.json'), 'utf8')) as { cases: T[] }).cases;
}

function gunicornCase(c: GunicornCase): Case {
  const base = { id: c.id, corpus: 'gunicorn' as const, raw: Buffer.from(c.raw_b64, 'base64'), config: c.config };
  if (c.expect.outcome === 'reject') {
    return { ...base, outcome: 'reject', requests: [], gunicornStatus: c.expect.gunicorn_status, gunicornError: c.expect.gunicorn_error };
  }
  return {
    ...base,
    outcome: 'accept',
    requests: c.expect.requests.map((r) => ({
      method: r.method,
      target: r.uri.raw,
      headers: r.headers.map(([n, v]) => [n.toUpperCase(), v] as [string, string]),
      body: Buffer.from(r.body_b64, 'base64'),
    })),
  };
}

/** The method and target of each message, from llhttp's span log. */
function llhttpMessages(log: string[]): ExpectedRequest[] {
  const out: ExpectedRequest[] = [];
  for (const line of log) {
    if (/^off=\d+ message begin$/.test(line)) out.push({ method: '', target: '' });
    const m = /^off=\d+ len=\d+ span\[(method|url)\]="(.*)"$/.exec(line);
    const cur = out[out.length - 1];
    const v = /^off=\d+ headers complete method=\d+ v=(\d+\/\d+) /.exec(line);
    if (v && cur) cur.version = v[1];
    if (m && cur) {
      if (m[1] === 'method') cur.method += m[2];
      else cur.target += m[2];
    }
  }
  return out;
}

/** Whether the first message is HTTP/1.1 and has no Host field (a plain look at the bytes). */
function firstLacksHost(raw: Buffer): boolean {
  const text = raw.toString('latin1').replace(/^(\r\n)+/, '');
  const head = text.split(/\r\n\r\n/)[0]!;
  const [line, ...fields] = head.split('\r\n');
  return / HTTP\/1\.1$/.test(line ?? '') && !fields.some((f) => /^host\s*:/i.test(f));
}

/** The rule above the parser that refuses the first message llhttp parsed, if any. */
function ruleAbove(first: ExpectedRequest | undefined, raw: Buffer): string | undefined {
  if (!first) return undefined;
  if (first.version !== '1/0' && first.version !== '1/1') return 'version';
  if (first.target === '*' && first.method !== 'OPTIONS') return 'asterisk form';
  if (firstLacksHost(raw)) return 'Host';
  return undefined;
}

function llhttpCase(c: LlhttpCase): Case {
  const raw = Buffer.from(c.raw_b64, 'base64');
  const messages = llhttpMessages(c.log);
  const base = { id: c.id, corpus: 'llhttp' as const, raw, config: {} };
  const { outcome, messages_complete: n } = c.expect;
  const first = messages[0];
  if (outcome === 'ok' || outcome === 'ok-then-close' || (outcome === 'upgrade' && first && first.method !== 'CONNECT' && first.method !== 'PRI')) {
    const accepted = outcome === 'upgrade' ? messages.slice(0, 1) : messages.slice(0, n);
    return { ...base, outcome: 'accept', requests: accepted, ruleAbove: ruleAbove(first, raw) };
  }
  return { ...base, outcome: 'reject', requests: [] };
}

const GUNICORN = loadManifest<GunicornCase>('gunicorn');
const LLHTTP = loadManifest<LlhttpCase>('llhttp');
const DEFAULT_CASES: Case[] = [
  ...GUNICORN.filter((c) => c.default_config).map(gunicornCase),
  ...LLHTTP.filter((c) => c.strict_request).map(llhttpCase),
];

// ---------------------------------------------------------------------------------------------
// The client: raw bytes out, raw bytes in.

interface Exchange {
  data: Buffer;
  /** How the read ended: the server closed (eof/reset/error), or silence (idle), or the hard cap. */
  end: 'eof' | 'reset' | 'error' | 'idle' | 'timeout';
}

function exchange(port: number, pieces: Buffer[], gapMs: number): Promise<Exchange> {
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    const chunks: Buffer[] = [];
    let done = false;
    let sent = false;
    let idle: NodeJS.Timeout | undefined;
    const finish = (end: Exchange['end']) => {
      if (done) return;
      done = true;
      clearTimeout(idle);
      clearTimeout(hard);
      sock.destroy();
      resolve({ data: Buffer.concat(chunks), end });
    };
    const hard = setTimeout(() => finish('timeout'), HARD_MS);
    const arm = () => {
      clearTimeout(idle);
      idle = setTimeout(() => finish('idle'), IDLE_MS);
    };
    sock.on('data', (d: Buffer) => {
      chunks.push(d);
      if (sent) arm();
    });
    sock.on('end', () => finish('eof'));
    sock.on('close', () => finish('eof'));
    sock.on('error', (err: NodeJS.ErrnoException) => finish(err.code === 'ECONNRESET' ? 'reset' : 'error'));
    sock.once('connect', async () => {
      for (let i = 0; i < pieces.length; i++) {
        if (i > 0) await sleep(gapMs);
        if (done) return;
        sock.write(pieces[i]!);
      }
      if (done) return;
      sock.end();
      sent = true;
      arm();
    });
  });
}

interface Response {
  status: number;
  headers: [string, string][];
  body: Buffer;
}

function header(r: Response, name: string): string | undefined {
  return r.headers.find(([n]) => n.toLowerCase() === name)?.[1];
}

/**
 * Parses what came back: status lines, fields, Content-Length or chunked bodies, several
 * responses in a row; interim 1xx responses are skipped. `methods` tells which responses answer
 * HEAD (no body).
 */
export function parseResponses(data: Buffer, methods: string[] = []): { responses: Response[]; error?: string } {
  const responses: Response[] = [];
  let pos = 0;
  while (pos < data.length) {
    const headEnd = data.indexOf('\r\n\r\n', pos);
    if (headEnd < 0) return { responses, error: `truncated response head at byte ${pos}` };
    const [statusLine, ...lines] = data.subarray(pos, headEnd).toString('latin1').split('\r\n');
    const m = /^HTTP\/1\.[01] (\d{3})(?: .*)?$/.exec(statusLine!);
    if (!m) return { responses, error: `bad status line ${JSON.stringify(statusLine)}` };
    const headers: [string, string][] = [];
    for (const l of lines) {
      const colon = l.indexOf(':');
      if (colon <= 0) return { responses, error: `bad response field ${JSON.stringify(l)}` };
      headers.push([l.slice(0, colon), l.slice(colon + 1).trim()]);
    }
    pos = headEnd + 4;
    const status = Number(m[1]);
    if (status < 200) continue;
    const r: Response = { status, headers, body: Buffer.alloc(0) };
    const te = header(r, 'transfer-encoding');
    const cl = header(r, 'content-length');
    if (methods[responses.length] === 'HEAD' || status === 204 || status === 304) {
      // No body.
    } else if (te && /chunked\s*$/i.test(te)) {
      const parts: Buffer[] = [];
      for (;;) {
        const eol = data.indexOf('\r\n', pos);
        if (eol < 0) return { responses, error: 'truncated chunk size' };
        const size = parseInt(data.subarray(pos, eol).toString('latin1'), 16);
        if (!Number.isFinite(size)) return { responses, error: 'bad chunk size' };
        pos = eol + 2;
        if (size === 0) {
          const end = data.indexOf('\r\n\r\n', pos - 2);
          if (end < 0) return { responses, error: 'truncated trailer' };
          pos = end + 4;
          break;
        }
        if (pos + size + 2 > data.length) return { responses, error: 'truncated chunk' };
        parts.push(data.subarray(pos, pos + size));
        pos += size + 2;
      }
      r.body = Buffer.concat(parts);
    } else if (cl !== undefined) {
      const n = Number(cl);
      if (pos + n > data.length) return { responses, error: 'truncated body' };
      r.body = data.subarray(pos, pos + n);
      pos += n;
    } else {
      r.body = data.subarray(pos);
      pos = data.length;
    }
    responses.push(r);
  }
  return { responses };
}

// ---------------------------------------------------------------------------------------------
// Judging.

interface Echo {
  method: string;
  url: string;
  headers: [string, string][];
  body_b64: string;
}

function closed(x: Exchange): boolean {
  return x.end === 'eof' || x.end === 'reset' || x.end === 'error';
}

/** null when the exchange agrees with the case, else why not. */
function judge(c: Case, cls: Cls, x: Exchange): string | null {
  const { responses, error } = parseResponses(
    x.data,
    c.requests.map((r) => r.method),
  );
  if (error) return `unparseable answer (${error}): ${JSON.stringify(x.data.toString('latin1').slice(0, 300))}`;
  const statuses = responses.map((r) => r.status);
  const ok = responses.filter((r) => r.status >= 200 && r.status < 300).length;
  const seen = `statuses [${statuses.join(', ')}], read ended by ${x.end}`;

  if (c.outcome === 'reject') {
    if (ok > 0) return `accepted a request it should refuse: ${seen}`;
    const first = responses[0];
    if (first && !(first.status >= 400 && first.status < 500) && first.status !== c.gunicornStatus) return `unexpected status: ${seen}`;
    if (!first && !closed(x)) return `neither an answer nor a close: ${seen}`;
    return null;
  }

  if (c.ruleAbove) {
    const first = responses[0];
    if (ok > 0 || !first || first.status !== 400 || !header(first, 'date')) {
      return `expected the ${c.ruleAbove} rule's 400 (a parsed request, answered with Date): ${seen}`;
    }
    return null;
  }

  const want = cls === 'sync' ? c.requests.slice(0, 1) : c.requests;
  if (ok !== want.length) return `expected ${want.length} 2xx, got ${ok}: ${seen}`;
  for (let i = 0; i < want.length; i++) {
    const r = responses[i]!;
    const w = want[i]!;
    if (r.status < 200 || r.status >= 300) return `answer ${i + 1} is not 2xx: ${seen}`;
    let echo: Echo;
    try {
      echo = JSON.parse(r.body.toString('utf8')) as Echo;
    } catch {
      return `answer ${i + 1} is not the echo: ${JSON.stringify(r.body.toString('latin1').slice(0, 200))}`;
    }
    if (echo.method !== w.method) return `request ${i + 1}: method ${JSON.stringify(echo.method)}, expected ${JSON.stringify(w.method)}`;
    if (echo.url !== w.target) return `request ${i + 1}: target ${JSON.stringify(echo.url)}, expected ${JSON.stringify(w.target)}`;
    if (w.body && !Buffer.from(echo.body_b64, 'base64').equals(w.body)) {
      return `request ${i + 1}: body ${JSON.stringify(Buffer.from(echo.body_b64, 'base64').toString('latin1'))}, expected ${JSON.stringify(w.body.toString('latin1'))}`;
    }
    if (w.headers) {
      const got = echo.headers.map(([n, v]) => `${n.toUpperCase()}: ${v}`);
      const exp = w.headers.map(([n, v]) => `${n}: ${v}`);
      if (JSON.stringify(got) !== JSON.stringify(exp)) return `request ${i + 1}: fields ${JSON.stringify(got)}, expected ${JSON.stringify(exp)}`;
    }
  }
  return null;
}

// ---------------------------------------------------------------------------------------------
// Running.

function hash(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}

/** The case's bytes cut in 2 to 6 pieces, the same cuts for the same seed and id. */
function split(c: Case): Buffer[] {
  const rand = prng(SEED ^ hash(c.id));
  const count = Math.min(c.raw.length - 1, 1 + Math.floor(rand() * 5));
  const cuts = new Set<number>();
  while (cuts.size < count) cuts.add(1 + Math.floor(rand() * (c.raw.length - 1)));
  const sorted = [...cuts].sort((a, b) => a - b);
  const pieces: Buffer[] = [];
  let from = 0;
  for (const at of sorted) {
    pieces.push(c.raw.subarray(from, at));
    from = at;
  }
  pieces.push(c.raw.subarray(from));
  return pieces;
}

async function pool<T, R>(items: T[], n: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const lanes = Array.from({ length: Math.min(n, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  });
  await Promise.all(lanes);
  return out;
}

interface Outcome {
  c: Case;
  /** Why the whole / split sending disagrees with the case, or null. */
  whole: string | null;
  split: string | null;
  wholeX: Exchange;
  pieces: number[];
}

async function runCases(port: number, cls: Cls, cases: Case[]): Promise<Outcome[]> {
  return pool(cases, CONCURRENCY, async (c) => {
    const wholeX = await exchange(port, [c.raw], 0);
    const pieces = split(c);
    const splitX = await exchange(port, pieces, 3);
    return {
      c,
      whole: judge(c, cls, wholeX),
      split: judge(c, cls, splitX),
      wholeX,
      pieces: pieces.map((p) => p.length),
    };
  });
}

function failed(o: Outcome): boolean {
  return o.whole !== null || o.split !== null;
}

function describeFailure(o: Outcome): string {
  const parts = [o.c.id];
  if (o.whole) parts.push(`  whole: ${o.whole}`);
  if (o.split) parts.push(`  split ${JSON.stringify(o.pieces)} (seed ${SEED}): ${o.split}`);
  return parts.join('\n');
}

/** Asserts the set of failing ids of one corpus equals the listed differences for the class. */
function assertDifferences(outcomes: Outcome[], cls: Cls, corpus: Case['corpus']): void {
  const mine = outcomes.filter((o) => o.c.corpus === corpus);
  const listed = new Map(DIFFERENCES.filter((d) => d.id.startsWith(`${corpus}/`) && (!d.classes || d.classes.includes(cls))).map((d) => [d.id, d]));
  const actual = mine.filter(failed);
  const unexpected = actual.filter((o) => !listed.has(o.c.id));
  const passing = [...listed.keys()].filter((id) => !actual.some((o) => o.c.id === id));
  const msg: string[] = [];
  if (unexpected.length) msg.push(`differences not listed (${unexpected.length}):\n${unexpected.map(describeFailure).join('\n')}`);
  if (passing.length) msg.push(`listed differences that now agree (${passing.length}): ${passing.join(', ')}`);
  // A Host-rule difference must be exactly that: the first answer that is not 2xx is the Host
  // rule's 400 (a request node:http parsed and answered, hence a Date), and nothing after it.
  for (const o of actual) {
    const d = listed.get(o.c.id);
    if (d && isHostRule(d)) {
      const { responses } = parseResponses(o.wholeX.data);
      const at = responses.findIndex((r) => r.status >= 300);
      const r = responses[at];
      if (at < 0 || r!.status !== 400 || !header(r!, 'date') || at !== responses.length - 1) {
        msg.push(`${o.c.id} is listed for the Host rule but was answered otherwise: ${describeFailure(o)}`);
      }
    }
  }
  assert.ok(msg.length === 0, `${corpus} under -k ${cls}:\n${msg.join('\n')}`);
}

function counts(outcomes: Outcome[], corpus: Case['corpus']): string {
  const mine = outcomes.filter((o) => o.c.corpus === corpus);
  const bad = mine.filter(failed).length;
  return `${corpus}: ${mine.length} cases, ${mine.length - bad} agree, ${bad} differ (listed)`;
}

// ---------------------------------------------------------------------------------------------

describe('HTTP/1.1 conformance corpora over raw sockets', () => {
  test('the fixtures are the copied corpora, not ../shared', () => {
    assert.equal(GUNICORN.length, 137);
    assert.equal(GUNICORN.filter((c) => c.default_config).length, 113);
    // The corpus README says 110; the manifest marks 120 cases strict_request (10 of them `upgrade`).
    assert.equal(LLHTTP.filter((c) => c.strict_request).length, 120);
    assert.ok(DIFFERENCES.filter((d) => d.id.startsWith('llhttp/')).length <= 2, 'the issue allows at most 2 llhttp differences');
    // The rules above the parser take these llhttp cases, no more (a rule must not hide a parser difference).
    const byRule: Record<string, string[]> = {};
    for (const c of DEFAULT_CASES) if (c.ruleAbove) (byRule[c.ruleAbove] ??= []).push(c.id);
    assert.deepEqual(byRule['version'], ['llhttp/sample.md:317']);
    assert.deepEqual(byRule['asterisk form'], ['llhttp/method.md:138']);
    assert.equal(byRule['Host']?.length, 36);
    assert.deepEqual(Object.keys(byRule).sort(), ['Host', 'asterisk form', 'version']);
    for (const d of DIFFERENCES) assert.ok(DEFAULT_CASES.some((c) => c.id === d.id), `listed difference ${d.id} is no default-config case`);
  });

  test('the response parser reads several responses, chunked and sized', () => {
    const data = Buffer.from(
      'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi' +
        'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n1\r\nd\r\n0\r\n\r\n' +
        'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n' +
        'HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n',
    );
    const { responses, error } = parseResponses(data, ['GET', 'GET', 'HEAD']);
    assert.equal(error, undefined);
    assert.deepEqual(
      responses.map((r) => [r.status, r.body.toString()]),
      [
        [200, 'hi'],
        [200, 'abcd'],
        [200, ''],
        [400, ''],
      ],
    );
    assert.match(parseResponses(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc')).error ?? '', /truncated body/);
  });

  for (const cls of CLASSES) {
    test(`-k ${cls}: every default-config gunicorn case and every strict llhttp case, whole and split`, { timeout: 60_000 }, async (t) => {
      const { srv, port } = await serve([...CLASS_ARGS[cls], '-w', '1', ECHO]);
      t.after(() => srv.kill());
      const [worker] = srv.workers();
      const t0 = Date.now();
      const outcomes = await runCases(port, cls, DEFAULT_CASES);
      t.diagnostic(`seed ${SEED}; ${outcomes.length} cases x 2 sendings in ${Date.now() - t0} ms`);
      const ends: Record<string, number> = {};
      for (const o of outcomes) ends[o.wholeX.end] = (ends[o.wholeX.end] ?? 0) + 1;
      t.diagnostic(`reads ended by (whole sendings): ${JSON.stringify(ends)}`);
      t.diagnostic(counts(outcomes, 'gunicorn'));
      t.diagnostic(counts(outcomes, 'llhttp'));

      await t.test('gunicorn: the differences are exactly the listed ones', () => assertDifferences(outcomes, cls, 'gunicorn'));
      await t.test('llhttp: the differences are exactly the listed ones', () => assertDifferences(outcomes, cls, 'llhttp'));
      await t.test("over a limit: Gunicorn's exact status", () => {
        let checked = 0;
        for (const o of outcomes) {
          if (!o.c.gunicornError?.startsWith('Limit')) continue;
          const { responses } = parseResponses(o.wholeX.data);
          // An HTTP/1.1 request without Host (invalid/017) meets the Host rule first: 400.
          const want = firstLacksHost(o.c.raw) ? 400 : o.c.gunicornStatus;
          assert.equal(responses[0]?.status, want, `${o.c.id} (${o.c.gunicornError})`);
          checked++;
        }
        assert.equal(checked, 5);
      });
      await t.test("Gunicorn's message rules llhttp does not apply: its status, and the warning it logs", async () => {
        for (const id of GUNICORN_RULES) {
          const o = outcomes.find((x) => x.c.id === id)!;
          const first = parseResponses(o.wholeX.data).responses[0];
          assert.equal(first?.status, o.c.gunicornStatus, `${id}: ${o.c.gunicornError}`);
          assert.equal(header(first, 'connection'), 'close', id);
        }
        // The trailer refusal happens while the app holds the request; it is logged like the others.
        await srv.waitFor(/Invalid request from ip=\S+: Invalid HTTP header name: 'HOST'/, 5000);
      });
      await t.test('the cases needing settings node:http cannot offer: llhttp refuses them outright', async () => {
        for (const g of GUNICORN.filter((c) => unavailable(c).length > 0)) {
          const x = await exchange(port, [Buffer.from(g.raw_b64, 'base64')], 0);
          const { responses } = parseResponses(x.data);
          assert.equal(responses.length, 1, g.id);
          assert.equal(responses[0]!.status, 400, g.id);
          assert.equal(header(responses[0]!, 'date'), undefined, `${g.id}: a parse error's bare answer`);
          assert.ok(closed(x), g.id);
        }
      });
      await t.test('a client that half-closes still gets answers made later', async () => {
        const late = (path: string) => `GET ${path} HTTP/1.1\r\nHost: x\r\nX-Echo-Delay: 100\r\n\r\n`;
        const x = await exchange(port, [Buffer.from(late('/late1') + late('/late2'))], 0);
        const { responses, error } = parseResponses(x.data, ['GET', 'GET']);
        assert.equal(error, undefined);
        const want = cls === 'sync' ? ['/late1'] : ['/late1', '/late2'];
        assert.deepEqual(
          responses.map((r) => [r.status, (JSON.parse(r.body.toString()) as Echo).url]),
          want.map((u) => [200, u]),
        );
        assert.equal(x.end, 'eof');
      });
      await t.test('the worker lived through it all', () => {
        assert.deepEqual(srv.workers(), [worker]);
        assert.doesNotMatch(srv.output, /Worker \(pid:\d+\) (exited|was sent)|Error handling request/);
      });
      assert.deepEqual(await srv.stop(), { code: 0, signal: null });
    });
  }
});

// ---------------------------------------------------------------------------------------------
// The gunicorn cases that need settings.

const SETTINGS_IMPLEMENTED = new Set([
  'limit_request_line',
  'limit_request_fields',
  'limit_request_field_size',
  'header_map',
  'proxy_protocol',
  'forwarded_allow_ips',
]);

/**
 * Gunicorn settings node:http cannot offer, and why. Their cases are skipped with that reason, and
 * each class's main run checks the reason still holds: llhttp refuses every one of those cases
 * outright (the bare 400 of a parse error), so no setting above the parser could change the outcome.
 * node:http's one switch, insecureHTTPParser, turns on every llhttp leniency at once (Content-Length
 * with Transfer-Encoding, control characters in values, a bare LF as line end...): not an option.
 */
const SETTINGS_UNAVAILABLE: Record<string, string> = {
  strip_header_spaces:
    'llhttp refuses whitespace between a field name and its colon; even insecureHTTPParser skips it only after the five names llhttp tracks (Connection, Content-Length, Proxy-Connection, Transfer-Encoding, Upgrade) and leaves it in the name',
  permit_obsolete_folding: 'llhttp refuses obsolete line folding; it unfolds lines only under insecureHTTPParser',
  permit_unconventional_http_method: "llhttp parses only the methods of its table (http.METHODS), upper case, with no leniency for others: '-blargh' never reaches JavaScript",
  casefold_http_method: 'it would only change methods that are not upper case, and llhttp refuses those before JavaScript sees them',
};

/** The cases that need a setting from SETTINGS_UNAVAILABLE. */
function unavailable(c: GunicornCase): string[] {
  return Object.keys(c.config).filter((name) => name in SETTINGS_UNAVAILABLE);
}

/**
 * Deliberate differences among the cases that need settings. Each must show exactly its reason:
 * the Host rule's 400 (a parsed request answered by node:http, with a Date) on the first request.
 */
const SETTINGS_DIFFERENCES: Difference[] = [
  // PROXY header then two pipelined HTTP/1.1 requests without Host: the PROXY header is accepted
  // (the request reaches HTTP), and the first request meets the Host rule.
  { id: 'gunicorn/valid/pp_02', reason: HOST_RULE },
];

function flagsFor(config: Record<string, unknown>): string[] {
  const args: string[] = [];
  for (const [name, value] of Object.entries(config)) {
    const flags = settingDef(name as SettingName).flags!;
    const flag = flags[flags.length - 1]!;
    // A flag without argument is given or not; one with an argument gets the value spelled out
    // (--proxy-protocol true means auto, as Gunicorn's validator reads it).
    if (typeof value === 'boolean' && !settingDef(name as SettingName).meta) {
      if (value) args.push(flag);
    } else args.push(flag, String(value));
  }
  return args;
}

describe('gunicorn cases that need settings', { concurrency: 4 }, () => {
  const withSettings = GUNICORN.filter((c) => !c.default_config);

  test('there are 24 of them', () => assert.equal(withSettings.length, 24));

  // One server per distinct configuration and class.
  const groups = new Map<string, GunicornCase[]>();
  test('each setting they need is implemented, or unavailable for a stated reason', () => {
    for (const g of withSettings) {
      for (const name of Object.keys(g.config)) assert.ok(SETTINGS_IMPLEMENTED.has(name) || name in SETTINGS_UNAVAILABLE, `${g.id} needs ${name}`);
    }
    assert.equal(withSettings.filter((g) => unavailable(g).length > 0).length, 6);
  });

  for (const g of withSettings) {
    const missing = unavailable(g);
    if (missing.length > 0) {
      test(g.id, { skip: missing.map((name) => `${name} unavailable: ${SETTINGS_UNAVAILABLE[name]}`).join('; ') }, () => {});
      continue;
    }
    const key = flagsFor(g.config).join(' ');
    groups.set(key, [...(groups.get(key) ?? []), g]);
  }

  for (const [key, group] of groups) {
    for (const cls of CLASSES) {
      test(`${group.map((g) => g.id).join(', ')} with ${key} under -k ${cls}`, { timeout: 30_000 }, async (t) => {
        const { srv, port } = await serve([...CLASS_ARGS[cls], '-w', '1', ...key.split(' '), ECHO]);
        t.after(() => srv.kill());
        const [worker] = srv.workers();
        for (const g of group) {
          const c = gunicornCase(g);
          const whole = await exchange(port, [c.raw], 0);
          const pieces = split(c);
          const cut = await exchange(port, pieces, 3);
          const listed = SETTINGS_DIFFERENCES.find((d) => d.id === g.id && (!d.classes || d.classes.includes(cls)));
          if (listed) {
            assert.ok(isHostRule(listed));
            for (const x of [whole, cut]) {
              assert.notEqual(judge(c, cls, x), null, `${g.id} is a listed difference but agrees now`);
              const first = parseResponses(x.data).responses[0];
              assert.equal(first?.status, 400, `${g.id}: the Host rule's 400`);
              assert.ok(first && header(first, 'date'), `${g.id}: a parsed request answered by node:http`);
            }
            t.diagnostic(`${g.id}: deliberate difference (${listed.reason})`);
            continue;
          }
          assert.equal(judge(c, cls, whole), null, `${g.id} whole`);
          assert.equal(judge(c, cls, cut), null, `${g.id} split ${JSON.stringify(pieces.map((p) => p.length))} (seed ${SEED})`);
          if (c.outcome === 'reject') {
            // An HTTP/1.1 request without Host (invalid/010) meets the Host rule first: 400.
            const want = firstLacksHost(c.raw) ? 400 : c.gunicornStatus;
            assert.equal(parseResponses(whole.data).responses[0]?.status, want, `${g.id}: Gunicorn's status`);
          }
        }
        // The worker lives on and still serves.
        const again = await exchange(port, [Buffer.from('GET /after HTTP/1.0\r\n\r\n')], 0);
        assert.equal(parseResponses(again.data).responses[0]?.status, 200);
        assert.deepEqual(srv.workers(), [worker]);
        assert.deepEqual(await srv.stop(), { code: 0, signal: null });
      });
    }
  }
});
