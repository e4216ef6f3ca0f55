/**
 * An app thread of the gthread worker class. It loads the app itself (each thread is its own
 * isolate) and serves one request at a time with genuine node:http IncomingMessage and
 * ServerResponse objects, so Express, Koa, Fastify and fetch handlers see exactly what they see
 * under node:http. The bytes node:http would put on a socket go to the main thread instead,
 * which writes them through the worker's real connection.
 */
import { IncomingMessage, ServerResponse, type OutgoingHttpHeaders, type RequestListener } from 'node:http';
import { Duplex } from 'node:stream';
import { parentPort, workerData } from 'node:worker_threads';
import { loadApp } from '../../../app/index.js';
import { AppLoadError } from '../../../errors.js';
import { invokeApp } from '../../../http/invoke.js';
import { installSchemeProperty, type Scheme } from '../../../http/proxy.js';
import { createLogger, type LogLevel } from '../../../log/logger.js';
import { BEAT_MS, RESPONSE_WINDOW, type FromThread, type ThreadData, type ToThread } from './protocol.js';

installSchemeProperty();
const data = workerData as ThreadData;
const port = parentPort!;
const log = createLogger({ errorlog: data.errorlog, loglevel: data.loglevel as LogLevel, json: data.json });
const post = (msg: FromThread, transfer?: ArrayBuffer[]) => port.postMessage(msg, transfer);

process.on('unhandledRejection', (reason) => log.exception('Unhandled promise rejection in the app', reason));

/**
 * The response side of one request. node:http writes the status line and headers (its
 * `_header`) followed by the body to the socket; we send the head as structured data and the
 * body bytes as they come, and the main thread's own ServerResponse does the framing.
 */
class RequestSocket extends Duplex {
  remoteAddress?: string;
  remotePort?: number;
  remoteFamily?: string;
  localAddress?: string;
  localPort?: number;
  encrypted: boolean;
  res: ThreadResponse | null = null;
  private headLeft = -1;
  private unacked = 0;
  private waiting: (() => void) | null = null;

  constructor(
    readonly id: number,
    msg: Extract<ToThread, { t: 'req' }>,
  ) {
    super({ allowHalfOpen: true });
    this.remoteAddress = msg.remoteAddress;
    this.remotePort = msg.remotePort;
    this.remoteFamily = msg.remoteFamily;
    this.localAddress = msg.localAddress;
    this.localPort = msg.localPort;
    this.encrypted = msg.encrypted;
    // node:http's server tells a response its socket drained; there is no server here, so we do.
    this.on('drain', () => {
      if (this.res && !this.res.writableEnded) this.res.emit('drain');
    });
  }

  override _read(): void {}

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    const res = this.res!;
    const out = this.pending();
    if (this.headLeft < 0) {
      // The first bytes node:http writes are its _header string: the status line and headers.
      const head = (res as unknown as { _header: string })._header;
      this.headLeft = Buffer.byteLength(head, 'latin1');
      out.head = { status: res.statusCode, reason: res.statusMessage, headers: parseHead(head), close: res.appClose };
    }
    let body = chunk;
    if (this.headLeft > 0) {
      const skip = Math.min(this.headLeft, body.length);
      this.headLeft -= skip;
      body = body.subarray(skip);
    }
    if (body.length === 0) return cb();
    // Copy into a buffer of our own so it can be transferred rather than cloned.
    const copy = new Uint8Array(body);
    out.chunks.push(copy);
    this.unacked += copy.byteLength;
    if (this.unacked < RESPONSE_WINDOW) cb();
    else this.waiting = () => cb();
  }

  /** The response finished: the batch in progress carries the end. */
  finish(): void {
    this.pending().end = true;
  }

  private batch: Extract<FromThread, { t: 'res' }> | null = null;

  /** What this turn of the event loop produced; sent as one message at the end of the turn. */
  private pending(): Extract<FromThread, { t: 'res' }> {
    if (!this.batch) {
      this.batch = { t: 'res', id: this.id, head: null, chunks: [], end: false };
      setImmediate(() => {
        const b = this.batch!;
        this.batch = null;
        post(b, b.chunks.map((c) => c.buffer as ArrayBuffer));
      });
    }
    return this.batch;
  }

  ack(n: number): void {
    this.unacked -= n;
    if (this.waiting && this.unacked < RESPONSE_WINDOW) {
      const w = this.waiting;
      this.waiting = null;
      w();
    }
  }

  setTimeout(): this {
    return this;
  }
  setNoDelay(): this {
    return this;
  }
  setKeepAlive(): this {
    return this;
  }
  destroySoon(): void {
    this.end();
  }
}

/** Headers from node:http's `_header`, without the hop-by-hop ones the main thread decides itself. */
function parseHead(head: string): string[] {
  const out: string[] = [];
  const lines = head.split('\r\n');
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    if (line === '') continue;
    const colon = line.indexOf(':');
    const name = line.slice(0, colon);
    const lower = name.toLowerCase();
    if (lower === 'connection' || lower === 'keep-alive' || lower === 'transfer-encoding') continue;
    out.push(name, line.slice(colon + 1).trim());
  }
  return out;
}

