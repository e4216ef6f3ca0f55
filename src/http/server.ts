/**
 * The node:http server both in-process worker classes (sync, async) serve with. It never listens:
 * the worker's acceptors hand it connections. It wraps the app with what every request needs
 * (counting, the access log, a 500 instead of a dead worker when the app throws) and knows how
 * to drain: no new requests on open connections, in-flight ones finish, idle ones close.
 */
import http, { type IncomingMessage, type RequestListener, type ServerResponse } from 'node:http';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import type { WorkerClassContext } from '../worker/classes/types.js';
import { sendError } from './errors.js';
import { invokeApp } from './invoke.js';
import { Edge, serverTimeouts, type EdgeSettings } from './edge.js';
import { Verdict, checkRequest, onClientError, parserOptions, refuse, requestLimits, type RequestLimits } from './limits.js';

export interface ServingOptions {
  /** Answer every request with Connection: close (sync class, or keep-alive disabled). */
  closeEach: boolean;
  keepAliveTimeoutMs: number;
  /** Asked per request: answer this one with Connection: close (gthread's keep-alive slots). */
  closeWhen?: () => boolean;
  /** Whether the app has not been given this request yet (gthread: it waits for a thread). */
  notStarted?: (res: ServerResponse) => boolean;
  /**
   * Whether this request waits behind earlier ones pipelined on its connection (gthread): it is
   * not timed until it stops waiting (restartClock), as its predecessors are, and a cut one
   * closes the connection.
   */
  behindEarlier?: (res: ServerResponse) => boolean;
}

/**
 * How long a connection closed after its response may go on receiving the rest of a request body
 * the app did not read. Bounded, as nginx's lingering_timeout, so a client cannot hold it open.
 */
const LINGER_MS = 5000;

/** The latest request on a connection, to know at its close whether a body is still arriving. */
const kLastRequest = Symbol('tsgunicorn.lastRequest');
const kServing = Symbol('tsgunicorn.serving');
const kOnClose = Symbol('tsgunicorn.onClose');
const kRaw = Symbol('tsgunicorn.raw');
/** An accepted connection, as HttpServing counts it. */
type ServedSocket = net.Socket & { [kServing]?: HttpServing; [kOnClose]?: () => void };
/** What node:http serves: the accepted connection, or a TLS socket over it. */
type LingeringSocket = net.Socket & { [kLastRequest]?: IncomingMessage; [kRaw]?: ServedSocket };

type ServedResponse = ServerResponse & { [kServing]?: HttpServing };

function responseClosed(this: ServedResponse): void {
  this[kServing]!.ended(this);
}

function releaseConnection(this: ServedSocket): void {
  const serving = this[kServing];
  if (!serving) return;
  this[kServing] = undefined;
  serving.release(this);
}

const destroySoon = net.Socket.prototype.destroySoon;

/**
 * node:http closes a connection the moment its last response is written (destroySoon). If the
 * client is still sending a body the app did not read (an early 401 or 413, an app that ignores
 * uploads), the close makes its next write fail (EPIPE, or a reset that may also discard the
 * response unread): nginx answers such a request 502. As nginx's and Apache's lingering close:
 * send FIN after the response, read and drop the rest of the body, then close. The connection
 * stops counting at once (a sync worker takes the next one meanwhile).
 */
function lingeringDestroySoon(this: LingeringSocket): void {
  const req = this[kLastRequest];
  // Nothing more is coming: the body is complete, or the client has already finished sending.
  if (!req || req.complete || this.readableEnded || this.destroyed) return destroySoon.call(this);
  this.end();
  releaseConnection.call(this[kRaw]!);
  const close = () => {
    clearTimeout(timer);
    this.destroy();
  };
  const timer = setTimeout(close, LINGER_MS);
  req.once('end', close);
  this.once('end', close);
  this.once('close', () => clearTimeout(timer));
}

export class HttpServing {
  readonly server: http.Server;
  readonly connections = new Set<net.Socket>();
  /** Responses in progress, in the order their requests arrived, with when that was (performance.now()). */
  private readonly inFlight = new Map<ServerResponse, number>();
  private draining = false;
  private drainedWaiters: (() => void)[] = [];
  private readonly limits: RequestLimits;
  /** PROXY protocol, TLS, the header timeout and the forwarded scheme (src/http/edge.ts). */
  private readonly edge: Edge;

