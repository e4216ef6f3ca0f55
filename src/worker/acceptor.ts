/**
 * Accepting connections in a worker, with a pause that costs nothing on the common path.
 *
 * Each listener is a descriptor the master duplicated to us; the kernel's accept queue is shared
 * by every worker. To stop accepting (the worker is full) we stop watching our descriptor: libuv
 * has no call for that on a listening socket, but its read-stop is exactly it (a listening
 * socket's read watch is its accept loop), so starting and at once stopping a read turns
 * accepting off, and listen() turns it back on. Two system calls, no IPC: a class that pauses
 * per request (sync) pays almost nothing for it. The connections meanwhile wait in the shared
 * queue or go to another worker.
 *
 * Should that ever be refused (a libuv that checks the handle's state differently), the pause
 * falls back to closing our duplicate and resuming on a spare one, kept for that moment, while
 * the master sends a new spare in the background, so resuming never waits on IPC.
 */
import net from 'node:net';
import { getSystemErrorName } from 'node:util';
import type { ServerHandle } from '../listeners/create.js';
import type { Logger } from '../log/logger.js';

export type SocketHandler = (socket: net.Socket) => void;

/**
 * Spare duplicates kept per listener, for the fallback pause: a class that pauses per request
 * (sync) resumes faster than the master can send a new duplicate; a few in hand keep it from
 * waiting on IPC.
 */
const SPARES = 3;

/** Turns accepting off without closing the descriptor (see the top of this file); false if refused. */
function stopAccepting(h: ServerHandle): boolean {
  if (typeof h.readStart !== 'function' || typeof h.readStop !== 'function') return false;
  if (h.readStart() !== 0) return false;
  return h.readStop() === 0;
}

class Acceptor {
  private current: ServerHandle | null = null;
  /** `current` is held but not watched (paused in place). */
  private held = false;
  private spares: ServerHandle[] = [];
  private requested = false;

  constructor(
    private readonly index: number,
    private readonly gate: Gate,
  ) {}

  /** A duplicate arrived from the master. */
  adopt(handle: ServerHandle): void {
    this.requested = false;
    if (this.gate.closed) return handle.close();
    if (!this.current && !this.gate.paused) this.listen(handle);
    else this.spares.push(handle);
    this.wantSpare();
  }

  pause(): void {
    const h = this.current;
    if (!h || this.held) return;
    if (stopAccepting(h)) {
      this.held = true;
      return;
    }
    this.current = null;
    h.close();
  }

  /** Applies the gate's (smaller) backlog to the shared socket now. */
  relisten(): void {
    if (!this.held) this.current?.listen(this.gate.backlog);
  }

  resume(): void {
    const held = this.current;
    if (held && this.held) {
      this.held = false;
      // listen() on a listening socket only restarts the watch (and applies the backlog).
      if (held.listen(this.gate.backlog) === 0) return;
      this.current = null;
      held.close();
    }
    if (this.current) return;
    const h = this.spares.shift();
    if (h) this.listen(h);
    this.wantSpare();
  }

  close(): void {
    const h = this.current;
    this.current = null;
    this.held = false;
    h?.close();
    for (const s of this.spares.splice(0)) s.close();
  }

  private wantSpare(): void {
    if (this.spares.length < SPARES && !this.requested && !this.gate.closed) {
      this.requested = true;
      this.gate.requestHandle(this.index);
    }
  }

  private listen(h: ServerHandle): void {
    h.onconnection = (err, client) => {
      this.gate.lastAccept = Date.now();
      if (err) {
        // EMFILE and friends: the connection stays queued; say why it is not being served.
        this.gate.log.error(`accept() failed: ${getSystemErrorName(err)}`);
        return;
      }
      // What node:http's own server does for every connection: no Nagle delay on responses.
      (client as { setNoDelay?(on: boolean): void }).setNoDelay?.(true);
      // The options net.Server passes, in its order: the same object shape here as in node's own
      // call, so the Socket constructor is not made polymorphic. Half-open: a client's FIN after
      // its request must not end the connection before it is answered (see src/http/server.ts).
      const socket = new net.Socket({ handle: client, allowHalfOpen: true, pauseOnCreate: false, readable: true, writable: true } as net.SocketConstructorOpts);
      this.gate.onSocket(socket);
    };
    const err = h.listen(this.gate.backlog);
    if (err) {
      h.close();
      this.gate.listenFailed(this.index, getSystemErrorName(err));
      return;
    }
    this.current = h;
    this.gate.listening(this.index);
  }
}

/** All of a worker's listeners, opened and closed together. */
export class Gate {
  paused = false;
  closed = false;
  lastAccept = 0;
  onSocket: SocketHandler = (s) => s.destroy();
  private readonly acceptors: Acceptor[];
  private readonly unopened: Set<number>;
  private onOpen: ((err?: Error) => void) | null = null;

  constructor(
    count: number,
    public backlog: number,
    readonly requestHandle: (index: number) => void,
    readonly log: Logger,
  ) {
    this.acceptors = Array.from({ length: count }, (_, i) => new Acceptor(i, this));
    this.unopened = new Set(this.acceptors.keys());
  }

  /** Resolves once every listener is listening: only then may the worker say it serves. */
  opened(): Promise<void> {
    if (this.unopened.size === 0) return Promise.resolve();
    return new Promise((resolve, reject) => (this.onOpen = (err) => (err ? reject(err) : resolve())));
  }

  /**
   * listen() on the master's socket failed. At boot that is fatal: most likely another process
   * holds the address (the master's bind succeeds beside a SO_REUSEADDR listener; listen is where
   * the kernel refuses), and serving nothing while the log says "Listening at" would be worse.
   */
  listenFailed(index: number, errno: string): void {
    const err = new Error(`Cannot listen on listener ${index}: ${errno}${errno === 'EADDRINUSE' ? ' (the address is in use by another process)' : ''}`);
    if (this.unopened.has(index) && this.onOpen) this.onOpen(err);
    else this.log.error(err.message);
  }

  /** Called by an acceptor when it listens. */
  listening(index: number): void {
    if (this.unopened.delete(index) && this.unopened.size === 0) this.onOpen?.();
  }

  adopt(index: number, handle: ServerHandle): void {
    const a = this.acceptors[index];
    if (a) a.adopt(handle);
    else handle.close();
  }

  /** Stop taking connections until resume(); they wait in the kernel backlog or go to another worker. */
  pause(): void {
    if (this.paused || this.closed) return;
    this.paused = true;
    for (const a of this.acceptors) a.pause();
  }

  resume(): void {
    if (!this.paused || this.closed) return;
    this.paused = false;
    for (const a of this.acceptors) a.resume();
  }

  /**
   * The last step of a full graceful stop, before close(). Closing the listening socket resets
   * every connection still waiting in its accept queue: clients that connected before the stop
   * would see their request cut. So first shrink the queue to one (the kernel then drops new
   * SYNs, and those clients retry and find the socket closed: refused, not cut), and keep
   * accepting until the queue has been quiet for a moment.
   */
  async drainQueue(quietMs = 100, maxMs = 1000): Promise<void> {
    if (this.closed) return;
    this.backlog = 1;
    this.lastAccept = Date.now();
    this.resume();
    for (const a of this.acceptors) a.relisten();
    const until = Date.now() + maxMs;
    while (Date.now() - this.lastAccept < quietMs && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 20));
    }
    this.close();
  }

  /** For good: the worker is leaving. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const a of this.acceptors) a.close();
  }
}
