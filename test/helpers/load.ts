/**
 * A load generator for the fault tests. Unlike wrk it knows, connection by connection, which
 * request is outstanding, so when a test kills a worker it can count the requests that worker had
 * in hand and tell their failures apart from failures anywhere else.
 */
import net from 'node:net';
import { peerPorts, socketInodes, spinUntilState } from './procfs.js';

/** FAULTS_SEED overrides the seed of every random choice in the fault suite (printed by each test). */
export const SEED = process.env.FAULTS_SEED ? Number(process.env.FAULTS_SEED) >>> 0 : (Date.now() ^ (process.pid << 16)) >>> 0;

/** Percentile (0..100) of a list of numbers; NaN when empty. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

export interface Response {
  status: number;
  close: boolean;
  /** Bytes of the whole response (head and body). */
  length: number;
  head: string;
  body: Buffer;
}

/** One complete response at the start of `buf` (Content-Length framed, as the fixtures answer), or null. */
export function parseResponse(buf: Buffer): Response | null {
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) return null;
  const head = buf.toString('latin1', 0, end);
  const cl = /\r\ncontent-length:\s*(\d+)/i.exec(head);
  const length = end + 4 + (cl ? Number(cl[1]) : 0);
  if (buf.length < length) return null;
  return {
    status: Number(head.slice(9, 12)),
    close: /\r\nconnection:\s*close/i.test(head),
    length,
    head,
    body: buf.subarray(end + 4, length),
  };
}

/** The local port of a socket, asked of the kernel each time (node caches a port read too early). */
function localPort(s: net.Socket): number | undefined {
  const h = (s as unknown as { _handle?: { getsockname?(o: { port?: number }): number } })._handle;
  const o: { port?: number } = {};
  h?.getsockname?.(o);
  return o.port;
}

interface Conn {
  socket: net.Socket;
  buf: Buffer;
  /** Held by a worker this generator killed. */
  killed: boolean;
  error?: string;
}

interface Pending {
  sentAt: number;
  /** Written after the worker holding the connection was killed: the keep-alive race every client has. */
  afterKill: boolean;
  got: number;
}

interface Lane {
  conn: Conn | null;
  pending: Pending | null;
}

export interface LoadOptions {
  port: number;
  host?: string;
  /** Concurrent connections, one request outstanding on each. */
  lanes: number;
  /** Reuse connections; otherwise one connection per request (Connection: close). */
  keepAlive: boolean;
  path?: string;
  /** Pause between a lane's requests (probes), ms. */
  paceMs?: number;
}

export class Load {
  ok = 0;
  /** Requests outstanding on the connections of killed workers when they were killed. */
  inFlightAtKills = 0;
  kills = 0;
  /** Of those, answered anyway: the worker had written the response before it died. */
  answeredInFlight = 0;
  /** Failures of those requests. */
  failedInFlight = 0;
  /** Failures of any other request: every one is a request the server lost. */
  failedElsewhere = 0;
  /**
   * Requests written onto a killed worker's connection after it died that got no byte back: any
   * HTTP client retries these on a new connection (RFC 9112 §9.3.1), and so does this one.
   */
  retried = 0;
  readonly latencies: number[] = [];
  /** When each request of `latencies` was sent (performance.now()). */
  readonly sentAt: number[] = [];
  /** The longest stretch without a successful answer, ms (from the start). */
  maxGapMs = 0;
  private lastOkAt = 0;
  /** The first few failures elsewhere, for the assertion message. */
  readonly failures: string[] = [];
  private readonly lanes: Lane[] = [];
  private readonly request: Buffer;
  private stopping = false;
  private running = 0;
  private onIdle: (() => void) | null = null;

  constructor(private readonly opts: LoadOptions) {
    const close = opts.keepAlive ? '' : 'Connection: close\r\n';
    this.request = Buffer.from(`GET ${opts.path ?? '/'} HTTP/1.1\r\nHost: faults\r\n${close}\r\n`, 'latin1');
  }

  get failed(): number {
    return this.failedInFlight + this.failedElsewhere;
  }

  start(): this {
    this.lastOkAt = performance.now();
    for (let i = 0; i < this.opts.lanes; i++) {
      const lane: Lane = { conn: null, pending: null };
      this.lanes.push(lane);
      this.running++;
      this.send(lane);
    }
    return this;
  }

  /**
   * The latencies of the requests sent from `from` until now: those answered, and the age so far
   * of those still outstanding (a lower bound), so a request held up counts where it was sent.
   */
  latenciesSince(from: number): number[] {
    const now = performance.now();
    const out: number[] = [];
    this.sentAt.forEach((t, i) => t >= from && out.push(this.latencies[i]!));
    for (const lane of this.lanes) if (lane.pending && lane.pending.sentAt >= from) out.push(now - lane.pending.sentAt);
    return out;
  }

