/**
 * A worker process: loads the app, runs its worker class on the connections its acceptors take,
 * reports liveness, and leaves the way Gunicorn's workers do (TERM graceful, INT/QUIT at once,
 * after max_requests gracefully). Exit statuses tell the master what happened at boot:
 * 3 = failed to boot, 4 = the app failed to load.
 */
import cluster from 'node:cluster';
import type { Socket } from 'node:net';
import { loadApp } from '../app/index.js';
import { AppLoadError, ExitStatus, oneLine } from '../errors.js';
import { WORKER_BOOT_ENV, type MasterMessage, type WorkerBoot, type WorkerMessage } from '../ipc.js';
import { fireHook, loadWorkerHooks, runHook, type Hooks } from '../config/hooks.js';
import { AccessLog } from '../log/access.js';
import { startWorkerTelemetry } from '../metrics/worker.js';
import { createLogger, type Logger } from '../log/logger.js';
import type { ServerHandle } from '../listeners/create.js';
import { Gate } from './acceptor.js';
import { watchMemory } from './memory.js';
import { dropPrivileges, workerOwner } from '../config/privileges.js';
import { Watchdog } from './watchdog.js';
import { loadWorkerClass } from './classes/index.js';
import { prepareEdge, type EdgeSettings } from '../http/edge.js';
import type { WorkerClass, WorkerClassContext } from './classes/types.js';

function send(msg: WorkerMessage): void {
  if (process.connected) process.send?.(msg);
}

/** Gunicorn draws each worker's limit once: max_requests + randint(0, jitter). */
function requestLimit(max: number, jitter: number): number {
  if (max <= 0) return Infinity;
  return max + Math.floor(Math.random() * (jitter + 1));
}

/** The first lines of a stack: enough to see where an app failed, not a wall of frames. */
function shortStack(err: unknown, frames = 5): string {
  const stack = err instanceof Error ? err.stack : undefined;
  return stack ? stack.split('\n').slice(0, frames + 1).join('\n') : String(err);
}

