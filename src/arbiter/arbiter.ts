/**
 * The master, as Gunicorn's arbiter: it binds, forks the workers, and from then on only reacts —
 * to signals, to workers' messages and exits, and to a one-second tick that looks for silent
 * workers. Its life is a small state machine:
 *
 *   booting ──run()──▶ running ──TERM/INT/QUIT, or a worker that cannot boot──▶ stopping ──▶ (exit)
 *                        │  ▲
 *                 HUP/TTIN/TTOU/USR1, worker exits: handled in place
 *
 * While running, manageWorkers() keeps exactly `workers` live workers of the current generation.
 */
import type { ChildProcess } from 'node:child_process';
import cluster, { type Worker as ClusterWorker } from 'node:cluster';
import { fileURLToPath } from 'node:url';
import { applyProcessSettings } from '../config/apply.js';
import { startMasterServices, type MasterServices } from '../control/services.js';
import type { WorkerExitInfo, WorkerInfo } from '../control/types.js';
import { fireHook, hasWorkerHooks, hooksOf, runHook, type HookName, type Hooks } from '../config/hooks.js';
import { resolveConfig, type ResolveInput } from '../config/resolve.js';
import type { Settings } from '../config/settings.js';
import { ExitStatus, oneLine } from '../errors.js';
import { WORKER_BOOT_ENV, isWorkerMessage, type MasterMessage, type WorkerBoot, type WorkerMessage } from '../ipc.js';
import { closeListeners, inheritListeners, openListeners, rebindable, type Listener } from '../listeners/create.js';
import type { Logger } from '../log/logger.js';
import { VERSION } from '../version.js';
import { resolveWorkerClass } from '../worker/classes/names.js';
import { notifyDaemonParent } from './daemon.js';
import { SystemdNotify } from './notify.js';
import { Pidfile } from './pidfile.js';
import { Reloader } from './reloader.js';
import { unixSocketOptions } from '../config/privileges.js';
import { startNewMaster, takeInheritance } from './upgrade.js';

type State = 'booting' | 'running' | 'stopping';

/** What the master keeps per worker: what its services see (WorkerInfo), plus the watchdog's state. */
interface WorkerRecord extends WorkerInfo {
  /** When the master asked it to abort after a timeout; it is killed if still there shortly after. */
  abortedAt: number;
  /** SIGKILLed by the master itself (timeout): not an out-of-memory mystery. */
  killed: boolean;
}

/** A worker that dies sooner than this after its start counts towards the respawn back-off. */
const QUICK_DEATH_MS = 5000;
const MAX_RESPAWN_DELAY_MS = 10_000;
/** Time a timed-out worker gets between SIGABRT and SIGKILL (Gunicorn waits one turn of its 1 s loop). */
const ABORT_GRACE_MS = 1000;
const WORKER_ENTRY = fileURLToPath(new URL('../worker/main.js', import.meta.url));

/** What master-side hooks receive as `server` (Gunicorn passes its Arbiter). */
export interface ServerView {
  readonly pid: number;
  readonly procName: string;
  readonly settings: Settings;
  readonly log: Logger;
  /** The target number of workers. */
  readonly numWorkers: number;
  workers(): WorkerView[];
}

/** What hooks receive as `worker` on the master side. */
export interface WorkerView {
  /** Null in pre_fork: the process does not exist yet. */
  readonly pid: number | null;
  readonly age: number;
  readonly booted: boolean;
  /** In child_exit: how it ended. */
  readonly exitCode?: number | null;
  readonly signal?: string | null;
}

export function procNameOf(settings: Settings): string {
  return settings.proc_name ?? settings.app ?? 'tsgunicorn';
}

export class Arbiter {
  private state: State = 'booting';
  private listeners: Listener[] = [];
  private readonly workers = new Map<number, WorkerRecord>();
  private target: number;
  private generation = 0;
  private ages = 0;
  private workerClass: string;
  private pidfile: Pidfile | null = null;
  private tick: NodeJS.Timeout | null = null;
  private quickDeaths = 0;
  private respawnTimer: NodeJS.Timeout | null = null;
  private respawnAt = 0;
  private finish: (status: number) => void = () => {};
  private readonly signalHandlers = new Map<NodeJS.Signals, () => void>();
  private hooks: Hooks;
  /** sd_notify to systemd when NOTIFY_SOCKET is set (src/arbiter/notify.ts). */
  private systemd: SystemdNotify | null = null;
  /** The `server` argument of master-side hooks. */
  readonly view: ServerView;

