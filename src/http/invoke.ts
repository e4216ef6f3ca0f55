import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type { Logger } from '../log/logger.js';
import { sendError } from './errors.js';

/**
 * Calls the app for one request. A handler that throws, or returns a promise that rejects, gets a
 * 500 (or, if it already started answering, a cut connection) and the worker lives on, as
 * Gunicorn's workers do.
 */
export function invokeApp(app: RequestListener, req: IncomingMessage, res: ServerResponse, log: Logger): void {
  try {
    const result = app(req, res) as unknown;
    if (result && typeof (result as Promise<unknown>).then === 'function') {
      (result as Promise<unknown>).then(undefined, (err: unknown) => appFailed(req, res, err, log));
    }
  } catch (err) {
    appFailed(req, res, err, log);
  }
}

export function appFailed(req: IncomingMessage, res: ServerResponse, err: unknown, log: Logger): void {
  // The client left, or the request was cut (--request-timeout) and its connection closed: the
  // app failing as it reads a body that stopped is the expected end, not an app fault.
  if (req.destroyed && !req.complete) {
    log.debug(`Request ${req.url ?? ''} ended before its body: ${(err as Error)?.message ?? String(err)}`);
    if (!res.writableEnded) res.destroy();
    return;
  }
  log.exception(`Error handling request ${req.url ?? ''}`, err);
  if (!res.headersSent && !res.destroyed) sendError(res, 500);
  else res.destroy();
}