  constructor(
    private readonly ctx: WorkerClassContext,
    private readonly app: RequestListener,
    private readonly opts: ServingOptions,
  ) {
    this.limits = requestLimits(ctx.settings, ctx.log);
    const { maxHeaderSize, maxHeadersCount } = parserOptions(this.limits);
    this.edge = new Edge(ctx.settings as unknown as EdgeSettings, ctx.log);
    const timeouts = serverTimeouts(ctx.settings);
    this.server = http.createServer({ keepAliveTimeout: opts.keepAliveTimeoutMs, maxHeaderSize, ...timeouts }, (req, res) => this.onRequest(req, res));
    this.server.maxHeadersCount = maxHeadersCount;
    this.server.on('clientError', onClientError);
    // A client that half-closes after its request still gets the answer (node would end the
    // socket on the client's FIN and drop a response not yet written). Undocumented but long-lived.
    (this.server as http.Server & { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true;
    // node:http tracks connections (headers/request timeouts, closeIdleConnections) only once it
    // has emitted 'listening'; this server is fed by our acceptors and never listens itself.
    this.server.emit('listening');
    const limitMs = ctx.settings.request_timeout * 1000;
    // A sweep rather than a timer per request: the common request pays one clock read.
    if (limitMs > 0) setInterval(() => this.cutUnanswered(limitMs), Math.min(1000, Math.max(100, limitMs / 4))).unref();
  }

  /** Takes an accepted connection; `onClose` runs when it is gone. */
  attach(socket: net.Socket, onClose: () => void): void {
    this.connections.add(socket);
    const raw = socket as ServedSocket;
    raw[kServing] = this;
    raw[kOnClose] = onClose;
    // Shared functions and state on the socket, not closures per connection: with a connection
    // per request (nginx's default upstream), this path runs as often as the request path.
    socket.on('close', releaseConnection);
    // node:http gets the socket the edge delivers (a TLS socket over this one, or this one).
    if (this.edge.active) this.edge.accept(socket, (s) => this.deliver(s, raw));
    else this.deliver(socket, raw);
  }

  private deliver(s: net.Socket, raw: ServedSocket): void {
    const ls = s as LingeringSocket;
    ls[kRaw] = raw;
    ls.destroySoon = lingeringDestroySoon;
    this.server.emit('connection', s);
  }

  /** The connection is gone, or lingering and no longer counted. */
  release(raw: ServedSocket): void {
    this.connections.delete(raw);
    raw[kOnClose]!();
    if (this.draining && this.connections.size === 0) this.settle();
  }

  /**
   * Times this request for --request-timeout from now: for one that waited behind earlier ones
   * on its connection. (Re-inserted, so the map stays in the order of the times.)
   */
  restartClock(res: ServerResponse): void {
    if (!this.inFlight.delete(res)) return;
    this.inFlight.set(res, performance.now());
  }

  /** A response is done or cut short. */
  ended(res: ServerResponse): void {
    const startedAt = this.inFlight.get(res)!;
    this.inFlight.delete(res);
    this.ctx.requestEnded(res.req, res, performance.now() - startedAt);
  }

  get requests(): number {
    return this.inFlight.size;
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const verdict = checkRequest(req, this.limits) || (this.edge.schemeOk(req) ? Verdict.Ok : Verdict.ContradictoryScheme);
    if (verdict !== 0) return refuse(req, res, verdict, this.limits, this.ctx.log);
    (req.socket as LingeringSocket)[kLastRequest] = req;
    this.ctx.requestStarted();
    if (this.opts.closeEach || this.draining || this.opts.closeWhen?.()) res.shouldKeepAlive = false;
    this.inFlight.set(res, performance.now());
    // One shared listener per request does all the bookkeeping (a closure and a once-wrapper
    // per request cost more than the work).
    (res as ServedResponse)[kServing] = this;
    res.on('close', responseClosed);
    if (this.ctx.accessLog) this.logAccess(req, res);
    const { preRequest, postRequest } = this.ctx.hooks;
    if (preRequest) preRequest(req);
    if (postRequest) res.once('finish', () => postRequest(req, res));
    invokeApp(this.app, req, res, this.ctx.log);
  }

  /**
   * --request-timeout: a request whose answer has not started in time gets 408 if its body is
   * still arriving (a slow client), 503 if it is still waiting for a thread (the server is
   * overloaded), else 500 (an app that never answers), and its connection closes. An answer
   * already under way (a stream, a long download) is left alone.
   */
  private cutUnanswered(limitMs: number): void {
    const now = performance.now();
    for (const [res, startedAt] of this.inFlight) {
      // In arrival order: the first one still in time ends the sweep.
      if (now - startedAt < limitMs) break;
      if (res.headersSent || res.writableEnded || this.opts.behindEarlier?.(res)) continue;
      const req = res.req;
      const waited = `${Math.round((now - startedAt) / 1000)}s`;
      const what = `${req.method} ${req.url}`;
      let status = 500;
      if (!req.complete) {
        status = 408;
        this.ctx.log.debug(`Request body still arriving after ${waited} (--request-timeout): ${what}; answered 408`);
      } else if (this.opts.notStarted?.(res)) {
        status = 503;
        this.ctx.log.warning(`Request still waiting for a thread after ${waited} (--request-timeout): ${what}; answered 503`);
      } else {
        this.ctx.log.error(`Request timed out after ${waited} (--request-timeout): ${what}; answered 500`);
      }
      sendError(res, status);
      ignoreLateAnswer(res);
    }
  }

  /** Counts body bytes as Gunicorn does (what the app wrote, before chunk framing). */
  private logAccess(req: IncomingMessage, res: ServerResponse): void {
    const start = new Date();
    const startNs = process.hrtime.bigint();
    let sent = 0;
    const write = res.write;
    const end = res.end;
    const count = (chunk: unknown, encoding?: unknown) => {
      if (typeof chunk === 'string') sent += Buffer.byteLength(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8');
      else if (chunk instanceof Uint8Array) sent += chunk.byteLength;
    };
    res.write = function (this: ServerResponse, chunk: unknown, ...rest: unknown[]) {
      count(chunk, rest[0]);
      return (write as (...a: unknown[]) => boolean).call(this, chunk, ...rest);
    } as typeof res.write;
    res.end = function (this: ServerResponse, chunk?: unknown, ...rest: unknown[]) {
      if (typeof chunk !== 'function') count(chunk, rest[0]);
      return (end as (...a: unknown[]) => ServerResponse).call(this, chunk, ...rest);
    } as typeof res.end;
    res.once('finish', () => {
      const bodyless = req.method === 'HEAD' || res.statusCode === 204 || res.statusCode === 304;
      this.ctx.accessLog?.log(req, res, start, startNs, bodyless ? 0 : sent);
    });
  }

  /**
   * Stops taking requests: responses not yet started say Connection: close; idle keep-alive
   * connections get until their keep-alive timeout to send one last request (answered with
   * Connection: close) rather than being cut while a request may be on its way.
   */
  drain(): Promise<void> {
    this.draining = true;
    for (const res of this.inFlight.keys()) if (!res.headersSent) res.shouldKeepAlive = false;
    const p = new Promise<void>((resolve) => this.drainedWaiters.push(resolve));
    if (this.connections.size === 0) this.settle();
    else setTimeout(() => this.server.closeIdleConnections(), this.opts.keepAliveTimeoutMs).unref();
    return p;
  }

  private settle(): void {
    for (const w of this.drainedWaiters.splice(0)) w();
  }
}

const returnThis = function (this: ServerResponse) {
  return this;
};
const nothing = () => {};

/**
 * After a cut the app may still answer (its handler is not stopped: JavaScript cannot be). Its
 * late calls are dropped instead of throwing in its code (headers already sent) or emitting an
 * unhandled 'error' (write after end) that would take the worker down.
 */
function ignoreLateAnswer(res: ServerResponse): void {
  res.on('error', nothing);
  Object.assign(res, {
    writeHead: returnThis,
    setHeader: returnThis,
    setHeaders: returnThis,
    appendHeader: returnThis,
    removeHeader: nothing,
    flushHeaders: nothing,
    writeContinue: nothing,
    writeEarlyHints: nothing,
  });
}