  constructor(
    private settings: Settings,
    private readonly log: Logger,
    /** How the configuration was given, so HUP can read it again. */
    private readonly input: ResolveInput,
  ) {
    this.target = settings.workers;
    this.workerClass = resolveWorkerClass(settings.worker_class, settings.threads).name;
    this.hooks = hooksOf(settings);
    const self = this;
    this.view = {
      pid: process.pid,
      get procName() {
        return procNameOf(self.settings);
      },
      get settings() {
        return self.settings;
      },
      log,
      get numWorkers() {
        return self.target;
      },
      workers: () => [...this.workers.values()].map((r) => ({ pid: r.pid, age: r.age, booted: r.booted })),
    };
  }

  private hook(name: HookName, ...args: unknown[]): Promise<void> {
    return runHook(this.hooks, name, this.log, this.view, ...args);
  }

  /** Serves until stopped; resolves with the exit status. Bind and pidfile errors reject. */
  async run(): Promise<number> {
    const { settings, log } = this;
    log.info(`Starting tsgunicorn ${VERSION}`);
    process.title = `tsgunicorn: master [${procNameOf(settings)}]`;
    await this.hook('on_starting');
    const inherited = takeInheritance();
    this.parentMaster = inherited?.parentPid ?? 0;
    this.listeners = inherited ? inheritListeners(inherited.fds, settings.bind) : await openListeners(settings, log, undefined, unixSocketOptions(settings));
    try {
      if (settings.pidfile) {
        // A master started by USR2 serves alongside its parent until promoted: PIDFILE.2 meanwhile.
        this.pidfile = new Pidfile(settings.pidfile + (this.parentMaster ? '.2' : ''), settings.chdir);
        this.pidfile.create(process.pid);
      }
    } catch (err) {
      closeListeners(this.listeners, true);
      throw err;
    }
    for (const l of this.listeners) log.info(`Listening at: ${l.url} (${process.pid})`);
    const cls = resolveWorkerClass(settings.worker_class, settings.threads);
    if (cls.notice) log.info(cls.notice);
    log.info(`Using worker: ${cls.name}`);
    // Control socket, metrics server, StatsD (src/control/services.ts); a --metrics-bind that cannot listen is fatal.
    this.services = await startMasterServices(this, settings.chdir).catch((err: unknown) => {
      closeListeners(this.listeners, !this.parentMaster);
      this.pidfile?.unlink(process.pid);
      throw err;
    });

    await this.hook('when_ready');
    notifyDaemonParent();
    const done = new Promise<number>((resolve) => (this.finish = resolve));
    this.installSignals();
    cluster.setupPrimary({ exec: WORKER_ENTRY, args: [], silent: false });
    cluster.on('exit', (worker, code, signal) => this.onExit(worker, code, signal));
    this.state = 'running';
    this.systemd = SystemdNotify.fromEnv(log);
    this.systemd?.start();
    this.manageWorkers();
    if (settings.reload) {
      this.reloader = new Reloader({ root: settings.chdir, extraFiles: settings.reload_extra_files, cwd: this.input.cwd, log, onChange: () => this.reloadCode() });
    }
    // Look for silent workers often enough that one is replaced within timeout + 1 s.
    this.tick = setInterval(() => {
      this.murderWorkers();
      this.maybePromote();
    }, Math.min(1000, Math.max(100, settings.timeout * 100)));
    return done;
  }

  // ---- signals -------------------------------------------------------------------------------

  private installSignals(): void {
    const on = (sig: NodeJS.Signals, name: string, fn: () => void) => {
      const handler = () => {
        this.log.info(`Handling signal: ${name}`);
        fn();
      };
      this.signalHandlers.set(sig, handler);
      process.on(sig, handler);
    };
    on('SIGTERM', 'term', () => void this.stop(true));
    on('SIGINT', 'int', () => void this.stop(false));
    on('SIGQUIT', 'quit', () => void this.stop(false));
    on('SIGHUP', 'hup', () => void this.reload());
    on('SIGTTIN', 'ttin', () => this.scale(+1));
    on('SIGTTOU', 'ttou', () => this.scale(-1));
    on('SIGUSR1', 'usr1', () => this.reopenLogs());
    on('SIGUSR2', 'usr2', () => void this.reexec());
    on('SIGWINCH', 'winch', () => this.winch());
  }

