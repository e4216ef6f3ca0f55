/**
 * Every example app in examples/ is served, end to end, by both in-process worker classes:
 * sync (one request per connection, Connection: close), gthread and async (keep-alive).
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import path from 'node:path';
import { describe, test } from 'node:test';
import { FIXTURES, run, serve, type Server } from '../helpers/server.js';

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  /** The request went out on a socket an earlier request had used. */
  reused: boolean;
  /** The client's port of the connection the response came on. */
  localPort: number;
}

interface RequestOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  /** false (the default): a fresh connection of its own. */
  agent?: http.Agent | false;
}

/** node:http rather than fetch: fetch hides the Connection header and the socket. */
function request(url: string, opts: RequestOptions = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      { method: opts.method ?? 'GET', headers: opts.headers, agent: opts.agent ?? false, timeout: 10_000 },
      (res) => {
        const localPort = res.socket.localPort!;
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () =>
          resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString(), reused: req.reusedSocket, localPort }),
        );
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${opts.method ?? 'GET'} ${url}: no answer within 10 s`)));
    req.on('error', reject);
    req.end(opts.body);
  });
}

/**
 * A keep-alive client that may open one connection at a time, so a server that keeps connections
 * open serves every request on one socket. It keeps every reply, to check the connections used.
 */
class Client {
  readonly agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  readonly replies: Reply[] = [];

  constructor(readonly url: string) {}

  async request(target: string, opts: Omit<RequestOptions, 'agent'> = {}): Promise<Reply> {
    const reply = await request(`${this.url}${target}`, { ...opts, agent: this.agent });
    this.replies.push(reply);
    return reply;
  }

  close(): void {
    this.agent.destroy();
  }
}

type Check = (client: Client) => Promise<void>;

interface Example {
  name: string;
  spec: string;
  /** The body of GET /; a first capture group, when there is one, is the pid of the worker. */
  body: RegExp | string;
  /** More requests for this example, under each worker class. */
  more?: Check;
}

const EXAMPLES: Example[] = [
  { name: 'hello (a node:http listener)', spec: 'examples/hello.js:app', body: /^Hello from worker (\d+)\n$/ },
  {
    name: 'express',
    spec: 'examples/express.js:app',
    body: /^Hello from Express in worker (\d+)\n$/,
    more: async (client) => {
      const sent = { greeting: 'héllo', n: [1, 2, 3], nested: { ok: true } };
      const res = await client.request('/echo', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(sent),
      });
      assert.equal(res.status, 200, res.body);
      assert.match(String(res.headers['content-type']), /^application\/json\b/);
      assert.deepEqual(JSON.parse(res.body), { received: sent });
    },
  },
  {
    name: 'a fetch handler (default export)',
    spec: 'examples/fetch.js',
    body: 'Hello from a fetch handler, you asked for /\n',
    more: async (client) => {
      const got = await client.request('/some/where?x=1');
      assert.equal(got.status, 200);
      assert.equal(got.body, 'Hello from a fetch handler, you asked for /some/where\n');
      const text = 'a plain body ✓\nwith two lines';
      const res = await client.request('/submit', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: text });
      assert.equal(res.status, 200, res.body);
      assert.match(String(res.headers['content-type']), /^application\/json\b/);
      assert.deepEqual(JSON.parse(res.body), { path: '/submit', body: text });
    },
  },
  {
    name: 'hono',
    spec: 'examples/hono.js:app',
    body: /^Hello from Hono in worker (\d+)\n$/,
    more: async (client) => {
      const res = await client.request('/json');
      assert.equal(res.status, 200);
      assert.deepEqual(JSON.parse(res.body), { ok: true });
      assert.equal((await client.request('/nosuch')).status, 404);
    },
  },
  { name: 'koa', spec: 'examples/koa.js:app', body: /^Hello from Koa in worker (\d+)\n$/ },
  {
    name: 'fastify',
    spec: 'examples/fastify.js:app',
    body: /^Hello from Fastify in worker (\d+)\n$/,
    more: async (client) => {
      assert.equal((await client.request('/nosuch')).status, 404);
    },
  },
  {
    name: 'a factory called with literal arguments',
    spec: 'examples/factory.js:createApp("Hi", {"exclaim": true})',
    body: 'Hi from a factory!\n',
  },
];

/** GET / answers 200 with the example's body, from this server's one worker. */
async function checkRoot(srv: Server, client: Client, ex: Example): Promise<void> {
  const res = await client.request('/');
  assert.equal(res.status, 200, res.body);
  if (typeof ex.body === 'string') {
    assert.equal(res.body, ex.body);
  } else {
    const m = ex.body.exec(res.body);
    assert.ok(m, `body ${JSON.stringify(res.body)} does not match ${ex.body}`);
    if (m[1] !== undefined) assert.deepEqual(srv.workers(), [Number(m[1])], 'the pid in the body is not the one worker');
  }
}

/**
 * The client asked for keep-alive every time. sync: every response says Connection: close and
 * each request came on a connection of its own. gthread and async: every response says
 * keep-alive and all came on the first connection.
 */
function checkConnections(cls: 'sync' | 'gthread' | 'async', replies: Reply[]): void {
  assert.ok(replies.length >= 3, `only ${replies.length} requests`);
  const summary = JSON.stringify(replies.map((r) => ({ connection: r.headers.connection, reused: r.reused, port: r.localPort })));
  if (cls === 'sync') {
    for (const r of replies) {
      assert.equal(r.headers.connection, 'close', summary);
      assert.equal(r.headers['keep-alive'], undefined, summary);
      assert.equal(r.reused, false, summary);
    }
    assert.equal(new Set(replies.map((r) => r.localPort)).size, replies.length, summary);
  } else {
    replies.forEach((r, i) => {
      assert.equal(r.headers.connection, 'keep-alive', summary);
      assert.equal(r.headers['keep-alive'], 'timeout=2', summary);
      assert.equal(r.reused, i > 0, summary);
      assert.equal(r.localPort, replies[0]!.localPort, summary);
    });
  }
}

const TS_SUPPORTED = Boolean((process.features as { typescript?: unknown }).typescript);
const TYPED = path.join(FIXTURES, 'apps', 'typed.ts');
const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

for (const cls of ['sync', 'gthread', 'async'] as const) {
  describe(`-k ${cls} serves every example`, () => {
    for (const ex of EXAMPLES) {
      test(ex.name, { timeout: 30_000 }, async (t) => {
        const { srv, url } = await serve(['-w', '1', '-k', cls, ...(cls === 'gthread' ? ['--threads', '2'] : []), ex.spec]);
        t.after(() => srv.kill());
        const client = new Client(url);
        t.after(() => client.close());

        await checkRoot(srv, client, ex);
        await ex.more?.(client);
        for (let i = 0; i < 2; i++) await checkRoot(srv, client, ex);
        checkConnections(cls, client.replies);

        client.close();
        assert.deepEqual(await srv.stop(), { code: 0, signal: null });
      });
    }

    if (TS_SUPPORTED) {
      test('a TypeScript app (.ts with type annotations), served from its source', { timeout: 30_000 }, async (t) => {
        const { srv, url } = await serve(['-w', '1', '-k', cls, `${TYPED}:app`]);
        t.after(() => srv.kill());
        const client = new Client(url);
        t.after(() => client.close());
        for (const target of ['/typed?x=1', '/', '/other']) {
          const res = await client.request(target);
          assert.equal(res.status, 200);
          assert.equal(res.body, `Hello from TypeScript: GET ${target}\n`);
        }
        checkConnections(cls, client.replies);
        client.close();
        assert.deepEqual(await srv.stop(), { code: 0, signal: null });
      });
    } else {
      test(`a TypeScript app on Node ${process.version} (no type stripping) exits 3 with one clear line`, { timeout: 30_000 }, async () => {
        const r = await run(['-w', '1', '-k', cls, '-b', '127.0.0.1:0', `${TYPED}:app`]);
        assert.equal(r.code, 3, r.output);
        assert.ok(r.ms < 10_000, `took ${r.ms} ms`);
        const lines = r.output.split('\n').filter((l) => /TypeScript/.test(l));
        assert.equal(lines.length, 1, r.output);
        assert.match(
          lines[0]!,
          new RegExp(
            `\\[ERROR\\] Cannot load TypeScript module "${escape(TYPED)}": Node ${escape(process.version)} does not strip types ` +
              `${escape('(Node 22.18+ and 23.6+ do by default); compile it to .js or run a newer Node.')}$`,
          ),
        );
        assert.match(r.output, /Reason: Worker failed to boot\./);
        assert.equal((r.output.match(/Booting worker/g) ?? []).length, 1, r.output);
      });
    }
  });
}
