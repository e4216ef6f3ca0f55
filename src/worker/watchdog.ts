/**
 * Beyond Gunicorn: when a worker's event loop is stuck (an endless loop, a long synchronous
 * computation), log the JavaScript stack where it is stuck, so the operator sees the function
 * and the line before the master kills the worker.
 *
 * A stuck event loop cannot report anything itself, so a small watchdog thread does: the main
 * thread stamps a shared clock on every heartbeat, and when the stamp is older than --timeout
 * the thread connects to the main thread's inspector and pauses it. V8 interrupts running
 * JavaScript to pause, so this works in the middle of a `for (;;)`; the stack is logged and the
 * main thread resumed. The same thread ends a stuck worker whose master is gone, which would
 * otherwise spin on as an orphan.
 */
import { Worker } from 'node:worker_threads';

export interface WatchdogData {
  beat: Float64Array;
  timeoutMs: number;
  errorlog: string;
  loglevel: string;
  json?: boolean;
}

export class Watchdog {
  private readonly beat = new Float64Array(new SharedArrayBuffer(8));
  private readonly thread: Worker;

  constructor(timeoutSeconds: number, errorlog: string, loglevel: string, json = false) {
    this.stamp();
    const data: WatchdogData = { beat: this.beat, timeoutMs: timeoutSeconds * 1000, errorlog, loglevel, json };
    this.thread = new Worker(new URL('./watchdog-thread.js', import.meta.url), { workerData: data });
    // It must never keep the worker alive, nor take it down.
    this.thread.unref();
    this.thread.on('error', () => {});
  }

  /** Called from the event loop: the loop is alive. */
  stamp(): void {
    this.beat[0] = Date.now();
  }

  /**
   * Disconnects from the inspector before the worker exits; Node would otherwise print
   * "Waiting for the debugger to disconnect..." at every exit.
   */
  close(): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(done, 200);
      this.thread.once('exit', done);
      this.thread.postMessage('close');
    });
  }
}
