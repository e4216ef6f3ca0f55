import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http, { type RequestListener } from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';

import express from 'express';
import Fastify from 'fastify';
import { Hono } from 'hono';
import Koa from 'koa';

import { adaptApp, type AppKind } from '../../src/app/adapt.js';
import { AppLoadError } from '../../src/errors.js';

const servers: http.Server[] = [];
const cleanups: (() => Promise<unknown>)[] = [];

after(async () => {
  for (const server of servers) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
  for (const cleanup of cleanups) await cleanup();
});

/** Adapts `value`, checks its kind and serves it on an ephemeral port; returns the base URL. */
async function serve(value: unknown, kind: AppKind, onError?: (err: unknown) => void): Promise<string> {
  const adapted = await adaptApp(value, 'test:app', onError);
  assert.equal(adapted.kind, kind);
  return listen(adapted.listener);
}

async function listen(listener: RequestListener): Promise<string> {
  const server = http.createServer(listener);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** Sends bytes as they are (for what fetch() cannot send) and returns everything the server wrote. */
function rawRequest(base: string, text: string): Promise<string> {
  const { port } = new URL(base);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), '127.0.0.1', () => socket.end(text));
    let out = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => (out += chunk));
    socket.on('error', reject);
    socket.on('close', () => resolve(out));
  });
}

async function expectText(url: string, status: number, body: string, header: [string, string], init?: RequestInit) {
  const res = await fetch(url, init);
  assert.equal(res.status, status);
  assert.equal(await res.text(), body);
  assert.equal(res.headers.get(header[0]), header[1]);
  return res;
}

describe('adaptApp: frameworks as they are', () => {
  it('serves an Express app', async () => {
    const app = express();
    app.get('/hello/:name', (req, res) => {
      res.set('x-framework', 'express').send(`hello ${req.params.name}`);
    });
    const base = await serve(app, 'node');
    await expectText(`${base}/hello/ex`, 200, 'hello ex', ['x-framework', 'express']);
    assert.equal((await fetch(`${base}/nope`)).status, 404);
  });

  it('serves a Koa app', async () => {
    const app = new Koa();
    app.use((ctx) => {
      ctx.set('x-framework', 'koa');
      ctx.status = 201;
      ctx.body = `koa ${ctx.path}`;
    });
    const base = await serve(app, 'koa');
    await expectText(`${base}/k`, 201, 'koa /k', ['x-framework', 'koa']);
  });

  it('serves a Fastify app after ready()', async () => {
    const app = Fastify();
    cleanups.push(() => app.close());
    let pluginLoaded = false;
    await app.register(async () => {
      pluginLoaded = true;
    });
    app.get('/f', async (_req, reply) => {
      reply.header('x-framework', 'fastify');
      return { ok: true };
    });
    const base = await serve(app, 'fastify');
    assert.ok(pluginLoaded, 'adaptApp should have awaited ready()');
    await expectText(`${base}/f`, 200, '{"ok":true}', ['x-framework', 'fastify']);
  });

  it('serves a Hono app through its fetch method', async () => {
    const app = new Hono();
    app.get('/h/:id', (c) => {
      c.header('x-framework', 'hono');
      return c.text(`hono ${c.req.param('id')}`, 202);
    });
    const base = await serve(app, 'fetch');
    await expectText(`${base}/h/7`, 202, 'hono 7', ['x-framework', 'hono']);
  });

  it('serves a plain (req, res) listener', async () => {
    const app: RequestListener = (req, res) => {
      res.writeHead(200, { 'x-framework': 'node' });
      res.end(`plain ${req.method} ${req.url}`);
    };
    const base = await serve(app, 'node');
    await expectText(`${base}/p?q=1`, 200, 'plain GET /p?q=1', ['x-framework', 'node']);
  });

  it('serves an object with a fetch method, keeping `this`', async () => {
    const app = {
      greeting: 'howdy',
      fetch(this: { greeting: string }, request: Request) {
        return new Response(`${this.greeting} ${new URL(request.url).pathname}`, { headers: { 'x-framework': 'fetch' } });
      },
    };
    const base = await serve(app, 'fetch');
    await expectText(`${base}/o`, 200, 'howdy /o', ['x-framework', 'fetch']);
  });

  it('rejects a value that is not callable with AppLoadError', async () => {
    for (const [value, described] of [
      [42, 'a number'],
      [{ app: () => {} }, 'an object'],
      [undefined, 'undefined'],
    ] as const) {
      await assert.rejects(adaptApp(value, 'mod:thing'), (err: unknown) => {
        assert.ok(err instanceof AppLoadError, `expected AppLoadError, got ${String(err)}`);
        assert.equal(err.message, `Application object must be callable: "mod:thing" is ${described}`);
        return true;
      });
    }
  });
});