/** Which header names (from setHeader or writeHead's argument) the app set itself. */
function appSets(res: ServerResponse, name: string, args: unknown[]): unknown {
  const given = res.getHeader(name);
  if (given !== undefined) return given;
  const obj = args.find((a) => typeof a === 'object' && a !== null);
  if (Array.isArray(obj)) {
    for (let i = 0; i < obj.length; i++) {
      const entry = obj[i] as unknown;
      if (Array.isArray(entry) && String(entry[0]).toLowerCase() === name) return entry[1];
      if (typeof entry === 'string' && i % 2 === 0 && entry.toLowerCase() === name) return obj[i + 1];
    }
  } else if (obj) {
    for (const [k, v] of Object.entries(obj as OutgoingHttpHeaders)) if (k.toLowerCase() === name) return v;
  }
  return undefined;
}

class ThreadResponse extends ServerResponse {
  /** The app asked for the connection to close after this response. */
  appClose = false;

  override writeHead(...args: unknown[]): this {
    const conn = appSets(this, 'connection', args);
    this.appClose = typeof conn === 'string' && /\bclose\b/i.test(conn);
    // Framing is the main thread's business: node:http here must not chunk.
    if (this.getHeader('transfer-encoding') !== undefined) this.removeHeader('transfer-encoding');
    return (ServerResponse.prototype.writeHead as (...a: unknown[]) => this).apply(this, args);
  }

  override writeContinue(): void {
    // The main thread already answered Expect: 100-continue.
  }

  override writeEarlyHints(hints: Record<string, string | string[]>): void {
    post({ t: 'info', id: (this.socket as unknown as RequestSocket).id, status: 103, headers: hints });
  }
}

class ThreadRequest extends IncomingMessage {
  paused = false;
  id = 0;
  override _read(): void {
    if (this.paused) {
      this.paused = false;
      post({ t: 'resume', id: this.id });
    }
  }
}

/** The call node:http's own parser makes: fills rawHeaders, headers and headersDistinct (or the trailers). */
function addHeaderLines(req: IncomingMessage, lines: string[]): void {
  (req as unknown as { _addHeaderLines(h: string[], n: number): void })._addHeaderLines(lines, lines.length);
}

function endBody(req: IncomingMessage, trailers: string[]): void {
  // complete first: _addHeaderLines files lines under trailers once the message is complete.
  req.complete = true;
  if (trailers.length) addHeaderLines(req, trailers);
  req.push(null);
}

interface Live {
  req: ThreadRequest;
  res: ThreadResponse;
  socket: RequestSocket;
}

const live = new Map<number, Live>();
let app: RequestListener;

function start(msg: Extract<ToThread, { t: 'req' }>): void {
  const socket = new RequestSocket(msg.id, msg);
  const req = new ThreadRequest(socket as never);
  req.id = msg.id;
  req.method = msg.method;
  req.url = msg.url;
  req.httpVersionMajor = msg.httpVersionMajor;
  req.httpVersionMinor = msg.httpVersionMinor;
  req.httpVersion = `${msg.httpVersionMajor}.${msg.httpVersionMinor}`;
  // req.scheme as the main thread decided it (a trusted front end may have said https).
  if (msg.scheme !== (msg.encrypted ? 'https' : 'http')) (req as unknown as { scheme: Scheme }).scheme = msg.scheme;
  addHeaderLines(req, msg.rawHeaders);
  if (!msg.body) {
    req.complete = true;
    req.push(null);
  } else {
    for (const c of msg.bodyStart) req.push(Buffer.from(c.buffer, c.byteOffset, c.byteLength));
    if (msg.trailers !== null) endBody(req, msg.trailers);
  }
  const res = new ThreadResponse(req);
  // Never chunk here; the main thread frames the body for the client.
  res.useChunkedEncodingByDefault = false;
  res.shouldKeepAlive = true;
  res.assignSocket(socket as never);
  socket.res = res;
  live.set(msg.id, { req, res, socket });
  res.once('finish', () => {
    live.delete(msg.id);
    socket.finish();
    socket.end();
  });
  invokeApp(app, req, res, log);
}

port.on('message', (msg: ToThread) => {
  const l = live.get(msg.id as number);
  switch (msg.t) {
    case 'req':
      start(msg);
      break;
    case 'data':
      if (l && !l.req.push(Buffer.from(msg.chunk.buffer, msg.chunk.byteOffset, msg.chunk.byteLength)) && !l.req.paused) {
        l.req.paused = true;
        post({ t: 'pause', id: msg.id });
      }
      break;
    case 'end':
      if (l) endBody(l.req, msg.rawTrailers);
      break;
    case 'ack':
      l?.socket.ack(msg.n);
      break;
    case 'abort':
      if (l) {
        live.delete(msg.id);
        l.req.destroy();
        l.socket.destroy();
      }
      break;
  }
});

/** Marks the heartbeat: the main thread's sweep takes a thread that stops marking it for stuck. */
function beat(): void {
  data.beat[0] = Date.now();
}

loadApp(data.app, data.chdir, log).then(
  (listener) => {
    app = listener;
    // Only a loaded app is watched: loading may take long (imports, connecting to a database).
    beat();
    setInterval(beat, BEAT_MS).unref();
    post({ t: 'ready' });
  },
  (err: unknown) => {
    const e = err as Error;
    post({ t: 'load-error', kind: err instanceof AppLoadError ? 'load' : 'import', message: e?.message ?? String(err), stack: (e?.cause as Error | undefined)?.stack });
  },
);
