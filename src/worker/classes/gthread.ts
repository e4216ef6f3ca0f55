/**
 * gthread: a pool of real worker_threads per worker, each running the app; one request per
 * thread at a time. Max concurrent requests = workers × threads, and unlike Python's threads
 * these run JavaScript in parallel.
 *
 * The main thread owns every connection and parses HTTP (node:http), so idle keep-alive
 * connections cost no thread. Requests, not connections, are scheduled: each request goes to
 * whichever thread is idle, and waits in a queue while all are busy. Threads start on demand up
 * to --threads and retire after a while without work. The worker stops accepting connections
 * while every thread is busy or it holds --worker-connections connections; keep-alive is only
 * offered while fewer than worker_connections − threads connections are open (as Gunicorn).
 */
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type net from 'node:net';
import type { TLSSocket } from 'node:tls';
import { Worker } from 'node:worker_threads';
import { AppImportError, AppLoadError } from '../../errors.js';
import { appFailed } from '../../http/invoke.js';
import { schemeOf } from '../../http/proxy.js';
import { HttpServing } from '../../http/server.js';
import { stackOfThread } from '../stack.js';
import type { FromThread, ThreadData, ToThread } from './gthread/protocol.js';
import type { WorkerClass, WorkerClassContext } from './types.js';

const THREAD_ENTRY = new URL('./gthread/thread.js', import.meta.url);
/** An idle thread beyond the first is retired after this long without a request. */
export const THREAD_IDLE_MS = 30_000;
/**
 * A request body is gathered in the main thread up to this many bytes before the request goes to
 * a thread: a small body arriving slowly (a slow client, a slow-body attack) holds no thread, and
 * a small body crosses in the request's one message. Larger bodies stream on from there.
 */
export const BODY_START_BYTES = 64 * 1024;
/**
 * Requests of one connection in the pool (queued or running) at once. node:http's own back-pressure
 * on pipelining looks only at unsent answers, and here answers wait for threads; and it parses a
 * whole read (64 KB: some 2 300 small requests) before it can stop. So the rest of a connection's
 * requests wait on the connection, not in the pool, and the connection is not read while any
 * wait: a client pipelining megabytes cannot fill the pool's queue, nor put other connections'
 * requests behind thousands of its own. Real clients pipeline a few at most.
 */
export const PIPELINE_DEPTH = 16;

/** A connection's requests: how many are in the pool, and those waiting for room there. */
interface Pipeline {
  inPool: number;
  waiting: Job[];
}

/**
 * A connection's stream handle. node:http feeds it straight to its parser, so pausing the socket
 * stream does not stop reads, and node:http resumes reading on its own whenever its answers have
 * drained: while a connection is held, the handle's readStart is a no-op and only readAgain
 * restarts it.
 */
interface StreamHandle {
  reading?: boolean;
  readStart(): number;
  readStop(): number;
}
type HttpSocket = net.Socket & { _handle?: StreamHandle | null; [kPipeline]?: Pipeline; [kHeld]?: boolean };
const kPipeline = Symbol('tsgunicorn.pipeline');
const kHeld = Symbol('tsgunicorn.held');

function pipelineOf(socket: HttpSocket): Pipeline {
  return (socket[kPipeline] ??= { inPool: 0, waiting: [] });
}
const kReadStart = Symbol('tsgunicorn.readStart');
type HeldHandle = StreamHandle & { [kReadStart]?: () => number };

/** Stop reading the connection (what is already read is parsed: up to one read's requests). */
function stopReading(socket: HttpSocket): void {
  const h = socket._handle as HeldHandle | null | undefined;
  if (socket[kHeld] || !h) return;
  socket[kHeld] = true;
  if (!h[kReadStart]) {
    const readStart = (h[kReadStart] = h.readStart);
    h.readStart = function (this: HeldHandle) {
      return socket[kHeld] ? 0 : readStart.call(this);
    };
  }
  if (h.reading) h.readStop();
}

function readAgain(socket: HttpSocket): void {
  const h = socket._handle as HeldHandle | null | undefined;
  if (!socket[kHeld]) return;
  socket[kHeld] = false;
  // net's flag says whether the stream wants data; if it does, give it what was held back.
  if (h && h.reading && !socket.destroyed) h[kReadStart]!.call(h);
}

interface Job {
  id: number;
  req: IncomingMessage;
  res: ServerResponse;
  thread: AppThread | null;
  done: boolean;
  /** The body bytes gathered before the request went to a thread. */
  bodyStart: Uint8Array[];
  /** In the pool (else waiting on its connection). */
  admitted: boolean;
}

