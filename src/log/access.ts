/**
 * The access log, written from workers: one line per request in Gunicorn's format, or with
 * `--access-log-json` one JSON object per request (pino), with the same fields plus the worker's
 * pid and a request id. Lines are written asynchronously (sonic-boom, pino's writer) so logging
 * stays off the request's path: a line goes out at once when the file is idle, and lines logged
 * while a write is in flight are joined into the next write, so a busy server makes few system
 * calls and a quiet one shows each line immediately. Whatever is pending is flushed on exit.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import pino from 'pino';
import { accessJson, compileAccessFormat, type AccessRecord } from './access-format.js';

type Boom = ReturnType<typeof pino.destination>;

/** A client's (or proxy's) X-Request-Id is kept when it is sane; otherwise one is made up. */
function requestId(req: IncomingMessage): string {
  const given = req.headers['x-request-id'];
  return typeof given === 'string' && given.length > 0 && given.length <= 200 && !/[\x00-\x1f"\\]/.test(given) ? given : randomUUID();
}

export class AccessLog {
  private readonly format: (rec: AccessRecord) => string;
  private readonly dest: Boom;
  private readonly json: pino.Logger | null;

  constructor(target: string, format: string, json = false) {
    this.format = compileAccessFormat(format);
    this.dest = pino.destination({ dest: target === '-' ? 1 : target, sync: false, minLength: 0, append: true, mkdir: true });
    this.json = json
      ? pino(
          {
            base: { pid: process.pid },
            timestamp: false,
            // No level (it means nothing here) but which log this is, for pipelines that get both.
            formatters: { level: () => ({ log: 'access' }) },
          },
          this.dest,
        )
      : null;
  }

  log(req: IncomingMessage, res: ServerResponse, start: Date, startNs: bigint, bytesSent: number | null): void {
    const rec: AccessRecord = {
      remoteAddress: req.socket.remoteAddress,
      method: req.method ?? '',
      target: req.url ?? '',
      httpVersion: req.httpVersion,
      status: res.statusCode,
      bytesSent,
      requestHeaders: req.headers,
      responseHeaders: res.getHeaders() as AccessRecord['responseHeaders'],
      startTime: start,
      durationNs: process.hrtime.bigint() - startNs,
      pid: process.pid,
      env: process.env,
    };
    if (this.json) {
      this.json.info({ request_id: requestId(req), ...accessJson(rec) });
      return;
    }
    this.dest.write(`${this.format(rec)}\n`);
  }

  reopen(): void {
    this.dest.reopen();
  }

  flush(): void {
    try {
      this.dest.flushSync();
    } catch {
      // Nothing buffered, or the destination is not ready yet.
    }
  }
}
