/**
 * Turns whatever the app module gave us into a Node request listener. Each framework is used
 * through its own public entry point (Fastify's routing, Koa's callback, a fetch handler's fetch),
 * so apps behave exactly as they do under their own listen().
 */
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';

import { AppImportError, AppLoadError, oneLine } from '../errors.js';
import { describeValue } from './load.js';
import { schemeOf } from '../http/proxy.js';

export type AppKind = 'node' | 'fetch' | 'koa' | 'fastify';
export interface AdaptedApp {
  kind: AppKind;
  listener: RequestListener;
}

type Fn = (...args: unknown[]) => unknown;
type FetchHandler = (request: Request, env: { incoming: IncomingMessage; outgoing: ServerResponse }) => unknown;

/** Turns the loaded value into a Node request listener, using each kind of app as it is. */
export async function adaptApp(
  value: unknown,
  specRaw: string,
  onError?: (err: unknown) => void,
): Promise<AdaptedApp> {
  const app = value as Record<string, unknown> | null;
  const isObject = app !== null && (typeof app === 'object' || typeof app === 'function');

  if (isObject && isFn(app.ready) && isFn(app.routing) && isFn(app.inject)) {
    try {
      // Plugins load in ready(); routing() is what Fastify's own server calls per request.
      await (app.ready as Fn).call(app);
    } catch (err) {
      throw new AppImportError(`Fastify app "${specRaw}" failed to start: ${oneLine(err)}`, { cause: err });
    }
    const routing = app.routing as RequestListener;
    return { kind: 'fastify', listener: (req, res) => routing.call(app, req, res) };
  }
  if (isObject && isFn(app.callback) && isFn(app.use) && Array.isArray(app.middleware)) {
    return { kind: 'koa', listener: (app.callback as () => RequestListener).call(app) };
  }
  if (isObject && isFn(app.fetch)) {
    return { kind: 'fetch', listener: fetchListener(app, app.fetch as FetchHandler, specRaw, onError) };
  }
  if (typeof value === 'function') {
    return { kind: 'node', listener: value as RequestListener };
  }
  throw new AppLoadError(`Application object must be callable: "${specRaw}" is ${describeValue(value)}`);
}

function isFn(v: unknown): v is Fn {
  return typeof v === 'function';
}

// ---- fetch handlers --------------------------------------------------------------------------------

type Report = ((err: unknown) => void) | undefined;

// Per-response state lives on the response under a symbol so the 'close' listener can be one
// shared function instead of a closure per request.
const kAbort = Symbol('tsgunicorn.abort');
type TrackedResponse = ServerResponse & { [kAbort]?: AbortController };

function onResponseClose(this: TrackedResponse): void {
  if (!this.writableFinished) {
    this[kAbort]!.abort();
  } else if (!this.req.complete) {
    // The handler answered without reading the whole body. Node only discards unread bodies it
    // never saw consumed, so do what its IncomingMessage._dump does, or the next request on this
    // keep-alive connection would wait behind the paused body forever.
    this.req.removeAllListeners('data');
    this.req.resume();
  }
}

function fetchListener(target: object, handler: FetchHandler, specRaw: string, onError: Report): RequestListener {
  return (req, res) => {
    void serveFetch(target, handler, specRaw, onError, req, res);
  };
}

async function serveFetch(
  target: object,
  handler: FetchHandler,
  specRaw: string,
  onError: Report,
  req: IncomingMessage,
  res: TrackedResponse,
): Promise<void> {
  const controller = new AbortController();
  const request = toRequest(req, controller.signal);
  if (request === null) {
    plainResponse(res, 400, 'Bad Request\n');
    return;
  }
  res[kAbort] = controller;
  res.once('close', onResponseClose);

  let response: unknown;
  try {
    // The second argument is what @hono/node-server passes, so Hono helpers such as getConnInfo work.
    response = await handler.call(target, request, { incoming: req, outgoing: res });
  } catch (err) {
    fail(res, controller, onError, err);
    return;
  }
  if (!isResponse(response)) {
    const err = new TypeError(`fetch handler of "${specRaw}" returned ${describeValue(response)}, not a Response`);
    fail(res, controller, onError, err);
    return;
  }
  try {
    await writeResponse(req, res, response);
  } catch (err) {
    fail(res, controller, onError, err);
  }
}

