/**
 * A StatsD client that speaks Gunicorn's dialect, so dashboards built for Gunicorn keep working:
 *
 *   gunicorn.requests:1|c|@1.0             every request          (workers)
 *   gunicorn.request.duration:12.3|ms      its duration, in ms    (workers)
 *   gunicorn.request.status.200:1|c|@1.0   one counter per status (workers)
 *   gunicorn.workers:4|g                   workers alive          (master, when it changes)
 *   gunicorn.log.critical|error|warning|exception:1|c|@1.0        (master and workers)
 *
 * each with `--statsd-prefix` in front and `|#TAGS` (`--dogstatsd-tags`) behind.
 *
 * Unlike Gunicorn, which sends one datagram per metric from inside the request, the client
 * buffers: counters are summed, timings and gauges queued, and everything goes out every
 * FLUSH_MS in datagrams of at most MAX_DATAGRAM bytes (StatsD reads several metrics per datagram,
 * one per line). A request costs a few map updates; a busy worker sends a handful of datagrams
 * per second, not one per metric.
 */
import dgram from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { createRequire } from 'node:module';
import { isIP } from 'node:net';
import type { StatsdAddress } from './address.js';

/** Safe below any Ethernet MTU once IP and UDP headers are added. */
export const MAX_DATAGRAM = 1432;
export const FLUSH_MS = 100;

/** Gunicorn's prefix rule: a non-empty prefix gets exactly one trailing dot. */
export function normalizePrefix(prefix: string): string {
  const p = prefix.replace(/\.+$/, '');
  return p === '' ? '' : `${p}.`;
}

/** `name:value|type` with the prefix, sampling rate (counters) and DogStatsD tags, as Gunicorn writes it. */
export function statsdLine(prefix: string, name: string, value: number | string, type: 'c' | 'g' | 'ms' | 'h', tags = ''): string {
  const rate = type === 'c' ? '|@1.0' : '';
  return `${prefix}${name}:${value}|${type}${rate}${tags ? `|#${tags}` : ''}`;
}

/** Joins lines into datagrams of at most `max` bytes (a single longer line still goes alone). */
export function packDatagrams(lines: readonly string[], max = MAX_DATAGRAM): string[] {
  const out: string[] = [];
  let cur = '';
  for (const line of lines) {
    if (cur !== '' && Buffer.byteLength(cur) + 1 + Buffer.byteLength(line) > max) {
      out.push(cur);
      cur = '';
    }
    cur = cur === '' ? line : `${cur}\n${line}`;
  }
  if (cur !== '') out.push(cur);
  return out;
}

/** Milliseconds as a decimal with microseconds (integer arithmetic: printing a double costs more, per request). */
export function formatMs(ms: number): string {
  const us = Math.round(ms * 1000);
  const frac = us % 1000;
  const whole = (us - frac) / 1000;
  if (frac === 0) return String(whole);
  return `${whole}.${frac < 10 ? '00' : frac < 100 ? '0' : ''}${frac}`;
}

interface Sender {
  send(datagram: Buffer): void;
  close(): void;
}

export interface StatsdOptions {
  address: StatsdAddress;
  prefix: string;
  tags: string;
  /** Told once about a failure to reach StatsD (never per datagram). */
  onError?: (message: string) => void;
}

export class StatsdClient {
  private readonly prefix: string;
  private readonly tags: string;
  private readonly counters = new Map<string, number>();
  private queued: string[] = [];
  private timer: NodeJS.Timeout | null = null;
  private sender: Sender | null = null;
  private pending: Buffer[] = [];
  private failed = false;
  private closed = false;

  constructor(private readonly opts: StatsdOptions) {
    this.prefix = normalizePrefix(opts.prefix);
    this.tags = opts.tags;
    void this.open();
  }

  increment(name: string, value = 1): void {
    this.counters.set(name, (this.counters.get(name) ?? 0) + value);
    this.schedule();
  }

  /** A duration in milliseconds (StatsD's `ms` timer, which Gunicorn uses for request.duration). */
  timing(name: string, ms: number): void {
    this.queued.push(statsdLine(this.prefix, name, formatMs(ms), 'ms', this.tags));
    this.schedule();
  }

  gauge(name: string, value: number): void {
    this.queued.push(statsdLine(this.prefix, name, value, 'g', this.tags));
    this.schedule();
  }

  /** Sends everything buffered now. */
  flush(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    const lines = this.queued;
    this.queued = [];
    for (const [name, n] of this.counters) lines.push(statsdLine(this.prefix, name, n, 'c', this.tags));
    this.counters.clear();
    if (lines.length === 0) return;
    for (const d of packDatagrams(lines)) this.sendRaw(Buffer.from(d));
  }

  close(): void {
    this.flush();
    this.closed = true;
    this.sender?.close();
    this.sender = null;
  }

  private schedule(): void {
    if (this.timer || this.closed) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.flush();
    }, FLUSH_MS);
    this.timer.unref();
  }

  private sendRaw(buf: Buffer): void {
    if (this.failed || this.closed) return;
    if (this.sender) this.sender.send(buf);
    else if (this.pending.length < 64) this.pending.push(buf);
  }

  private fail(message: string): void {
    if (this.failed) return;
    this.failed = true;
    this.pending = [];
    this.opts.onError?.(message);
  }

  private async open(): Promise<void> {
    const addr = this.opts.address;
    try {
      this.sender = addr.kind === 'udp' ? await udpSender(addr.host, addr.port) : unixSender(addr.path);
    } catch (err) {
      this.fail(`StatsD at ${describe(addr)} cannot be used: ${err instanceof Error ? err.message : String(err)}`);
      return;
    }
    if (this.closed) return this.sender.close();
    for (const b of this.pending.splice(0)) this.sender.send(b);
  }
}

function describe(addr: StatsdAddress): string {
  return addr.kind === 'udp' ? `${addr.host}:${addr.port}` : `unix:${addr.path}`;
}

/** UDP, unconnected, to an address resolved once: a missing StatsD costs nothing and logs nothing. */
async function udpSender(host: string, port: number): Promise<Sender> {
  const ip = isIP(host) ? host : (await lookup(host)).address;
  const sock = dgram.createSocket(isIP(ip) === 6 ? 'udp6' : 'udp4');
  sock.on('error', () => {});
  sock.unref();
  return {
    send: (b) => sock.send(b, port, ip, () => {}),
    close: () => {
      try {
        sock.close();
      } catch {
        // Already closed.
      }
    },
  };
}

interface UnixDgramSocket {
  on(event: 'error', fn: (err: Error) => void): void;
  send(buf: Buffer, offset: number, length: number, path: string, cb?: (err?: Error) => void): void;
  close(): void;
}

/**
 * Node has no unix datagram sockets; the optional package unix-dgram (a small native addon,
 * installed with tsgunicorn where it builds) provides them.
 */
function unixSender(path: string): Sender {
  let mod: { createSocket(type: 'unix_dgram'): UnixDgramSocket };
  try {
    mod = createRequire(import.meta.url)('unix-dgram') as typeof mod;
  } catch {
    throw new Error('unix datagram sockets need the optional package unix-dgram, which is not installed (npm install unix-dgram)');
  }
  const sock = mod.createSocket('unix_dgram');
  sock.on('error', () => {});
  return {
    send: (b) => {
      try {
        sock.send(b, 0, b.length, path, () => {});
      } catch {
        // StatsD not there (yet): metrics are best effort, as with UDP.
      }
    },
    close: () => {
      try {
        sock.close();
      } catch {
        // Already closed.
      }
    },
  };
}