  private scale(delta: number): void {
    if (this.state !== 'running') return;
    // Gunicorn's TTOU: nothing below one worker (and nothing at all after WINCH took them to 0).
    if (delta < 0 && this.target <= 1) return;
    this.setTarget(Math.max(1, this.target + delta));
    this.manageWorkers();
  }

  private setTarget(n: number): void {
    const old = this.target;
    this.target = n;
    if (n !== old) void this.hook('nworkers_changed', n, old);
  }

  /** WINCH: as a daemon, stop every worker gracefully until TTIN or HUP brings them back (as Gunicorn). */
  private winch(): void {
    if (this.state !== 'running') return;
    if (!this.settings.daemon) return this.log.debug('SIGWINCH ignored. Not daemonized');
    this.log.info('graceful stop of workers');
    this.setTarget(0);
    this.manageWorkers();
  }

  /** --reload: a source file changed; replace every worker as HUP does, without reading the configuration again. */
  private reloader: Reloader | null = null;
  private reloadCode(): void {
    if (this.state !== 'running') return;
    this.generation++;
    this.manageWorkers();
  }

  private reopenLogs(): void {
    this.log.reopen();
    for (const r of this.workers.values()) this.kill(r, 'SIGUSR1');
  }

  /**
   * HUP: read the configuration again and replace every worker, starting the new generation
   * before retiring the old one so that something always serves.
   */
  private async reload(): Promise<void> {
    if (this.state !== 'running') return;
    this.log.info('Hang up: Master');
    this.systemd?.reloading();
    let next: Settings;
    try {
      next = (await resolveConfig(this.input)).settings;
      resolveWorkerClass(next.worker_class, next.threads);
    } catch (err) {
      this.log.error(`Reload failed, keeping the running configuration: ${oneLine(err)}`);
      this.systemd?.reloadFailed();
      return;
    }
    if (this.state !== 'running') return;
    if (rebindable() && next.bind.join('\n') !== this.settings.bind.join('\n')) {
      try {
        const fresh = await openListeners(next, this.log, 0, unixSocketOptions(next));
        closeListeners(this.listeners, true);
        this.listeners = fresh;
        for (const l of fresh) this.log.info(`Listening at: ${l.url} (${process.pid})`);
      } catch (err) {
        this.log.error(`Reload failed, keeping the running configuration: ${oneLine(err)}`);
      this.systemd?.reloadFailed();
        return;
      }
    }
    try {
      applyProcessSettings(next, this.input.cwd);
    } catch (err) {
      this.log.error(`Reload failed, keeping the running configuration: ${oneLine(err)}`);
      this.systemd?.reloadFailed();
      return;
    }
    this.settings = next;
    this.hooks = hooksOf(next);
    this.setTarget(next.workers);
    this.workerClass = resolveWorkerClass(next.worker_class, next.threads).name;
    process.title = `tsgunicorn: master [${procNameOf(next)}]`;
    this.log.reopen();
    await this.hook('on_reload');
    this.generation++;
    this.manageWorkers();
  }

  // ---- binary upgrade (USR2) -----------------------------------------------------------------

  /** The master we were started by (USR2), until it exits and we are promoted. */
  private parentMaster = 0;
  /** The master we started (USR2), while it lives. */
  private newMaster: ChildProcess | null = null;

  private async reexec(): Promise<void> {
    if (this.state !== 'running') return;
    if (this.newMaster) return this.log.warning('USR2 signal ignored. Child exists.');
    if (this.parentMaster) return this.log.warning('USR2 signal ignored. Parent exists.');
    await this.hook('pre_exec');
    const pidfile = this.pidfile;
    const ownPath = pidfile?.path;
    pidfile?.rename(`${ownPath}.oldbin`);
    const child = startNewMaster(this.listeners, this.input.cwd);
    this.newMaster = child;
    this.log.info(`Started a new master (pid: ${child.pid}) on the same sockets`);
    child.once('exit', (code, signal) => {
      this.newMaster = null;
      if (this.state !== 'running') return;
      // A new master that failed leaves this one serving, pidfile back in place.
      if (pidfile && ownPath) pidfile.rename(ownPath);
      this.log.error(`The new master (pid: ${child.pid}) exited (${signal ?? `code ${code}`}); this master keeps serving`);
    });
  }

