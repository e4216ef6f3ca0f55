/**
 * The worker-class interface. A worker class receives accepted connections and serves the
 * requests on them; everything else (the app, accepting, heartbeats, signals, counting) is the
 * worker's. The built-in classes (sync, async) implement exactly this, and so can a module named
 * by `-k ./my-class.js` that exports `create`.
 */
import type net from 'node:net';
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type { Settings } from '../../config/settings.js';
import type { Logger } from '../../log/logger.js';
import type { Gate } from '../acceptor.js';
import type { AccessLog } from '../../log/access.js';

export interface WorkerClassContext {
  readonly settings: Settings;
  readonly log: Logger;
  /** Loads the user's app (module, attribute, factory call) as a Node request listener. */
  loadApp(): Promise<RequestListener>;
  /** Pause when full, resume when there is room again; the worker closes it on shutdown. */
  readonly gate: Gate;
  readonly accessLog: AccessLog | null;
  /** Call once per request as it starts: the worker counts it for max_requests. */
  requestStarted(): void;
  /** Replace this worker gracefully (e.g. a thread is stuck): in-flight requests finish first. */
  recycle(): void;
  /**
   * Accounting for ctl stats, /metrics and StatsD: call once per request whose requestStarted()
   * was called, when its response is done or cut short (its 'close'), with how long it took.
   */
  requestEnded(req: IncomingMessage, res: ServerResponse, ms: number): void;
  /** The pre_request / post_request server hooks, when the config file defines them. */
  readonly hooks: {
    preRequest?: (req: IncomingMessage) => void;
    postRequest?: (req: IncomingMessage, res: ServerResponse) => void;
  };
}

export interface WorkerClass {
  /** A connection the worker accepted. */
  handleConnection(socket: net.Socket): void;
  /**
   * Graceful stop. The gate is already closed: take no new requests on open connections (answer
   * them with Connection: close), let in-flight ones finish, resolve once every connection is closed.
   */
  shutdown(): Promise<void>;
  /** Connections open and requests in flight, for stats. */
  load(): { connections: number; requests: number };
}

export interface WorkerClassModule {
  create(ctx: WorkerClassContext): Promise<WorkerClass> | WorkerClass;
}