const HOST_BREAKERS = /[/?#@\\\s]/;

/** The WHATWG Request for `req`, or null when no valid URL can be built from it. */
function toRequest(req: IncomingMessage, signal: AbortSignal): Request | null {
  const target = req.url ?? '/';
  let url: string;
  if (target.startsWith('/')) {
    // TLS, or what a trusted front end said (src/http/proxy.ts).
    const scheme = schemeOf(req) === 'https' ? 'https://' : 'http://';
    const host = req.headers.host || localHost(req);
    // A Host such as "a/b" or "a@b" would silently change the URL's path or authority.
    if (HOST_BREAKERS.test(host)) return null;
    url = scheme + host + target;
  } else if (target.startsWith('http://') || target.startsWith('https://')) {
    url = target; // absolute-form, as proxies send it
  } else {
    return null;
  }

  const method = req.method ?? 'GET';
  const raw = req.rawHeaders;
  try {
    const headers = new Headers();
    for (let i = 0; i < raw.length; i += 2) headers.append(raw[i]!, raw[i + 1]!);
    const init: RequestInit & { duplex?: 'half' } = { method, headers, signal };
    if (method !== 'GET' && method !== 'HEAD' && hasBody(req)) {
      init.body = Readable.toWeb(req) as unknown as ReadableStream<Uint8Array>;
      init.duplex = 'half';
    }
    return new Request(url, init);
  } catch {
    return null; // bad URL, header value Headers rejects, or a method fetch forbids (CONNECT, TRACE)
  }
}

function localHost(req: IncomingMessage): string {
  const { localAddress, localPort } = req.socket;
  if (!localAddress) return 'localhost'; // UNIX socket
  return (localAddress.includes(':') ? `[${localAddress}]` : localAddress) + ':' + localPort;
}

// HTTP/1.1 requests carry a body only when they say so (RFC 9112 section 6.3).
function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

// Duck-typed as well, because some libraries replace the global Response with their own class.
function isResponse(value: unknown): value is Response {
  if (value instanceof Response) return true;
  const r = value as Partial<Response> | null;
  return typeof r === 'object' && r !== null && typeof r.status === 'number' && typeof r.headers?.forEach === 'function' && 'body' in r;
}

async function writeResponse(req: IncomingMessage, res: ServerResponse, response: Response): Promise<void> {
  // A flat [name, value, ...] list lets writeHead take repeated names without an object per response.
  const headers: (string | string[])[] = [];
  response.headers.forEach(collectHeader, headers);
  // Headers joins repeated fields with ", ", which breaks cookies; getSetCookie keeps them apart.
  const cookies = typeof response.headers.getSetCookie === 'function' ? response.headers.getSetCookie() : [];
  if (cookies.length > 0) headers.push('set-cookie', cookies);
  res.writeHead(response.status, response.statusText || undefined, headers);

  const body = response.body;
  if (body === null || req.method === 'HEAD') {
    if (body !== null) void body.cancel().catch(ignore);
    res.end();
    return;
  }
  const reader = body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (res.destroyed) {
        void reader.cancel().catch(ignore);
        return;
      }
      if (!res.write(value)) await drained(res);
    }
  } catch (err) {
    void reader.cancel(err).catch(ignore);
    throw err;
  }
  res.end();
}

function collectHeader(this: (string | string[])[], value: string, name: string): void {
  if (name !== 'set-cookie') this.push(name, value);
}

function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

function fail(res: ServerResponse, controller: AbortController, onError: Report, err: unknown): void {
  if (!res.headersSent && !res.destroyed) plainResponse(res, 500, 'Internal Server Error\n');
  else res.destroy();
  // An abort we caused because the client left is not the app's fault.
  if (!controller.signal.aborted) onError?.(err);
}

function plainResponse(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

function ignore(): void {}