  /** Gunicorn's maybe_promote_master: our parent has exited, so we are the master now. */
  private maybePromote(): void {
    if (!this.parentMaster || process.ppid === this.parentMaster) return;
    this.parentMaster = 0;
    this.log.info('Master has been promoted.');
    if (this.pidfile && this.settings.pidfile) this.pidfile.rename(new Pidfile(this.settings.pidfile, this.settings.chdir).path);
  }

  // ---- workers -------------------------------------------------------------------------------

  private serving(): WorkerRecord[] {
    return [...this.workers.values()].filter((r) => r.generation === this.generation && !r.leaving);
  }

  /** Brings the current generation to `target` workers, honouring the respawn back-off. */
  private manageWorkers(): void {
    if (this.state !== 'running') return;
    const live = this.serving();
    if (live.length > this.target) {
      for (const r of live.sort((a, b) => a.age - b.age).slice(0, live.length - this.target)) this.retire(r);
      return;
    }
    // --reload: a generation that could not load the app is not respawned before the next change.
    if (this.reloader?.failedGeneration === this.generation) return;
    const missing = this.target - live.length;
    if (missing <= 0) return;
    const wait = this.respawnAt - Date.now();
    if (wait > 0) {
      this.respawnTimer ??= setTimeout(() => {
        this.respawnTimer = null;
        this.manageWorkers();
      }, wait);
      return;
    }
    for (let i = 0; i < missing; i++) this.spawn();
  }

  private spawn(): void {
    const age = ++this.ages;
    const boot: WorkerBoot = {
      settings: this.settings,
      workerClass: this.workerClass,
      listeners: this.listeners.length,
      procName: procNameOf(this.settings),
      age,
      configFile: this.settings.config,
      hooks: hasWorkerHooks(this.settings),
    };
    if (this.hooks.pre_fork) fireHook(this.hooks.pre_fork, 'pre_fork', this.log, this.view, { pid: null, age, booted: false });
    const worker = cluster.fork({ [WORKER_BOOT_ENV]: JSON.stringify(boot) });
    const now = Date.now();
    const record: WorkerRecord = {
      worker,
      pid: worker.process.pid ?? 0,
      age,
      generation: this.generation,
      spawnedAt: now,
      booted: false,
      lastBeat: now,
      leaving: false,
      abortedAt: 0,
      killed: false,
    };
    this.workers.set(worker.id, record);
    worker.on('message', (msg: unknown) => {
      if (isWorkerMessage(msg)) this.onMessage(record, msg);
    });
    // A worker that has just exited still looks connected until its exit is read, and a message
    // sent to it then fails with EPIPE; unheard, that 'error' would take the master down. Its
    // exit event follows and does whatever is needed.
    worker.on('error', (err: Error) => this.log.debug(`Worker (pid:${record.pid}): ${err.message}`));
    // Two duplicates of each listener: one to accept on, one spare to resume with after a pause.
    for (let i = 0; i < this.listeners.length; i++) {
      this.sendListener(record, i);
      this.sendListener(record, i);
    }
  }

  private sendListener(r: WorkerRecord, i: number): void {
    const l = this.listeners[i];
    if (!l || this.state === 'stopping' || !r.worker.isConnected()) return;
    const msg: MasterMessage = { t: 'listener', i };
    r.worker.send(msg, l.handle as never, (err: Error | null) => {
      if (err && this.state === 'running') this.log.debug(`Could not pass listener ${i} to worker ${r.pid}: ${err.message}`);
    });
  }

  private onMessage(r: WorkerRecord, msg: WorkerMessage): void {
    switch (msg.t) {
      case 'hb':
        r.lastBeat = Date.now();
        break;
      case 'booted':
        r.booted = true;
        r.lastBeat = Date.now();
        this.log.debug(`Worker booted (pid:${r.pid})`);
        this.retireOldGenerations();
        this.notifyServing();
        break;
      case 'leaving':
        r.leaving = true;
        // Counted now, before manageWorkers starts its replacement: a worker that keeps
        // crashing soon after its start is replaced with the growing delay too.
        if (msg.crashed) this.backOff(r);
        this.manageWorkers();
        break;
      case 'listener?':
        this.sendListener(r, msg.i);
        break;
    }
  }

  /** systemd's READY=1: every worker of the current generation serves. */
  private notifyServing(): void {
    const current = this.serving();
    if (this.systemd && current.length >= this.target && current.every((r) => r.booted)) this.systemd.serving(current.length);
  }

  /** After a reload, the old workers leave once every worker of the new generation serves. */
  private retireOldGenerations(): void {
    const current = this.serving();
    if (current.length < this.target || current.some((r) => !r.booted)) return;
    for (const r of this.workers.values()) if (r.generation < this.generation && !r.leaving) this.retire(r);
  }

