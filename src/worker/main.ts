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
import { createLogger, type Logger } from '../log/logger.js';
import type { ServerHandle } from '../listeners/create.js';
import { Gate } from './acceptor.js';
import { Watchdog } from './watchdog.js';
import { loadWorkerClass } from './classes/index.js';
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

  const log = createLogger({ errorlog: settings.errorlog, loglevel: settings.loglevel });
  log.info(`Booting worker with pid: ${process.pid}`);
  const accessLog = settings.accesslog ? new AccessLog(settings.accesslog, settings.access_log_format) : null;
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
    const wd = (watchdog = new Watchdog(settings.timeout, settings.errorlog, settings.loglevel));
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
  });

  let worker: WorkerClass | null = null;
  const exit = async (code: number) => {
    await runHook(hooks, 'worker_exit', log, serverView, workerView);
    accessLog?.flush();
    await watchdog?.close();
    process.exit(code);
  };
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    send({ t: 'leaving' });
    gate.close();
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
    recycle: () => void stop(ExitStatus.OK),
    requestStarted() {
      if (++served === limit) {
        log.info('Autorestarting worker after current request.');
        void stop(ExitStatus.OK);
      }
    },
  };

  await runHook(hooks, 'post_fork', log, serverView, workerView);
  try {
    const cls = await loadWorkerClass(boot.workerClass, settings.chdir);
    worker = await cls.create(ctx);
  } catch (err) {
    failBoot(log, err);
  }
  await runHook(hooks, 'post_worker_init', log, workerView);
  gate.onSocket = (socket: Socket) => worker!.handleConnection(socket);
  gate.resume();
  // The master's socket only starts listening when a worker listens on it; say "booted" after that.
  await gate.opened();
  send({ t: 'booted' });
}

function failBoot(log: Logger, err: unknown): never {
  const code = err instanceof AppLoadError ? ExitStatus.APP_LOAD : ExitStatus.WORKER_BOOT;
  log.error(oneLine(err));
  const cause = err instanceof Error ? err.cause : undefined;
  if (cause) log.debug(shortStack(cause));
  process.exit(code);
}

void main();
