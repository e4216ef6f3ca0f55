/**
 * The access log, written from workers: one line per request in Gunicorn's format. Lines are
 * written asynchronously (sonic-boom, pino's writer) so logging stays off the request's path:
 * a line goes out at once when the file is idle, and lines logged while a write is in flight are
 * joined into the next write, so a busy server makes few system calls and a quiet one shows
 * each line immediately. Whatever is pending is flushed on exit.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import pino from 'pino';
import { compileAccessFormat, type AccessRecord } from './access-format.js';

type Boom = ReturnType<typeof pino.destination>;

export class AccessLog {
  private readonly format: (rec: AccessRecord) => string;
  private readonly dest: Boom;

  constructor(target: string, format: string) {
    this.format = compileAccessFormat(format);
    this.dest = pino.destination({ dest: target === '-' ? 1 : target, sync: false, minLength: 0, append: true, mkdir: true });
  }

  log(req: IncomingMessage, res: ServerResponse, start: Date, startNs: bigint, bytesSent: number | null): void {
    const line = this.format({
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
    });
    this.dest.write(`${line}\n`);
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