  private retire(r: WorkerRecord): void {
    r.leaving = true;
    this.kill(r, 'SIGTERM');
  }

  private kill(r: WorkerRecord, sig: NodeJS.Signals): void {
    try {
      r.worker.process.kill(sig);
    } catch {
      // Already gone; its exit event follows.
    }
  }

  /**
   * Gunicorn's murder_workers: a worker silent for longer than the timeout is logged, asked to
   * abort (SIGABRT: the worker_abort hook runs if its event loop can still run), and killed a
   * moment later. Meanwhile the worker's watchdog thread logs where its JavaScript is stuck.
   */
  private murderWorkers(): void {
    const timeoutMs = this.settings.timeout * 1000;
    if (timeoutMs <= 0) return;
    const now = Date.now();
    for (const r of this.workers.values()) {
      if (r.killed) continue;
      if (r.abortedAt) {
        if (now - r.abortedAt >= ABORT_GRACE_MS) {
          r.killed = true;
          this.kill(r, 'SIGKILL');
        }
      } else if (now - r.lastBeat > timeoutMs) {
        this.log.critical(`WORKER TIMEOUT (pid:${r.pid})`);
        r.abortedAt = now;
        this.kill(r, 'SIGABRT');
      }
    }
  }

  private onExit(worker: ClusterWorker, code: number | null, signal: string | null): void {
    const r = this.workers.get(worker.id);
    if (!r) return;
    this.workers.delete(worker.id);

    if (signal) {
      // The master's own kills (timeout, graceful timeout) were logged when they were sent.
      const ours = r.killed || (r.abortedAt > 0 && signal === 'SIGABRT');
      const hint = signal === 'SIGKILL' && !ours ? ' Perhaps out of memory?' : '';
      // Gunicorn's levels: SIGKILL is an error, SIGTERM expected (info), any other signal a warning.
      const say = signal === 'SIGKILL' ? this.log.error : signal === 'SIGTERM' ? this.log.info : this.log.warning;
      if (!ours) say(`Worker (pid:${r.pid}) was sent ${signal}!${hint}`);
    } else if (code) {
      this.log.error(`Worker (pid:${r.pid}) exited with code ${code}.`);
    }

    this.onWorkerExit?.({
      pid: r.pid,
      booted: r.booted,
      code,
      signal,
      timedOut: r.abortedAt > 0,
      reloaded: r.generation < this.generation,
      leaving: r.leaving,
      stopping: this.state === 'stopping',
    });
    if (this.hooks.child_exit) {
      fireHook(this.hooks.child_exit, 'child_exit', this.log, this.view, { pid: r.pid, age: r.age, booted: r.booted, exitCode: code, signal });
    }
    if (this.state === 'stopping') {
      if (this.workers.size === 0) this.onAllGone?.();
      return;
    }
    // A worker that could not boot will not boot the next time either: halt, as Gunicorn does.
    if (this.reloader && !r.booted && (code === ExitStatus.WORKER_BOOT || code === ExitStatus.APP_LOAD)) {
      if (r.generation === this.generation) this.reloader.bootFailed(this.generation);
      return;
    }
    if (!r.booted && code === ExitStatus.WORKER_BOOT) return void this.halt('Worker failed to boot.', ExitStatus.WORKER_BOOT);
    if (!r.booted && code === ExitStatus.APP_LOAD) return void this.halt('App failed to load.', ExitStatus.APP_LOAD);

    // SIGKILL not sent by the master: the OOM killer or an operator ended it; the app did not
    // crash, so it is replaced at once. Counting it would leave no worker at all, for seconds,
    // when several are killed in a row.
    const killedFromOutside = signal === 'SIGKILL' && !r.killed;
    if (!r.leaving && !killedFromOutside) this.backOff(r);
    this.manageWorkers();
  }

  /** Respawns a worker that keeps crashing right after its start with a growing delay, never in a tight loop. */
  private backOff(r: WorkerRecord): void {
    if (Date.now() - r.spawnedAt > QUICK_DEATH_MS) {
      this.quickDeaths = 0;
      return;
    }
    this.quickDeaths++;
    const delay = Math.min(MAX_RESPAWN_DELAY_MS, 100 * 2 ** (this.quickDeaths - 1));
    this.respawnAt = Date.now() + delay;
    if (this.quickDeaths > 1) {
      this.log.warning(`Worker (pid:${r.pid}) died ${this.quickDeaths} times in a row soon after starting; respawning in ${(delay / 1000).toFixed(1)}s`);
    }
  }

