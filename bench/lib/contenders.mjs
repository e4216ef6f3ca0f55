// How each contender is started, found ready, measured for memory, and stopped.
// A contender is a plain object: { id, base, label, family, workers, threads, extra? }.
// `base` names the server kind; `id` is unique within a scenario (e.g. tsg-gthread-t2).
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { childrenOf, freePort, rssKiB, run, sleep, start, stop, waitForChildren, waitForHttp } from './proc.mjs';

export const BASES = {
  'tsg-async': { family: 'tsgunicorn', name: 'tsgunicorn async' },
  'tsg-sync': { family: 'tsgunicorn', name: 'tsgunicorn sync' },
  'tsg-gthread': { family: 'tsgunicorn', name: 'tsgunicorn gthread' },
  'bare-rr': { family: 'node', name: 'node:cluster round-robin' },
  'bare-none': { family: 'node', name: 'node:cluster SCHED_NONE' },
  pm2: { family: 'pm2', name: 'PM2 cluster' },
  'gunicorn-sync': { family: 'gunicorn', name: 'Gunicorn sync' },
  'gunicorn-gthread': { family: 'gunicorn', name: 'Gunicorn gthread' },
  'gunicorn-gevent': { family: 'gunicorn', name: 'Gunicorn gevent' },
};

/** A contender entry: c('tsg-gthread', { workers: 1, threads: 2 }) -> id tsg-gthread-w1-t2 etc. */
export function c(base, { workers = 2, threads, id, label } = {}) {
  const b = BASES[base];
  if (!b) throw new Error(`unknown contender ${base}`);
  const flags = [`-w ${workers}`];
  if (threads !== undefined) flags.push(`--threads ${threads}`);
  if (base === 'pm2') flags.splice(0, 1, `-i ${workers}`);
  return {
    id: id ?? base + (threads !== undefined ? `-t${threads}` : ''),
    base,
    family: b.family,
    workers,
    threads,
    label: label ?? `${b.name} ${flags.join(' ')}`,
  };
}

/**
 * Which contenders can run here. ctx.tools holds what tools.mjs found. Returns a reason string
 * when the contender must be skipped, or null.
 */
export function unavailable(entry, tools) {
  switch (entry.family) {
    case 'tsgunicorn':
      if (entry.base === 'tsg-gthread' && !tools.gthread?.ok) return `\`-k gthread\` refused by the CLI (${tools.gthread?.reason ?? 'not probed'})`;
      return null;
    case 'pm2':
      return tools.pm2?.error ?? null;
    case 'gunicorn':
      if (tools.gunicorn?.error) return tools.gunicorn.error;
      if (entry.base === 'gunicorn-gevent' && !tools.gunicorn?.gevent) return 'python3-gevent not available';
      return null;
    default:
      return null;
  }
}

function commandFor(entry, port, ctx) {
  const bind = `127.0.0.1:${port}`;
  const w = String(entry.workers);
  switch (entry.base) {
    case 'tsg-async':
    case 'tsg-sync':
    case 'tsg-gthread': {
      const k = entry.base.slice(4);
      const args = [ctx.tools.tsg.bin, '-w', w, '-k', k, '-b', bind, '--chdir', ctx.serversDir, '--log-level', 'warning'];
      if (entry.threads !== undefined) args.push('--threads', String(entry.threads));
      args.push('app.mjs:app');
      return { cmd: process.execPath, args, cwd: ctx.root, show: `tsgunicorn ${args.slice(1).join(' ').replace(ctx.serversDir, 'bench/servers')}` };
    }
    case 'bare-rr':
    case 'bare-none': {
      const script = path.join(ctx.serversDir, 'node-cluster.mjs');
      const sched = entry.base === 'bare-rr' ? 'rr' : 'none';
      return {
        cmd: process.execPath,
        args: [script],
        env: { PORT: String(port), WORKERS: w, SCHED: sched },
        cwd: ctx.serversDir,
        show: `PORT=${port} WORKERS=${w} SCHED=${sched} node bench/servers/node-cluster.mjs`,
      };
    }
    case 'gunicorn-sync':
    case 'gunicorn-gthread':
    case 'gunicorn-gevent': {
      const k = entry.base.slice('gunicorn-'.length);
      const args = ['-w', w, '-k', k, '-b', bind, '--chdir', ctx.serversDir, '--log-level', 'warning'];
      if (entry.threads !== undefined) args.push('--threads', String(entry.threads));
      args.push('wsgi_app:app');
      return { cmd: ctx.tools.gunicorn.gunicorn, args, cwd: ctx.serversDir, env: { PYTHONDONTWRITEBYTECODE: '1' }, show: `gunicorn ${args.join(' ').replace(ctx.serversDir, 'bench/servers')}` };
    }
    default:
      throw new Error(`no command for ${entry.base}`);
  }
}

/**
 * Starts a contender and waits until it answers and all its workers exist.
 * Returns a handle { entry, url, port, show, pids(), stop() } or throws with a one-line reason.
 */
