// Process control: every process the harness starts gets its own process group, is tracked
// here, and is killed (the whole group) on normal completion, on failure, and on Ctrl-C.
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, openSync, readdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

const tracked = new Map(); // pid -> { name, child, exited: Promise }
const exitHooks = []; // synchronous cleanups for the very end (pm2 kill)

export { sleep };

/**
 * Starts a command in a new process group; stdout and stderr go to logFile (or are dropped).
 * Returns { pid, child, exited, name } where exited resolves to { code, signal }.
 */
export function start(name, cmd, args, { env, cwd, logFile } = {}) {
  const fd = logFile ? openSync(logFile, 'a') : 'ignore';
  const child = spawn(cmd, args, { env: env ?? process.env, cwd, detached: true, stdio: ['ignore', fd, fd] });
  if (typeof fd === 'number') closeSync(fd);
  const exited = new Promise((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
    child.once('error', (err) => resolve({ code: null, signal: null, error: err }));
  });
  const entry = { name, child, exited, pid: child.pid };
  if (child.pid !== undefined) {
    tracked.set(child.pid, entry);
    exited.then(() => {
      // The leader is gone; its group may still hold stragglers, so keep it until stop() runs.
      entry.leaderExited = true;
    });
  }
  return entry;
}

function killGroup(pid, signal) {
  try {
    process.kill(-pid, signal);
  } catch {
    /* already gone */
  }
}

function groupAlive(pid) {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** SIGTERM to the leader, then SIGKILL to its whole group after graceMs (or at once if it left). */
export async function stop(entry, graceMs = 4000) {
  if (!entry || entry.pid === undefined) return;
  if (!entry.leaderExited) {
    try {
      process.kill(entry.pid, 'SIGTERM');
    } catch {
      /* gone */
    }
    await Promise.race([entry.exited, sleep(graceMs)]);
  }
  killGroup(entry.pid, 'SIGKILL');
  for (let i = 0; i < 50 && groupAlive(entry.pid); i++) await sleep(20);
  tracked.delete(entry.pid);
}

export async function stopAll() {
  await Promise.all([...tracked.values()].map((e) => stop(e, 2000)));
}

/** Last resort, synchronous: SIGKILL every tracked group and run the exit hooks. */
export function killAllSync() {
  for (const pid of tracked.keys()) killGroup(pid, 'SIGKILL');
  tracked.clear();
  while (exitHooks.length) {
    const hook = exitHooks.pop();
    try {
      hook();
    } catch {
      /* best effort */
    }
  }
}

/** Registers a synchronous cleanup that runs once, at exit (after the process groups are killed). */
export function onExit(hook) {
  exitHooks.push(hook);
}

let installed = false;
/** Cleans up on exit, on Ctrl-C / SIGTERM / SIGHUP, and on an uncaught error. */
export function installCleanup() {
  if (installed) return;
  installed = true;
  process.on('exit', killAllSync);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(sig, () => {
      process.stderr.write(`\nbench: ${sig}, stopping everything...\n`);
      killAllSync();
      process.exit(sig === 'SIGINT' ? 130 : 143);
    });
  }
  process.on('uncaughtException', (err) => {
    process.stderr.write(`bench: ${err?.stack ?? err}\n`);
    killAllSync();
    process.exit(1);
  });
  process.on('unhandledRejection', (err) => {
    process.stderr.write(`bench: ${err?.stack ?? err}\n`);
    killAllSync();
    process.exit(1);
  });
}

/** A port on 127.0.0.1 that was free a moment ago. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function getOnce(url, timeoutMs) {
  return new Promise((resolve) => {
    const req = http.get(url, { agent: false, timeout: timeoutMs }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
      res.on('error', () => resolve(0));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
  });
}

/**
 * Polls url until it answers 200. Gives up after timeoutMs, or as soon as `exited` (the
 * server's exit promise) settles. Returns true when it answered.
 */
export async function waitForHttp(url, { timeoutMs = 30000, exited } = {}) {
  let gone = false;
  exited?.then(() => {
    gone = true;
  });
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && !gone) {
    if ((await getOnce(url, 1000)) === 200) return true;
    await sleep(100);
  }
  return false;
}

/** PIDs whose parent is pid (scans /proc). */
export function childrenOf(pid) {
  const out = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // pid (comm) state ppid ...: comm may hold spaces and parentheses, so split after the last ')'.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(name));
    } catch {
      /* exited meanwhile */
    }
  }
  return out.sort((a, b) => a - b);
}

/** Waits until pid has at least n children; returns them (possibly fewer on timeout). */
export async function waitForChildren(pid, n, timeoutMs = 20000) {
  const deadline = Date.now() + timeoutMs;
  let kids = childrenOf(pid);
  while (kids.length < n && Date.now() < deadline) {
    await sleep(100);
    kids = childrenOf(pid);
  }
  return kids;
}

/** VmRSS of a process in KiB, or null when it is gone. */
export function rssKiB(pid) {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/** Runs a command to completion (synchronously); returns { status, stdout, stderr }. */
export function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 600_000, ...opts });
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '', error: r.error };
}

/** Runs a command asynchronously in its own tracked process group; resolves with its output. */
export function runTracked(name, cmd, args, { env, cwd, timeoutMs } = {}) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { env: env ?? process.env, cwd, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    const entry = { name, child, pid: child.pid, exited: null };
    if (child.pid !== undefined) tracked.set(child.pid, entry);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    let timer;
    if (timeoutMs) timer = setTimeout(() => killGroup(child.pid, 'SIGKILL'), timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      tracked.delete(child.pid);
      resolve({ status: null, stdout, stderr, error });
    });
    child.once('close', (status, signal) => {
      clearTimeout(timer);
      killGroup(child.pid, 'SIGKILL');
      tracked.delete(child.pid);
      resolve({ status, signal, stdout, stderr });
    });
  });
}