  // ---- stopping ------------------------------------------------------------------------------

  private onAllGone: (() => void) | null = null;

  private waitForWorkers(ms: number): Promise<void> {
    if (this.workers.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.onAllGone = done;
    });
  }

  /**
   * Graceful (TERM): workers finish in-flight requests, up to graceful_timeout, then are killed.
   * Quick (INT, QUIT): they exit at once. A quick stop overtakes a graceful one in progress.
   */
  private async stop(graceful: boolean, status: number = ExitStatus.OK, reason?: string): Promise<void> {
    if (this.state === 'stopping') {
      if (!graceful) {
        this.log.info('Quick shutdown requested');
        for (const r of this.workers.values()) this.kill(r, 'SIGQUIT');
      }
      return;
    }
    this.state = 'stopping';
    this.systemd?.stopping();
    if (this.tick) clearInterval(this.tick);
    if (this.respawnTimer) clearTimeout(this.respawnTimer);
    this.reloader?.close();
    // Unix socket files stay when another master (USR2) goes on serving from them.
    closeListeners(this.listeners, !this.newMaster && !this.parentMaster);
    for (const r of this.workers.values()) {
      // Graceful: over IPC, so the workers know the whole server stops (see Gate.drainQueue).
      // A worker still booting has no connection yet (nor, maybe, its message handler): TERM.
      if (graceful && r.booted && r.worker.isConnected()) {
        // The channel may already be closing (a worker retired by HUP, on its way out): TERM still stops it.
        r.worker.send({ t: 'stop' } satisfies MasterMessage, (err: Error | null) => {
          if (!err) return;
          this.log.debug(`Could not ask worker ${r.pid} to stop over IPC (${err.message}); sending TERM`);
          this.kill(r, 'SIGTERM');
        });
      } else this.kill(r, graceful ? 'SIGTERM' : 'SIGQUIT');
    }
    await this.waitForWorkers(this.settings.graceful_timeout * 1000);
    for (const r of this.workers.values()) {
      r.killed = true;
      this.kill(r, 'SIGKILL');
    }
    await this.waitForWorkers(5000);

    for (const [sig, fn] of this.signalHandlers) process.off(sig, fn);
    await this.hook('on_exit');
    this.pidfile?.unlink(process.pid);
    const say = status === ExitStatus.OK ? this.log.info : this.log.error;
    say('Shutting down: Master');
    if (reason) say(`Reason: ${reason}`);
    await this.services?.close();
    await this.systemd?.close();
    this.finish(status);
  }

  /** Gunicorn's halt: stop everything and exit with a status that says why. */
  private halt(reason: string, status: number): Promise<void> {
    return this.stop(true, status, reason);
  }

  // ---- control surface: what `tsgunicorn ctl`, /metrics and /readyz use (src/control/types.ts) ----

  private services: MasterServices | null = null;
  readonly startedAt = Date.now();
  /** Told about every worker exit (restart reasons for the metrics). */
  onWorkerExit: ((info: WorkerExitInfo) => void) | null = null;

  get phase(): State {
    return this.state;
  }

  get targetWorkers(): number {
    return this.target;
  }

  get workerClassName(): string {
    return this.workerClass;
  }

  get currentSettings(): Settings {
    return this.settings;
  }

  get logger(): Logger {
    return this.log;
  }

  listWorkers(): WorkerInfo[] {
    return [...this.workers.values()].map((r) => ({
      pid: r.pid,
      age: r.age,
      generation: r.generation,
      spawnedAt: r.spawnedAt,
      booted: r.booted,
      lastBeat: r.lastBeat,
      leaving: r.leaving,
      worker: r.worker,
    }));
  }

  /** As TTIN, n times. */
  addWorkers(n: number): number {
    this.scale(n);
    return this.target;
  }

  /** As TTOU, n times (never below one worker). */
  removeWorkers(n: number): number {
    this.scale(-n);
    return this.target;
  }

  /** As HUP. */
  requestReload(): void {
    void this.reload();
  }

  /** As TERM (graceful) or INT. */
  requestStop(graceful: boolean): void {
    void this.stop(graceful);
  }

  /** As USR1. */
  reopenLogFiles(): void {
    this.reopenLogs();
  }
}
