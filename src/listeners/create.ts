/**
 * The master's listening sockets.
 *
 * The master binds every address and keeps the bound handle for its whole life, but never polls
 * it: workers receive duplicates of the descriptor over IPC and accept on them directly, so the
 * kernel hands each new connection to whichever worker calls accept() first (what node:cluster
 * calls SCHED_NONE, the fastest mode for connection-per-request traffic). Because the master's
 * descriptor keeps the socket alive, a worker that is full can close its own duplicate to stop
 * accepting and ask for a fresh one when it has room again; connections meanwhile wait in the
 * kernel's backlog, and no worker ever closing the last descriptor means none is refused.
 * (node:cluster's own shared handles close the socket when the last worker lets go, which is
 * why its listen()/close() cannot be used to pause.)
 */
import { lookup } from 'node:dns/promises';
import { chownSync, lstatSync, readFileSync, readlinkSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import { getSystemErrorName } from 'node:util';
import { ConfigError, TsgunicornError, oneLine } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { checkTls, tlsEnabled, type TlsSettings } from '../http/tls.js';
import { bindUrl, parseBind, type BindSpec } from './bind.js';
import { systemdListenFds } from './systemd.js';

/** libuv's TCP or Pipe wrap: what child_process can pass to another process. */
export interface ServerHandle {
  fd: number;
  close(cb?: () => void): void;
  getsockname?(out: Record<string, unknown>): number;
  listen(backlog: number): number;
  /** libuv's read start/stop; on a listening socket they turn its accept watch on and off (src/worker/acceptor.ts). */
  readStart?(): number;
  readStop?(): number;
  onconnection: ((err: number, client: unknown) => void) | null;
}

export interface Listener {
  spec: BindSpec;
  handle: ServerHandle;
  /** As Gunicorn prints it in "Listening at: ...". */
  url: string;
}

type CreateServerHandle = (
  address: string | null,
  port: number,
  addressType: number,
  fd?: number,
  flags?: number,
) => ServerHandle | number;

// net._createServerHandle binds without listening; node:cluster's primary uses it for the same
// purpose. It is the only way to own a bound socket without an accept loop in this process.
const createServerHandle = (net as unknown as { _createServerHandle: CreateServerHandle })._createServerHandle;

export class BindError extends Error {
  constructor(
    readonly spec: BindSpec,
    readonly errno: string,
  ) {
    super(`${errno} binding ${bindUrl(spec)}`);
  }
}

/** How unix socket files are made (Gunicorn's --umask, and its chown to --user/--group). */
export interface UnixSocketOptions {
  /** The umask in force while the socket file is created; absent: the process's own. */
  umask?: number;
  /** Owner of the socket file; absent or null: left as created. */
  uid?: number | null;
  gid?: number | null;
}

function bindUnix(path: string, opts: UnixSocketOptions): ServerHandle | number {
  const old = opts.umask === undefined ? undefined : process.umask(opts.umask);
  try {
    return createServerHandle(path, -1, -1);
  } finally {
    if (old !== undefined) process.umask(old);
  }
}

function chownSocket(path: string, opts: UnixSocketOptions, log: Logger): void {
  const uid = opts.uid ?? -1;
  const gid = opts.gid ?? -1;
  if (uid === -1 && gid === -1) return;
  try {
    chownSync(path, uid, gid);
  } catch (err) {
    log.warning(`Could not give ${path} to user ${uid} group ${gid}: ${oneLine(err)}`);
  }
}

/** How TCP sockets are bound (--reuse-port) and named in the log (https with --certfile). */
export interface BindOptions {
  reusePort?: boolean;
  scheme?: 'http' | 'https';
}

/** libuv's UV_TCP_REUSEPORT, which net._createServerHandle passes on from Node 22.12 (ignored before). */
const UV_TCP_REUSEPORT = 2;
const [NODE_MAJOR, NODE_MINOR] = process.versions.node.split('.').map(Number) as [number, number];
export const REUSE_PORT_SUPPORTED = NODE_MAJOR > 22 || (NODE_MAJOR === 22 && NODE_MINOR >= 12);

function bindOnce(spec: BindSpec, address: string | null, family: number, unix: UnixSocketOptions = {}, opts: BindOptions = {}): ServerHandle {
  let result: ServerHandle | number;
  if (spec.kind === 'tcp') result = createServerHandle(address, spec.port, family, undefined, opts.reusePort && REUSE_PORT_SUPPORTED ? UV_TCP_REUSEPORT : 0);
  else if (spec.kind === 'unix') result = bindUnix(spec.path, unix);
  else result = createServerHandle(null, 0, 0, spec.fd);
  if (typeof result === 'number') throw new BindError(spec, getSystemErrorName(result));
  // libuv defers EADDRINUSE from bind() to listen(), which only workers call: an address held by
  // another listener would look bound here, and the workers' listen() would then quietly pick a
  // random port. An unbound socket reports port 0, so ask.
  if (spec.kind === 'tcp' && !boundPort(spec, result)) {
    result.close();
    throw new BindError(spec, 'EADDRINUSE');
  }
  return result;
}

/** Removes a socket file left behind by a server that did not stop cleanly (as Gunicorn does). */
function removeStaleSocket(path: string): void {
  try {
    if (lstatSync(path).isSocket()) unlinkSync(path);
  } catch {
    // Absent: nothing to remove. Not a socket: bind reports EADDRINUSE, which names the problem.
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The port a TCP socket actually got (port 0 asks the kernel for a free one). */
function boundPort(spec: BindSpec, handle: ServerHandle): number | undefined {
  if (spec.kind !== 'tcp' || !handle.getsockname) return undefined;
  const out: Record<string, unknown> = {};
  return handle.getsockname(out) === 0 && typeof out.port === 'number' ? out.port : undefined;
}

/**
 * Binds one address. Like Gunicorn, an address in use is retried for a few seconds (the previous
 * server may still be shutting down) before giving up.
 */
/** The address a TCP bind's host name stands for; an unknown host is the bind value's fault. */
export async function resolveBindHost(raw: string): Promise<{ address: string; family: number } | null> {
  const spec = parseBind(raw);
  if (spec.kind !== 'tcp') return null;
  try {
    return await lookup(spec.host);
  } catch (err) {
    throw new ConfigError('bind', raw, `cannot resolve host ${JSON.stringify(spec.host)} (${oneLine(err)})`, 'E_BIND');
  }
}

async function bindListener(raw: string, log: Logger, retries: number, unix: UnixSocketOptions, opts: BindOptions): Promise<Listener> {
  const spec = parseBind(raw);
  const found = await resolveBindHost(raw);
  const address = found?.address ?? null;
  const family = found?.family ?? 4;
  if (spec.kind === 'unix') removeStaleSocket(spec.path);
  for (let attempt = 0; ; attempt++) {
    try {
      const handle = bindOnce(spec, address, family, unix, opts);
      if (spec.kind === 'unix') chownSocket(spec.path, unix, log);
      const url = spec.kind === 'fd' ? describeFd(spec.fd, handle, opts.scheme) : bindUrl(spec, boundPort(spec, handle), opts.scheme);
      return { spec, handle, url };
    } catch (err) {
      if (!(err instanceof BindError)) throw err;
      if (err.errno === 'EADDRINUSE' && attempt < retries) {
        log.error(`Connection in use: ${bindUrl(spec)}`);
        log.error('Retrying in 1 second.');
        await sleep(1000);
        continue;
      }
      if (err.errno === 'EADDRINUSE') throw new TsgunicornError('E_BIND', `Can't connect to ${bindUrl(spec)}: address already in use`);
      if (err.errno === 'EADDRNOTAVAIL') throw new ConfigError('bind', raw, 'address not available on this host', 'E_BIND');
      if (err.errno === 'EACCES') throw new ConfigError('bind', raw, 'permission denied', 'E_BIND');
      if (err.errno === 'EBADF' || err.errno === 'EINVAL' || err.errno === 'ENOTSOCK') {
        throw new ConfigError('bind', raw, `not a usable socket (${err.errno})`, 'E_BIND');
      }
      throw new ConfigError('bind', raw, err.errno, 'E_BIND');
    }
  }
}

export async function createListeners(
  binds: readonly string[],
  log: Logger,
  retries = 5,
  unix: UnixSocketOptions = {},
  opts: BindOptions = {},
): Promise<Listener[]> {
  const out: Listener[] = [];
  try {
    for (const raw of binds) out.push(await bindListener(raw, log, retries, unix, opts));
  } catch (err) {
    closeListeners(out, true);
    throw err;
  }
  return out;
}

/**
 * Listening sockets inherited as descriptors (from the master that started us with USR2, or from
 * systemd socket activation). They are already bound and listening; `binds` only names them in
 * the log when it lines up with them one to one.
 */
export function inheritListeners(fds: readonly number[], binds: readonly string[]): Listener[] {
  return fds.map((fd, i) => {
    const handle = createServerHandle(null, 0, 0, fd);
    const raw = `fd://${fd}`;
    if (typeof handle === 'number') throw new ConfigError('bind', raw, `inherited descriptor is not a usable socket (${getSystemErrorName(handle)})`, 'E_BIND');
    const named = fds.length === binds.length ? parseBind(binds[i]!) : null;
    const spec: BindSpec = named && named.kind !== 'fd' ? named : { kind: 'fd', raw, fd };
    return { spec, handle, url: bindUrl(spec, boundPort(spec, handle)) };
  });
}

/** Closes the master's copies; unix socket files are removed unless another master takes them over. */
export function closeListeners(listeners: readonly Listener[], unlink: boolean): void {
  for (const l of listeners) {
    try {
      l.handle.close();
    } catch {
      // Already closed.
    }
    if (unlink && l.spec.kind === 'unix') {
      try {
        unlinkSync(l.spec.path);
      } catch {
        // Gone already.
      }
    }
  }
}

/**
 * What an inherited descriptor listens on, as "Listening at:" shows it: http://ADDR:PORT for TCP,
 * unix:PATH for a unix socket (its path read from /proc on Linux), else fd://N.
 */
export function describeFd(fd: number, handle: ServerHandle, scheme: 'http' | 'https' = 'http'): string {
  const out: Record<string, unknown> = {};
  if (handle.getsockname && handle.getsockname(out) === 0 && typeof out.port === 'number' && typeof out.address === 'string') {
    const host = out.family === 'IPv6' || out.family === 6 ? `[${out.address}]` : out.address;
    return `${scheme}://${host}:${out.port}`;
  }
  try {
    const inode = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`))?.[1];
    if (inode) {
      for (const line of readFileSync('/proc/net/unix', 'utf8').split('\n').slice(1)) {
        const cols = line.trim().split(/\s+/);
        if (cols[6] === inode && cols[7]) return `unix:${cols[7]}`;
      }
    }
  } catch {
    // Not Linux, or /proc not mounted.
  }
  return `fd://${fd}`;
}

export interface ListenSettings extends TlsSettings {
  bind: readonly string[];
  reuse_port: boolean;
}

/**
 * The master's listeners for these settings: the sockets systemd passed (socket activation; the
 * bind setting is then ignored, as in Gunicorn), else one per bind. TLS settings are checked here
 * too, so that a bad certificate stops the start before any worker runs.
 *
 * --reuse-port sets SO_REUSEPORT on the master's TCP sockets (Node 22.12 and later). The master
 * still holds the one socket per address and the workers share it, so pausing a full worker and
 * the backlog work as without it; what the flag adds is that another process (a second
 * tsgunicorn started for a blue/green switch, say) can bind the same address meanwhile, the
 * kernel spreading new connections over both. Gunicorn instead gives each worker a socket of its
 * own; that would give each worker its own accept queue, where connections wait for that worker
 * even while it is busy and are reset when it closes its socket, which is why tsgunicorn does not.
 */
export async function openListeners(s: ListenSettings, log: Logger, retries = 5, unix: UnixSocketOptions = {}): Promise<Listener[]> {
  const scheme = tlsEnabled(s) ? 'https' : 'http';
  if (tlsEnabled(s)) checkTls(s);
  const fds = systemdListenFds();
  if (fds) {
    log.info(`Using ${fds.length} socket(s) from systemd socket activation; the bind setting is ignored`);
    return fds.map((fd) => {
      const handle = createServerHandle(null, 0, 0, fd);
      const raw = `fd://${fd}`;
      if (typeof handle === 'number') throw new ConfigError('bind', raw, `systemd socket is not usable (${getSystemErrorName(handle)})`, 'E_BIND');
      // Kind fd: systemd owns the socket, so its file is never removed on stop.
      return { spec: { kind: 'fd', raw, fd } as BindSpec, handle, url: describeFd(fd, handle, scheme) };
    });
  }
  if (s.reuse_port && !REUSE_PORT_SUPPORTED) {
    log.warning(`--reuse-port needs Node 22.12 or later (this is Node ${process.versions.node}); binding without SO_REUSEPORT`);
  }
  return createListeners(s.bind, log, retries, unix, { reusePort: s.reuse_port, scheme });
}

/** Whether a reload (HUP) may rebind: not while serving the sockets systemd passed. */
export function rebindable(): boolean {
  return systemdListenFds() === null;
}