const kJob = Symbol('tsgunicorn.job');
type JobResponse = ServerResponse & { [kJob]?: Job };

class AppThread {
  readonly worker: Worker;
  job: Job | null = null;
  idleSince = Date.now();
  ready = false;
  /** Found stuck and being terminated. */
  stuck = false;
  private readonly beat = new Float64Array(new SharedArrayBuffer(8));

  constructor(data: Omit<ThreadData, 'beat'>) {
    this.worker = new Worker(THREAD_ENTRY, { workerData: { ...data, beat: this.beat } satisfies ThreadData });
  }

  /** When the thread's event loop last turned (Date.now() there), once it is ready. */
  get lastBeat(): number {
    return this.beat[0]!;
  }

  post(msg: ToThread): void {
    this.worker.postMessage(msg);
  }
}

class ThreadPool {
  private readonly threads = new Set<AppThread>();
  private readonly idle: AppThread[] = [];
  private readonly queue: Job[] = [];
  private seq = 0;
  private closing = false;
  private readonly data: Omit<ThreadData, 'beat'>;
  private readonly sweeper: NodeJS.Timeout;
  /** Called whenever the pool goes from full to not full or back. */
  onChange: () => void = () => {};
  /** Called as a request that waited on its connection enters the pool. */
  onAdmitLate: (res: ServerResponse) => void = () => {};

  constructor(
    private readonly ctx: WorkerClassContext,
    private readonly max: number,
  ) {
    const s = ctx.settings;
    this.data = { app: s.app ?? '', chdir: s.chdir, errorlog: s.errorlog, loglevel: s.loglevel, json: s.log_json };
    this.sweeper = setInterval(() => this.sweep(), 1000);
    this.sweeper.unref();
  }

  /** Starts the first thread; rejects as the app loader would if the app cannot load. */
  start(): Promise<void> {
    return new Promise((resolve, reject) => this.spawn(resolve, reject));
  }

  get busy(): number {
    return this.threads.size - this.idle.length;
  }

  /** Every thread busy and no more may start: new connections should go elsewhere. */
  get full(): boolean {
    return this.idle.length === 0 && this.threads.size >= this.max;
  }

  /** The request has not reached a thread yet (queued, or waiting on its connection). */
  notStarted = (res: ServerResponse): boolean => (res as JobResponse)[kJob]?.thread === null;

  /** The request waits on its connection behind PIPELINE_DEPTH earlier ones. */
  behindEarlier = (res: ServerResponse): boolean => (res as JobResponse)[kJob]?.admitted === false;

  dispatch: RequestListener = (req, res) => {
    const job: Job = { id: ++this.seq, req, res, thread: null, done: false, bodyStart: [], admitted: false };
    (res as JobResponse)[kJob] = job;
    const socket = req.socket as HttpSocket;
    const pipeline = pipelineOf(socket);
    res.once('close', () => {
      if (!job.done) this.abort(job);
      this.leavePipeline(socket, pipeline, job);
    });
    if (pipeline.inPool < PIPELINE_DEPTH) this.admit(pipeline, job);
    else {
      pipeline.waiting.push(job);
      stopReading(socket);
    }
  };

  private admit(pipeline: Pipeline, job: Job): void {
    pipeline.inPool++;
    job.admitted = true;
    if (hasBody(job.req) && !job.req.complete) this.gatherBodyStart(job);
    else this.enqueue(job);
  }

  private leavePipeline(socket: HttpSocket, pipeline: Pipeline, job: Job): void {
    if (job.admitted) {
      pipeline.inPool--;
      let next: Job | undefined;
      while ((next = pipeline.waiting.shift()) && next.done);
      if (next) {
        this.admit(pipeline, next);
        this.onAdmitLate(next.res);
      }
    } else {
      const i = pipeline.waiting.indexOf(job);
      if (i >= 0) pipeline.waiting.splice(i, 1);
    }
    if (pipeline.waiting.length === 0) readAgain(socket);
  }

