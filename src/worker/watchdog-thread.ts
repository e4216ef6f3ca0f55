/** The watchdog thread: see watchdog.ts. */
import inspector from 'node:inspector';
import { parentPort, workerData } from 'node:worker_threads';
import { createLogger, type LogLevel } from '../log/logger.js';
import { formatFrames, type CallFrame } from './stack.js';
import type { WatchdogData } from './watchdog.js';

const data = workerData as WatchdogData;
const log = createLogger({ errorlog: data.errorlog, loglevel: data.loglevel as LogLevel, json: data.json });
const session = new inspector.Session();
session.connectToMainThread();

/**
 * The master that forked this worker. A worker whose master dies exits on its own (node:cluster
 * exits it when the IPC channel closes) unless its event loop is stuck: then nothing would ever
 * kill it, and it would spin unsupervised forever. This thread does, once the loop has missed
 * more than two heartbeats (they come at most 1 s apart).
 */
const MASTER_PID = process.ppid;
const ORPHAN_GRACE_MS = 2500;
let reportedFor = 0;
let busy = false;

function post<T>(method: string, params?: object): Promise<T> {
  return new Promise((resolve, reject) => session.post(method, params, (err, res) => (err ? reject(err) : resolve(res as T))));
}

/** Pauses the main thread, returns its stack as "at fn (file:line:col)" lines, and resumes it. */
async function stackOfMainThread(): Promise<string[]> {
  const urls = new Map<string, string>();
  const onScript = (m: { params: { scriptId: string; url: string } }) => urls.set(m.params.scriptId, m.params.url);
  session.on('Debugger.scriptParsed', onScript);
  const paused = new Promise<CallFrame[]>((resolve) => session.once('Debugger.paused', (m) => resolve(m.params.callFrames as CallFrame[])));
  try {
    await post('Debugger.enable');
    await post('Debugger.pause');
    return formatFrames(await paused, urls);
  } finally {
    session.off('Debugger.scriptParsed', onScript);
    await post('Debugger.resume').catch(() => {});
    await post('Debugger.disable').catch(() => {});
  }
}

parentPort?.on('message', (msg) => {
  if (msg !== 'close') return;
  session.disconnect();
  process.exit(0);
});

setInterval(() => {
  const last = data.beat[0]!;
  const silent = Date.now() - last;
  if (silent > ORPHAN_GRACE_MS && process.ppid !== MASTER_PID) {
    log.critical(`Worker (pid:${process.pid}) is stuck and its master (pid:${MASTER_PID}) is gone; exiting`);
    process.kill(process.pid, 'SIGKILL');
  }
  if (busy || silent <= data.timeoutMs || reportedFor === last) return;
  reportedFor = last;
  busy = true;
  stackOfMainThread().then(
    (frames) => {
      log.critical(`Worker (pid:${process.pid}) has been stuck for ${(silent / 1000).toFixed(1)}s, here:\n${frames.join('\n')}`);
    },
    (err: unknown) => log.error(`Worker (pid:${process.pid}) is stuck; its stack could not be read: ${String(err)}`),
  ).finally(() => (busy = false));
}, 100);