export async function launch(entry, ctx) {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}/`;
  const logFile = path.join(ctx.logDir, `${ctx.scenario}-${entry.id}.log`);
  if (entry.family === 'pm2') return launchPm2(entry, ctx, port, url, logFile);

  const spec = commandFor(entry, port, ctx);
  const env = { ...process.env, ...ctx.env, ...(spec.env ?? {}) };
  const proc = start(entry.id, spec.cmd, spec.args, { env, cwd: spec.cwd, logFile });
  const ready = await waitForHttp(url, { timeoutMs: 30000, exited: proc.exited });
  const kids = ready ? await waitForChildren(proc.pid, entry.workers, 15000) : [];
  if (!ready || kids.length < entry.workers) {
    const why = ready ? `only ${kids.length} of ${entry.workers} workers came up` : proc.leaderExited ? 'exited before answering' : 'did not answer within 30 s';
    await stop(proc);
    throw new Error(`${why}: ${tail(logFile)}`);
  }
  await sleep(200);
  return {
    entry,
    url,
    port,
    show: spec.show,
    logFile,
    pids: () => ({ master: proc.pid, workers: childrenOf(proc.pid) }),
    stop: () => stop(proc),
  };
}

function tail(file) {
  try {
    const lines = readFileSync(file, 'utf8').trim().split('\n').filter(Boolean);
    return lines.slice(-2).join(' | ').slice(0, 300) || '(no output)';
  } catch {
    return '(no log)';
  }
}

// ---- PM2 -------------------------------------------------------------------------------------

function pm2(ctx, args, timeout = 60000) {
  return run(process.execPath, [ctx.tools.pm2.bin, ...args], { env: { ...process.env, PM2_HOME: ctx.pm2Home }, timeout });
}

function pm2DaemonPid(ctx) {
  try {
    return Number(readFileSync(path.join(ctx.pm2Home, 'pm2.pid'), 'utf8').trim()) || null;
  } catch {
    return null;
  }
}

function pm2Pids(ctx, name) {
  const r = pm2(ctx, ['jlist']);
  try {
    const list = JSON.parse(r.stdout.slice(r.stdout.indexOf('[')));
    return list.filter((p) => p.name === name && p.pid).map((p) => p.pid);
  } catch {
    return [];
  }
}

async function launchPm2(entry, ctx, port, url, logFile) {
  const name = `bench-${ctx.scenario}-${entry.id}`;
  const eco = path.join(ctx.pm2Home, `${name}.config.json`);
  const script = path.join(ctx.serversDir, 'pm2-app.cjs');
  writeFileSync(
    eco,
    JSON.stringify({
      apps: [
        {
          name,
          script,
          cwd: ctx.serversDir,
          instances: entry.workers,
          exec_mode: 'cluster',
          autorestart: false,
          out_file: logFile,
          error_file: logFile,
          env: { ...ctx.env, PORT: String(port), HOST: '127.0.0.1' },
        },
      ],
    }),
  );
  ctx.pm2Used();
  const r = pm2(ctx, ['start', eco]);
  if (r.status !== 0) throw new Error(`pm2 start failed: ${(r.stderr || r.stdout).trim().split('\n').pop()}`);
  const ready = await waitForHttp(url, { timeoutMs: 30000 });
  let pids = pm2Pids(ctx, name);
  for (let i = 0; i < 50 && pids.length < entry.workers; i++) {
    await sleep(200);
    pids = pm2Pids(ctx, name);
  }
  const stopIt = async () => {
    pm2(ctx, ['delete', name]);
  };
  if (!ready || pids.length < entry.workers) {
    await stopIt();
    throw new Error(`PM2 app ${ready ? 'did not start all instances' : 'did not answer within 30 s'}: ${tail(logFile)}`);
  }
  await sleep(200);
  return {
    entry,
    url,
    port,
    show: `PORT=${port} PM2_HOME=<tmp> pm2 start bench/servers/pm2-app.cjs -i ${entry.workers}  (cluster mode, via an ecosystem file)`,
    logFile,
    pids: () => ({ master: pm2DaemonPid(ctx), workers: pm2Pids(ctx, name), masterNote: 'PM2 daemon (God)' }),
    stop: stopIt,
  };
}

/** `pm2 kill` for this run's private PM2_HOME; also kills the daemon by pid if that fails. */
export function pm2KillSync(ctx) {
  if (!ctx.tools.pm2?.bin || !existsSync(ctx.pm2Home)) return;
  const pid = pm2DaemonPid(ctx);
  const kids = pid ? childrenOf(pid) : [];
  pm2(ctx, ['kill'], 20000);
  for (const p of [pid, ...kids]) {
    if (!p) continue;
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      /* gone, as it should be */
    }
  }
}

/** Memory of a running contender: master and worker VmRSS in KiB. */
export function memoryOf(handle) {
  const { master, workers, masterNote } = handle.pids();
  const masterKiB = master ? rssKiB(master) : null;
  const workerKiB = workers.map(rssKiB).filter((v) => v !== null);
  return {
    masterKiB,
    masterNote,
    workersKiB: workerKiB,
    workerMeanKiB: workerKiB.length ? workerKiB.reduce((a, b) => a + b, 0) / workerKiB.length : null,
    totalKiB: (masterKiB ?? 0) + workerKiB.reduce((a, b) => a + b, 0),
  };
}