async function main(): Promise<void> {
  if (!cluster.isWorker || !process.env[WORKER_BOOT_ENV]) {
    console.error('tsgunicorn: the worker entry point is started by the master, not by hand');
    process.exit(ExitStatus.USAGE);
  }
  const boot = JSON.parse(process.env[WORKER_BOOT_ENV]!) as WorkerBoot;
  delete process.env[WORKER_BOOT_ENV];
  const { settings } = boot;
  process.title = `tsgunicorn: worker [${boot.procName}]`;

  const log = createLogger({ errorlog: settings.errorlog, loglevel: settings.loglevel, json: settings.log_json });
  log.info(`Booting worker with pid: ${process.pid}`);
  const accessLog =
    settings.accesslog || settings.access_log_json ? new AccessLog(settings.accesslog ?? '-', settings.access_log_format, settings.access_log_json) : null;
  // --user/--group: the master bound the sockets and the log files are open; nothing of the
  // app's (hooks included) runs with the master's privileges.
  try {
    dropPrivileges(workerOwner(settings), [settings.errorlog, settings.accesslog]);
  } catch (err) {
    failBoot(log, err);
  }
  let hooks: Hooks = {};
  if (boot.hooks) {
    try {
      hooks = await loadWorkerHooks(boot.configFile, settings.chdir);
    } catch (err) {
      log.error(`Could not load the hooks from ${boot.configFile}: ${oneLine(err)}`);
    }
  }
  let stopping = false;
  // What hooks receive as `worker` and, in the worker process, as `server` (Gunicorn's arguments).
  const workerView = {
    pid: process.pid,
    ppid: process.ppid,
    age: boot.age,
    settings,
    log,
    get alive() {
      return !stopping;
    },
  };
  const serverView = { pid: process.ppid };

  let watchdog: Watchdog | null = null;
  if (settings.timeout > 0) {
    // Sent from the event loop: a loop blocked by the app stops the beats, and the master notices.
    const wd = (watchdog = new Watchdog(settings.timeout, settings.errorlog, settings.loglevel, settings.log_json));
    const every = Math.min(1000, Math.max(100, (settings.timeout * 1000) / 4));
    const beat = () => {
      wd.stamp();
      send({ t: 'hb' });
    };
    setInterval(beat, every);
    beat();
  }

  const gate = new Gate(boot.listeners, settings.backlog, (i) => send({ t: 'listener?', i }), log);
  gate.paused = true; // until the app is loaded
  process.on('message', (msg: MasterMessage, handle?: unknown) => {
    if (msg?.t === 'listener' && handle) gate.adopt(msg.i, handle as ServerHandle);
    else if (msg?.t === 'stop') void stop(ExitStatus.OK, true);
  });

  let worker: WorkerClass | null = null;
  // Request counts for ctl/metrics, StatsD, --capture-output (src/metrics/worker.ts).
  const telemetry = startWorkerTelemetry({ settings, log, load: () => worker?.load() ?? null, threaded: boot.workerClass === 'gthread' });
  const exit = async (code: number) => {
    await runHook(hooks, 'worker_exit', log, serverView, workerView);
    await telemetry?.close();
    accessLog?.flush();
    await watchdog?.close();
    process.exit(code);
  };
  /** Graceful exit. `final`: the whole server stops, so the shared accept queue is drained first. */
  const stop = async (code: number, final = false) => {
    if (stopping) return;
    stopping = true;
    send(code === ExitStatus.OK ? { t: 'leaving' } : { t: 'leaving', crashed: true });
    if (final) await gate.drainQueue();
    else gate.close();
    if (worker) {
      const limit = new Promise<void>((r) => setTimeout(r, settings.graceful_timeout * 1000).unref());
      await Promise.race([worker.shutdown(), limit]);
    }
    log.info(`Worker exiting (pid: ${process.pid})`);
    await exit(code);
  };
  const quit = async () => {
    await runHook(hooks, 'worker_int', log, workerView);
    log.info(`Worker exiting (pid: ${process.pid})`);
    await exit(ExitStatus.OK);
  };
  process.on('SIGTERM', () => void stop(ExitStatus.OK));
  process.on('SIGINT', () => void quit());
  process.on('SIGQUIT', () => void quit());
  // The master's second step after a timeout; it only runs if the event loop is free again.
  process.on('SIGABRT', async () => {
    await runHook(hooks, 'worker_abort', log, workerView);
    log.info(`Worker exiting (pid: ${process.pid})`);
    await exit(1);
  });
  process.on('SIGUSR1', () => {
    log.reopen();
    accessLog?.reopen();
  });
  process.on('unhandledRejection', (reason) => log.exception('Unhandled promise rejection in the app', reason));
  process.on('uncaughtException', (err) => {
    // After an uncaught exception the app's state is unknown: finish what is in flight, then
    // let the master start a fresh worker.
    log.exception('Uncaught exception in worker; restarting it', err);
    telemetry?.leave('error');
    void stop(worker ? 1 : ExitStatus.WORKER_BOOT);
  });

  let served = 0;
  const limit = requestLimit(settings.max_requests, settings.max_requests_jitter);
  const ctx: WorkerClassContext = {
    settings,
    log,
    gate,
    accessLog,
    loadApp: () => loadApp(settings.app ?? '', settings.chdir, log),
    hooks: {
      preRequest: hooks.pre_request && ((req) => fireHook(hooks.pre_request!, 'pre_request', log, workerView, req)),
      postRequest: hooks.post_request && ((req, res) => fireHook(hooks.post_request!, 'post_request', log, workerView, req, res)),
    },
    recycle: () => {
      telemetry?.leave('timeout');
      void stop(ExitStatus.OK);
    },
    requestEnded: telemetry ? telemetry.ended : () => {},
    requestStarted() {
      if (telemetry) telemetry.inFlight++;
      if (++served === limit) {
        log.info('Autorestarting worker after current request.');
        telemetry?.leave('max_requests');
        void stop(ExitStatus.OK);
      }
    },
  };

  await runHook(hooks, 'post_fork', log, serverView, workerView);
  try {
    const cls = await loadWorkerClass(boot.workerClass, settings.chdir);
    await prepareEdge(settings as unknown as EdgeSettings); // TLS context, ssl_context hook
    worker = await cls.create(ctx);
  } catch (err) {
    failBoot(log, err, settings.reload);
  }
  await runHook(hooks, 'post_worker_init', log, workerView);
  gate.onSocket = (socket: Socket) => worker!.handleConnection(socket);
  gate.resume();
  // The master's socket only starts listening when a worker listens on it; say "booted" after that.
  await gate.opened().catch((err: unknown) => failBoot(log, err, false));
  send({ t: 'booted' });
  watchMemory(settings.max_worker_memory, log, () => {
    telemetry?.leave('memory');
    void stop(ExitStatus.OK);
  });
}

/** `verbose` (--reload, development): the cause's stack at error level, to show where the app broke. */
function failBoot(log: Logger, err: unknown, verbose = false): never {
  const code = err instanceof AppLoadError ? ExitStatus.APP_LOAD : ExitStatus.WORKER_BOOT;
  log.error(oneLine(err));
  const cause = err instanceof Error ? err.cause : undefined;
  if (cause) (verbose ? log.error : log.debug)(shortStack(cause));
  process.exit(code);
}

void main();
