/**
 * Ordinary requests timed from a thread of their own, so that what the test's main thread does
 * meanwhile (hundreds of hostile sockets) does not count as server latency.
 */
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { Load, type LoadOptions } from './load.js';

export interface ProbeReport {
  ok: number;
  failed: number;
  failures: string[];
  /** Latencies (ms) of the requests sent since the previous report (see Load.latenciesSince). */
  latencies: number[];
}

type Ask = 'report' | 'stop';

export class ThreadProbe {
  private readonly thread: Worker;
  private readonly replies: ((r: ProbeReport) => void)[] = [];

  constructor(opts: LoadOptions) {
    this.thread = new Worker(new URL(import.meta.url), { workerData: opts });
    this.thread.on('message', (r: ProbeReport) => this.replies.shift()?.(r));
  }

  private ask(what: Ask): Promise<ProbeReport> {
    return new Promise((resolve) => {
      this.replies.push(resolve);
      this.thread.postMessage(what);
    });
  }

  /** What was measured since the last report. */
  report(): Promise<ProbeReport> {
    return this.ask('report');
  }

  /** Lets the outstanding requests finish; the last report. */
  async stop(): Promise<ProbeReport> {
    const r = await this.ask('stop');
    await this.thread.terminate();
    return r;
  }

  destroy(): void {
    void this.thread.terminate();
  }
}

if (!isMainThread && parentPort) {
  const port = parentPort;
  const load = new Load(workerData as LoadOptions).start();
  let from = performance.now();
  const report = (): ProbeReport => {
    const latencies = load.latenciesSince(from);
    from = performance.now();
    return { ok: load.ok, failed: load.failed, failures: load.failures, latencies };
  };
  port.on('message', async (what: Ask) => {
    if (what === 'stop') await load.stop();
    port.postMessage(report());
  });
}
