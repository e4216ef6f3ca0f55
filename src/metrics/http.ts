/**
 * `--metrics-bind`: a small HTTP server in the master, apart from the app's sockets.
 *
 *   GET /metrics   Prometheus text format, totals over every worker (asks each worker for its
 *                  latest numbers first, waiting at most SCRAPE_WAIT_MS)
 *   GET /healthz   200 while the master is up (liveness)
 *   GET /readyz    200 while at least one worker is serving; 503 while none is, and during a stop
 *                  (readiness: a load balancer or Kubernetes stops sending traffic)
 */
import { lstatSync, unlinkSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ControlledArbiter } from '../control/types.js';
import { metricsUrl, parseMetricsAddress } from './address.js';
import type { WorkerBook } from './master.js';
import type { PromMetrics } from './prometheus.js';

export const SCRAPE_WAIT_MS = 250;

/** Ready: running, and some worker of the pool has booted and is not on its way out. */
export function isReady(arbiter: ControlledArbiter): boolean {
  return arbiter.phase === 'running' && arbiter.listWorkers().some((w) => w.booted && !w.leaving);
}

export class MetricsServer {
  private readonly server: http.Server;
  private unixPath: string | null = null;

  constructor(
    private readonly arbiter: ControlledArbiter,
    private readonly book: WorkerBook,
    private readonly prom: PromMetrics,
  ) {
    this.server = http.createServer((req, res) => void this.handle(req, res));
    this.server.keepAliveTimeout = 5000;
  }

  /** Listens; resolves with the URL it serves, rejects with the listen error. */
  listen(bind: string): Promise<string> {
    const addr = parseMetricsAddress(bind);
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      const done = () => {
        this.server.off('error', reject);
        const port = addr.kind === 'tcp' ? (this.server.address() as AddressInfo).port : undefined;
        resolve(metricsUrl(addr, port));
      };
      if (addr.kind === 'unix') {
        this.unixPath = addr.path;
        try {
          // A socket left by a master that died; never anything else.
          if (lstatSync(addr.path).isSocket()) unlinkSync(addr.path);
        } catch {
          // Not there: fine.
        }
        this.server.listen(addr.path, done);
      } else {
        this.server.listen({ host: addr.host, port: addr.port, exclusive: true }, done);
      }
    });
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    const get = req.method === 'GET' || req.method === 'HEAD';
    const text = (status: number, body: string, type = 'text/plain; charset=utf-8') => {
      res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store' });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    if (!get && (path === '/metrics' || path === '/healthz' || path === '/readyz')) return text(405, 'method not allowed\n');
    try {
      switch (path) {
        case '/metrics':
          await this.book.refresh(SCRAPE_WAIT_MS);
          return text(200, await this.prom.render(), this.prom.contentType);
        case '/healthz':
          return text(200, 'ok\n');
        case '/readyz':
          if (isReady(this.arbiter)) return text(200, 'ready\n');
          return text(503, this.arbiter.phase === 'stopping' ? 'stopping\n' : 'no worker is serving\n');
        default:
          return text(404, 'not found: try /metrics, /healthz or /readyz\n');
      }
    } catch (err) {
      this.arbiter.logger.error(`Metrics server: ${err instanceof Error ? err.message : String(err)}`);
      if (!res.headersSent) text(500, 'error\n');
    }
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
      if (this.unixPath) {
        try {
          unlinkSync(this.unixPath);
        } catch {
          // Already gone.
        }
      }
    });
  }
}