  /** Holds the request until its body is complete or BODY_START_BYTES of it have arrived. */
  private gatherBodyStart(job: Job): void {
    const { req } = job;
    const chunks: Buffer[] = [];
    let bytes = 0;
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      bytes += chunk.length;
      if (bytes >= BODY_START_BYTES) go();
    };
    const go = () => {
      req.off('data', onData);
      req.off('end', go);
      req.pause();
      if (job.done) return;
      // One exact-size copy: a chunk is a view into node's read buffer, which postMessage
      // would clone whole.
      if (bytes > 0) {
        const start = new Uint8Array(bytes);
        let at = 0;
        for (const c of chunks) {
          start.set(c, at);
          at += c.length;
        }
        job.bodyStart = [start];
      }
      this.enqueue(job);
    };
    req.on('data', onData);
    req.once('end', go);
  }

  private enqueue(job: Job): void {
    const t = this.idle.pop();
    if (t) this.run(t, job);
    else {
      this.queue.push(job);
      if (this.threads.size < this.max) this.spawn();
    }
  }

  private run(t: AppThread, job: Job): void {
    const wasFull = this.full;
    t.job = job;
    job.thread = t;
    const { req } = job;
    const socket = req.socket as net.Socket & Partial<TLSSocket>;
    const body = hasBody(req);
    const whole = body && req.complete;
    t.post({
      t: 'req',
      id: job.id,
      method: req.method ?? 'GET',
      url: req.url ?? '/',
      httpVersionMajor: req.httpVersionMajor,
      httpVersionMinor: req.httpVersionMinor,
      rawHeaders: req.rawHeaders,
      remoteAddress: socket.remoteAddress,
      remotePort: socket.remotePort,
      remoteFamily: socket.remoteFamily,
      localAddress: socket.localAddress,
      localPort: socket.localPort,
      encrypted: socket.encrypted === true,
      scheme: schemeOf(req),
      body,
      bodyStart: job.bodyStart,
      trailers: whole ? req.rawTrailers : null,
    });
    job.bodyStart = [];
    if (body && !whole) {
      req.on('data', (chunk: Buffer) => {
        if (!job.done) t.post({ t: 'data', id: job.id, chunk });
      });
      req.once('end', () => {
        if (!job.done) t.post({ t: 'end', id: job.id, rawTrailers: req.rawTrailers });
      });
      req.resume();
    }
    if (this.full !== wasFull) this.onChange();
  }

  private onMessage(t: AppThread, msg: FromThread): void {
    const job = t.job;
    if (msg.t === 'ready' || msg.t === 'load-error' || !job || job.id !== msg.id) return;
    const { res, req } = job;
    switch (msg.t) {
      case 'res': {
        if (msg.head) {
          if (msg.head.close) res.shouldKeepAlive = false;
          res.writeHead(msg.head.status, msg.head.reason, msg.head.headers);
        }
        for (const c of msg.chunks) {
          const n = c.byteLength;
          const chunk = Buffer.from(c.buffer, c.byteOffset, n);
          // Acknowledged once written, so the thread's window reopens; not needed after the end.
          if (msg.end) res.write(chunk);
          else res.write(chunk, () => !job.done && t.post({ t: 'ack', id: job.id, n }));
        }
        if (msg.end) {
          job.done = true;
          res.end();
          // A body the app never read must not stall the connection: let it drain and be dropped.
          if (!req.complete) req.resume();
          this.release(t);
        }
        break;
      }
      case 'pause':
        req.pause();
        break;
      case 'resume':
        req.resume();
        break;
      case 'info':
        if (msg.status === 103) res.writeEarlyHints(msg.headers);
        break;
    }
  }

  private abort(job: Job): void {
    job.done = true;
    const t = job.thread;
    if (!t) {
      const i = this.queue.indexOf(job);
      if (i >= 0) this.queue.splice(i, 1);
      return;
    }
    t.post({ t: 'abort', id: job.id });
    // The client is gone; the thread takes the next request while the app winds this one down.
    this.release(t);
  }

  private release(t: AppThread): void {
    const wasFull = this.full;
    t.job = null;
    const next = this.closing ? undefined : this.queue.shift();
    if (next) this.run(t, next);
    else {
      t.idleSince = Date.now();
      this.idle.push(t);
    }
    if (this.full !== wasFull) this.onChange();
  }

  private spawn(onReady?: () => void, onLoadError?: (err: Error) => void): void {
    const t = new AppThread(this.data);
    this.threads.add(t);
    t.worker.on('message', (msg: FromThread) => {
      if (msg.t === 'ready') {
        t.ready = true;
        onReady?.();
        this.release(t);
      } else if (msg.t === 'load-error') {
        const err = msg.kind === 'load' ? new AppLoadError(msg.message) : new AppImportError(msg.message);
        if (msg.stack) err.cause = Object.assign(new Error(msg.message), { stack: msg.stack });
        if (onLoadError) onLoadError(err);
        else this.ctx.log.error(`App thread could not load the app: ${msg.message}`);
        void t.worker.terminate();
      } else {
        this.onMessage(t, msg);
      }
    });
    t.worker.on('error', (err) => this.ctx.log.exception('App thread crashed', err));
    t.worker.on('exit', () => this.onThreadExit(t));
  }

  private onThreadExit(t: AppThread): void {
    const wasFull = this.full;
    this.threads.delete(t);
    const i = this.idle.indexOf(t);
    if (i >= 0) this.idle.splice(i, 1);
    const job = t.job;
    if (job && !job.done) {
      job.done = true;
      appFailed(job.req, job.res, new Error('the app thread serving this request exited'), this.ctx.log);
    }
    // Replace it if requests are waiting (a crash must not strand them).
    if (!this.closing && this.queue.length > 0 && this.threads.size < this.max) this.spawn();
    if (this.full !== wasFull) this.onChange();
  }

  /**
   * Retires idle threads, and ends threads whose event loop has not turned for --timeout (an
   * endless loop, a synchronous call that never returns): JavaScript cannot be interrupted, so
   * the thread is terminated and the worker recycled, as Gunicorn's arbiter would kill a stuck
   * worker. A request that is merely long (a stream, a slow download, an awaited call) keeps its
   * thread turning and is left alone: --request-timeout bounds one that never answers.
   */
  private sweep(): void {
    const now = Date.now();
    for (const t of [...this.idle]) {
      if (this.threads.size > 1 && now - t.idleSince > THREAD_IDLE_MS) {
        this.idle.splice(this.idle.indexOf(t), 1);
        this.threads.delete(t);
        void t.worker.terminate();
      }
    }
    const timeoutMs = this.ctx.settings.timeout * 1000;
    if (timeoutMs <= 0) return;
    for (const t of this.threads) {
      if (!t.ready || t.stuck) continue;
      const silentMs = now - t.lastBeat;
      if (silentMs <= timeoutMs) continue;
      t.stuck = true;
      const job = t.job;
      const on = job ? `on ${job.req.method} ${job.req.url}` : 'between requests';
      const log = this.ctx.log;
      log.critical(`WORKER TIMEOUT (pid:${process.pid}): an app thread was stuck for ${(silentMs / 1000).toFixed(1)}s ${on}; terminating it and recycling the worker`);
      // Where it is stuck, as the watchdog shows for a stuck worker; then the thread goes.
      const id = t.worker.threadId;
      stackOfThread(id)
        .then(
          (frames) => log.critical(`App thread ${id} (pid:${process.pid}) was stuck ${on}, here:\n${frames.join('\n')}`),
          (err: unknown) => log.error(`App thread ${id} (pid:${process.pid}) is stuck; its stack could not be read: ${String(err)}`),
        )
        .finally(() => void t.worker.terminate());
      this.ctx.recycle();
    }
  }

  async close(): Promise<void> {
    this.closing = true;
    clearInterval(this.sweeper);
    await Promise.all([...this.threads].map((t) => t.worker.terminate()));
  }
}

export async function create(ctx: WorkerClassContext): Promise<WorkerClass> {
  const { threads, worker_connections: cap, keepalive } = ctx.settings;
  const pool = new ThreadPool(ctx, threads);
  await pool.start();
  const keepAliveSlots = cap - threads;
  const serving: HttpServing = new HttpServing(ctx, pool.dispatch, {
    closeEach: keepalive === 0,
    keepAliveTimeoutMs: keepalive * 1000,
    closeWhen: () => serving.connections.size > keepAliveSlots,
    notStarted: pool.notStarted,
    behindEarlier: pool.behindEarlier,
  });
  const updateGate = () => {
    if (pool.full || serving.connections.size >= cap) ctx.gate.pause();
    else ctx.gate.resume();
  };
  pool.onChange = updateGate;
  pool.onAdmitLate = (res) => serving.restartClock(res);

  return {
    handleConnection(socket: net.Socket) {
      serving.attach(socket, updateGate);
      updateGate();
    },
    async shutdown() {
      await serving.drain();
      await pool.close();
    },
    load: () => ({ connections: serving.connections.size, requests: pool.busy }),
  };
}

function hasBody(req: IncomingMessage): boolean {
  return req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
}
