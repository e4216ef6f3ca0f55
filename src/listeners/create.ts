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
import { lstatSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import { getSystemErrorName } from 'node:util';
import { ConfigError, TsgunicornError, oneLine } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { bindUrl, parseBind, type BindSpec } from './bind.js';

/** libuv's TCP or Pipe wrap: what child_process can pass to another process. */
export interface ServerHandle {
  fd: number;
  close(cb?: () => void): void;
  getsockname?(out: Record<string, unknown>): number;
  listen(backlog: number): number;
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

function bindOnce(spec: BindSpec, address: string | null, family: number): ServerHandle {
  let result: ServerHandle | number;
  if (spec.kind === 'tcp') result = createServerHandle(address, spec.port, family);
  else if (spec.kind === 'unix') result = createServerHandle(spec.path, -1, -1);
  else result = createServerHandle(null, 0, 0, spec.fd);
  if (typeof result === 'number') throw new BindError(spec, getSystemErrorName(result));
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

async function bindListener(raw: string, log: Logger, retries: number): Promise<Listener> {
  const spec = parseBind(raw);
  const found = await resolveBindHost(raw);
  const address = found?.address ?? null;
  const family = found?.family ?? 4;
  if (spec.kind === 'unix') removeStaleSocket(spec.path);
  for (let attempt = 0; ; attempt++) {
    try {
      const handle = bindOnce(spec, address, family);
      return { spec, handle, url: bindUrl(spec, boundPort(spec, handle)) };
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

export async function createListeners(binds: readonly string[], log: Logger, retries = 5): Promise<Listener[]> {
  const out: Listener[] = [];
  try {
    for (const raw of binds) out.push(await bindListener(raw, log, retries));
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
