/**
 * systemd's readiness protocol (sd_notify) for `Type=notify` units: READY=1 once every worker
 * serves, RELOADING=1 … READY=1 around a reload (HUP), STOPPING=1 on stop, STATUS= lines (workers,
 * requests served), and WATCHDOG=1 every WATCHDOG_USEC / 2 when the unit sets WatchdogSec=.
 *
 * How the messages travel. sd_notify is one datagram on the unix socket named by NOTIFY_SOCKET,
 * and Node cannot send unix datagrams (libuv has no AF_UNIX SOCK_DGRAM). The choices were a
 * native addon (unix-dgram and the like: a compiler or a prebuilt binary at install time, for
 * every user, for a handful of messages) or systemd's own `systemd-notify` command, which ships
 * with systemd itself, so it is there wherever a NOTIFY_SOCKET is. We spawn it: messages are few
 * (boot, reload, stop, a watchdog ping every few seconds), each costs one short process, and
 * nothing native enters the package. systemd-notify waits (its "barrier") until the manager has
 * read the message, so systemd can still attribute it to the unit after the helper exits.
 *
 * The catch: the message comes from the helper's pid, not the master's, so the unit needs
 * `NotifyAccess=all` (`main`, Gunicorn's recommendation, would drop it). READY=1 also carries
 * MAINPID= of the master, so systemd tracks the right process even when the master was started
 * through a wrapper (npx, a shell script).
 *
 * Messages go out one at a time, in order; a watchdog ping is skipped while one is still queued.
 * If systemd-notify is missing, one warning is logged and notifications stop.
 */
import { spawn } from 'node:child_process';
import cluster from 'node:cluster';
import type { Logger } from '../log/logger.js';

/** The helper, looked up in $PATH (TSGUNICORN_SYSTEMD_NOTIFY names another, for unusual installs). */
const HELPER = process.env.TSGUNICORN_SYSTEMD_NOTIFY ?? 'systemd-notify';

export class SystemdNotify {
  private readonly queue: string[][] = [];
  private busy = false;
  private disabled = false;
  private ready = false;
  private lastStatus = '';
  private readonly timers: NodeJS.Timeout[] = [];
  private flushed: (() => void)[] = [];
  /** Requests served, from the workers' `stats` reports: latest per live worker, plus the retired. */
  private readonly served = new Map<number, number>();
  private retired = 0;
  private workers = 0;

  private constructor(private readonly log: Logger) {}

  /** A notifier when NOTIFY_SOCKET is set (we run under systemd with Type=notify), else null. */
  static fromEnv(log: Logger, env: NodeJS.ProcessEnv = process.env): SystemdNotify | null {
    return env.NOTIFY_SOCKET ? new SystemdNotify(log) : null;
  }

  /** Starts the watchdog pings and the status updates. */
  start(env: NodeJS.ProcessEnv = process.env): void {
    cluster.on('message', (worker, msg: { t?: string; report?: { served?: number } }) => {
      if (msg?.t === 'stats' && typeof msg.report?.served === 'number') this.served.set(worker.id, msg.report.served);
    });
    cluster.on('exit', (worker) => {
      this.retired += this.served.get(worker.id) ?? 0;
      this.served.delete(worker.id);
    });
    const usec = Number(env.WATCHDOG_USEC);
    const forUs = !env.WATCHDOG_PID || Number(env.WATCHDOG_PID) === process.pid;
    if (usec > 0 && forUs) {
      const every = Math.max(100, Math.floor(usec / 2000));
      this.log.debug(`systemd watchdog: pinging every ${every} ms`);
      this.timers.push(setInterval(() => this.ping(), every));
    }
    this.timers.push(setInterval(() => this.ready && this.status(this.statusText()), 10_000));
    for (const t of this.timers) t.unref();
  }

  private statusText(): string {
    let total = this.retired;
    for (const n of this.served.values()) total += n;
    return `Serving: ${this.workers} workers, ${total} requests served`;
  }

  /** Every worker of the current generation serves: READY=1 (once per boot or reload). */
  serving(workers: number): void {
    this.workers = workers;
    if (this.ready) return this.status(this.statusText());
    this.ready = true;
    this.lastStatus = this.statusText();
    this.send(['READY=1', `STATUS=${this.lastStatus}`, `MAINPID=${process.pid}`]);
  }

  /** A reload (HUP) starts; READY=1 follows once the new workers serve, or at once if it fails. */
  reloading(): void {
    this.ready = false;
    const usec = process.hrtime.bigint() / 1000n; // CLOCK_MONOTONIC, as systemd wants it
    this.lastStatus = 'Reloading';
    this.send(['RELOADING=1', `MONOTONIC_USEC=${usec}`, 'STATUS=Reloading']);
  }

  /** The reload changed nothing (it failed): serving as before. */
  reloadFailed(): void {
    this.serving(this.workers);
  }

  stopping(): void {
    this.ready = false;
    this.lastStatus = 'Stopping';
    this.send(['STOPPING=1', 'STATUS=Stopping']);
  }

  status(text: string): void {
    if (text === this.lastStatus) return;
    this.lastStatus = text;
    this.send([`STATUS=${text}`]);
  }

  private ping(): void {
    if (this.queue.some((m) => m[0] === 'WATCHDOG=1')) return;
    this.send(['WATCHDOG=1']);
  }

  private send(fields: string[]): void {
    if (this.disabled) return;
    this.queue.push(fields);
    this.next();
  }

  private next(): void {
    if (this.busy) return;
    const fields = this.queue.shift();
    if (!fields) {
      for (const f of this.flushed.splice(0)) f();
      return;
    }
    this.busy = true;
    let child;
    try {
      child = spawn(HELPER, fields, { stdio: ['ignore', 'ignore', 'pipe'] });
    } catch (err) {
      return this.failed(err as Error);
    }
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', (err) => this.failed(err));
    child.once('exit', (code) => {
      if (code) this.log.debug(`systemd-notify ${fields[0]} exited with ${code}: ${stderr.trim()}`);
      this.busy = false;
      this.next();
    });
  }

  private failed(err: Error & { code?: string }): void {
    this.log.warning(
      err.code === 'ENOENT'
        ? `NOTIFY_SOCKET is set but ${HELPER} was not found: systemd will not hear that tsgunicorn is ready`
        : `Could not notify systemd: ${err.message}`,
    );
    this.disabled = true;
    this.busy = false;
    this.queue.length = 0;
    for (const f of this.flushed.splice(0)) f();
  }

  /** Waits (up to `ms`) for queued messages to go out; stops the timers. */
  close(ms = 2000): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    if (!this.busy && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const t = setTimeout(resolve, ms);
      this.flushed.push(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }
}