describe('adaptApp: the fetch adapter', () => {
  it('streams a POST body to the handler and gives it URL, method and headers', async () => {
    const base = await serve(
      {
        async fetch(request: Request) {
          const body = await request.text();
          return Response.json({
            method: request.method,
            url: request.url,
            type: request.headers.get('content-type'),
            body,
          });
        },
      },
      'fetch',
    );
    const big = 'x'.repeat(200_000);
    const res = await fetch(`${base}/echo?a=1`, { method: 'POST', body: big, headers: { 'content-type': 'text/plain' } });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { method: 'POST', url: `${base}/echo?a=1`, type: 'text/plain', body: big });
  });

  it('keeps a keep-alive connection usable when the handler ignores a large body', async () => {
    const base = await serve({ fetch: (request: Request) => new Response(`ok ${request.method}`) }, 'fetch');
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const send = (method: string, body?: string) =>
        new Promise<string>((resolve, reject) => {
          const req = http.request(base, { method, agent }, (res) => {
            let text = '';
            res.setEncoding('utf8');
            res.on('data', (chunk: string) => (text += chunk));
            res.on('end', () => resolve(`${text} reused=${req.reusedSocket}`));
          });
          req.on('error', reject);
          req.setTimeout(3000, () => req.destroy(new Error(`${method} timed out`)));
          req.end(body);
        });
      assert.equal(await send('POST', 'x'.repeat(1_000_000)), 'ok POST reused=false');
      assert.equal(await send('GET'), 'ok GET reused=true');
    } finally {
      agent.destroy();
    }
  });

  it('passes repeated request headers and uses an absolute-form target as it is', async () => {
    const base = await serve(
      { fetch: (request: Request) => new Response(`${request.url} ${request.headers.get('x-dup')}`) },
      'fetch',
    );
    const reply = await rawRequest(
      base,
      'GET http://example.test:8080/abs?x=1 HTTP/1.1\r\nHost: ignored\r\nX-Dup: a\r\nX-Dup: b\r\nConnection: close\r\n\r\n',
    );
    assert.match(reply, /^HTTP\/1\.1 200 OK\r\n/);
    // The body arrives as one chunk of a chunked response.
    assert.ok(reply.includes('\r\nhttp://example.test:8080/abs?x=1 a, b\r\n'), reply);
  });

  it('answers 400 when the Host header cannot make a URL', async () => {
    let called = false;
    const base = await serve({ fetch: () => ((called = true), new Response('no')) }, 'fetch');
    const reply = await rawRequest(base, 'GET /x HTTP/1.1\r\nHost: evil.test/other\r\nConnection: close\r\n\r\n');
    assert.match(reply, /^HTTP\/1\.1 400 Bad Request\r\n/);
    assert.equal(called, false);
  });

  it('sends every Set-Cookie header separately, with status text', async () => {
    const base = await serve(
      {
        fetch() {
          const headers = new Headers({ 'content-type': 'text/plain' });
          headers.append('set-cookie', 'a=1; Path=/');
          headers.append('set-cookie', 'b=2; Expires=Wed, 21 Oct 2037 07:28:00 GMT');
          return new Response('cookies', { status: 203, statusText: 'Cookie Jar', headers });
        },
      },
      'fetch',
    );
    const res = await fetch(base);
    assert.equal(res.status, 203);
    assert.equal(res.statusText, 'Cookie Jar');
    assert.deepEqual(res.headers.getSetCookie(), ['a=1; Path=/', 'b=2; Expires=Wed, 21 Oct 2037 07:28:00 GMT']);
    assert.equal(await res.text(), 'cookies');
  });

  it('sends no body for HEAD', async () => {
    const base = await serve({ fetch: () => new Response('hello', { headers: { 'x-kind': 'head' } }) }, 'fetch');
    const reply = await rawRequest(base, 'HEAD / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n');
    assert.match(reply, /^HTTP\/1\.1 200 OK\r\n/);
    assert.match(reply, /\r\nx-kind: head\r\n/);
    assert.ok(reply.endsWith('\r\n\r\n'), `HEAD reply has a body: ${JSON.stringify(reply)}`);
  });

  it('ends at once for a null body', async () => {
    const base = await serve({ fetch: () => new Response(null, { status: 204 }) }, 'fetch');
    const res = await fetch(base);
    assert.equal(res.status, 204);
    assert.equal(await res.text(), '');
  });

  it('streams a large body with backpressure intact', async () => {
    const chunk = new Uint8Array(64 * 1024).fill(97);
    const chunks = 80; // 5 MiB, well past the socket's buffers
    const base = await serve(
      {
        fetch() {
          let sent = 0;
          const body = new ReadableStream<Uint8Array>({
            pull(controller) {
              if (sent++ === chunks) controller.close();
              else controller.enqueue(chunk);
            },
          });
          return new Response(body);
        },
      },
      'fetch',
    );
    const res = await fetch(base);
    const bytes = new Uint8Array(await res.arrayBuffer());
    assert.equal(bytes.length, chunk.length * chunks);
    assert.ok(bytes.every((b) => b === 97));
  });

  it('answers 500 and reports the error when the handler throws or returns a non-Response', async () => {
    const errors: unknown[] = [];
    const base = await serve(
      {
        async fetch(request: Request) {
          if (new URL(request.url).pathname === '/throw') throw new Error('handler broke');
          return 'not a response';
        },
      },
      'fetch',
      (err) => errors.push(err),
    );
    await expectText(`${base}/throw`, 500, 'Internal Server Error\n', ['content-type', 'text/plain; charset=utf-8']);
    await expectText(`${base}/string`, 500, 'Internal Server Error\n', ['content-type', 'text/plain; charset=utf-8']);
    assert.equal(errors.length, 2);
    assert.equal((errors[0] as Error).message, 'handler broke');
    assert.match((errors[1] as Error).message, /returned a string, not a Response/);
  });

  it('aborts the request signal when the client goes away', async () => {
    let resolveAborted!: (reason: unknown) => void;
    const aborted = new Promise((resolve) => (resolveAborted = resolve));
    let reached!: () => void;
    const handlerReached = new Promise<void>((resolve) => (reached = resolve));
    const base = await serve(
      {
        fetch(request: Request) {
          request.signal.addEventListener('abort', () => resolveAborted(request.signal.reason));
          reached();
          return new Promise<Response>(() => {}); // never answers
        },
      },
      'fetch',
    );
    const socket = net.connect(Number(new URL(base).port), '127.0.0.1');
    socket.write('GET /slow HTTP/1.1\r\nHost: h\r\n\r\n');
    await handlerReached;
    socket.destroy();
    const timeout = setTimeout(() => resolveAborted(new Error('no abort within 2s')), 2000);
    const reason = await aborted;
    clearTimeout(timeout);
    assert.notEqual((reason as Error).message, 'no abort within 2s');
  });
});