  /** Lets every lane finish its outstanding request, then closes; resolves when all are done. */
  stop(): Promise<void> {
    this.stopping = true;
    if (this.running === 0) return Promise.resolve();
    return new Promise((resolve) => (this.onIdle = resolve));
  }

  /** Closes everything at once (cleanup). */
  destroy(): void {
    this.stopping = true;
    for (const lane of this.lanes) lane.conn?.socket.destroy();
  }

  /**
   * SIGKILLs a worker and returns how many requests it had in hand. The worker is frozen first
   * (SIGSTOP) so the connections read from /proc are exactly those it holds when it dies, and
   * all of this runs without yielding, so no lane writes meanwhile.
   */
  kill(pid: number): number {
    try {
      process.kill(pid, 'SIGSTOP');
    } catch {
      return 0;
    }
    spinUntilState(pid, 'TtZ', 1000);
    const ports = peerPorts(socketInodes(pid), this.opts.port);
    process.kill(pid, 'SIGKILL');
    spinUntilState(pid, 'Z', 2000);
    let n = 0;
    for (const lane of this.lanes) {
      const c = lane.conn;
      if (!c || !ports.has(localPort(c.socket) ?? -1)) continue;
      c.killed = true;
      if (lane.pending) n++;
    }
    this.kills++;
    this.inFlightAtKills += n;
    return n;
  }

  private send(lane: Lane): void {
    if (this.stopping) return this.laneDone(lane);
    if (!lane.conn) lane.conn = this.connect(lane);
    lane.pending = { sentAt: performance.now(), afterKill: lane.conn.killed, got: 0 };
    lane.conn.socket.write(this.request);
  }

  private connect(lane: Lane): Conn {
    const socket = net.connect({ host: this.opts.host ?? '127.0.0.1', port: this.opts.port });
    socket.setNoDelay(true);
    const conn: Conn = { socket, buf: Buffer.alloc(0), killed: false };
    socket.on('data', (d: Buffer) => this.onData(lane, conn, d));
    socket.on('error', (e: NodeJS.ErrnoException) => (conn.error ??= e.code ?? e.message));
    socket.on('close', () => this.onClose(lane, conn));
    return conn;
  }

  private onData(lane: Lane, conn: Conn, d: Buffer): void {
    if (lane.conn !== conn || !lane.pending) return;
    lane.pending.got += d.length;
    conn.buf = conn.buf.length === 0 ? d : Buffer.concat([conn.buf, d]);
    const r = parseResponse(conn.buf);
    if (!r) return;
    conn.buf = conn.buf.subarray(r.length);
    const p = lane.pending;
    lane.pending = null;
    if (r.status === 200) {
      this.ok++;
      const now = performance.now();
      this.maxGapMs = Math.max(this.maxGapMs, now - this.lastOkAt);
      this.lastOkAt = now;
      if (conn.killed && !p.afterKill) this.answeredInFlight++;
      this.latencies.push(now - p.sentAt);
      this.sentAt.push(p.sentAt);
    } else this.fail(conn, p, `status ${r.status}`);
    if (!this.opts.keepAlive || r.close) {
      lane.conn = null;
      conn.socket.destroy();
    }
    if (this.opts.paceMs) setTimeout(() => this.send(lane), this.opts.paceMs);
    else this.send(lane);
  }

  private onClose(lane: Lane, conn: Conn): void {
    if (lane.conn !== conn) return;
    lane.conn = null;
    const p = lane.pending;
    lane.pending = null;
    if (!p) return this.stopping ? undefined : this.send(lane);
    if (conn.killed && p.afterKill && p.got === 0) this.retried++;
    else this.fail(conn, p, `connection closed after ${p.got} bytes (${conn.error ?? 'no error'})`);
    this.send(lane);
  }

  private fail(conn: Conn, p: Pending, why: string): void {
    if (conn.killed && !p.afterKill) this.failedInFlight++;
    else {
      this.failedElsewhere++;
      if (this.failures.length < 5) this.failures.push(why);
    }
  }

  private laneDone(lane: Lane): void {
    lane.conn?.socket.destroy();
    lane.conn = null;
    if (--this.running === 0) this.onIdle?.();
  }

  /** "41000 requests ok, 3 failed (0 elsewhere), 5 in flight on 12 killed workers (2 answered before they died), 2 retried". */
  summary(): string {
    return (
      `${this.ok} requests ok, ${this.failed} failed (${this.failedElsewhere} elsewhere), ${this.inFlightAtKills} in flight on ${this.kills} killed workers ` +
      `(${this.answeredInFlight} answered before they died), ${this.retried} retried`
    );
  }
}
