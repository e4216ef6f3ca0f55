// Finds (and when missing, installs) what the contenders need: wrk, Debian's gunicorn and
// python3-gevent, PM2 in bench/.tools, and a built tsgunicorn. Nothing here is fatal except a
// missing wrk or a missing tsgunicorn build: a contender that cannot be had is skipped with a note.
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { run } from './proc.mjs';

function which(cmd) {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    const p = path.join(dir || '.', cmd);
    try {
      if (statSync(p).isFile()) return p;
    } catch {
      /* not here */
    }
  }
  return null;
}

let aptUpdated = false;
function aptInstall(pkgs, log) {
  if (process.getuid?.() !== 0 || !which('apt-get')) return false;
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  log(`installing ${pkgs.join(' ')} with apt-get...`);
  let r = run('apt-get', ['install', '-y', '-qq', ...pkgs], { env });
  if (r.status !== 0 && !aptUpdated) {
    aptUpdated = true;
    run('apt-get', ['update', '-qq'], { env });
    r = run('apt-get', ['install', '-y', '-qq', ...pkgs], { env });
  }
  return r.status === 0;
}

export function ensureWrk(log) {
  let wrk = which('wrk');
  if (!wrk && aptInstall(['wrk'], log)) wrk = which('wrk');
  if (!wrk) throw new Error('wrk is required and could not be installed (apt-get install wrk)');
  const v = run(wrk, ['--version']);
  const first = (v.stdout + v.stderr).split('\n')[0].trim(); // "wrk debian/4.1.0-3+b2 [epoll] Copyright ..."
  return { path: wrk, version: first.split(' [')[0] || 'wrk' };
}

/**
 * Debian's gunicorn (run by its own /usr/bin/python3 shebang, whatever python3 is on PATH).
 * Returns { gunicorn, python, version, gevent: bool, notes: [] } or { error }.
 */
export function ensureGunicorn(log) {
  const find = () => (existsSync('/usr/bin/gunicorn') ? '/usr/bin/gunicorn' : which('gunicorn'));
  const python = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : which('python3');
  const hasGevent = () => python !== null && run(python, ['-c', 'import gevent']).status === 0;
  let gunicorn = find();
  if (!gunicorn || !hasGevent()) {
    aptInstall(['gunicorn', 'python3-gevent'], log);
    gunicorn = find();
  }
  if (!gunicorn) return { error: 'gunicorn is not installed and apt-get install gunicorn failed' };
  const v = run(gunicorn, ['--version']);
  const gevent = hasGevent();
  return {
    gunicorn,
    python,
    version: (v.stdout + v.stderr).trim().split('\n')[0],
    gevent,
    notes: gevent ? [] : ['python3-gevent is not available: Gunicorn gevent skipped'],
  };
}

/** PM2 installed with `npm --prefix bench/.tools` (never into the project's dependencies). */
export function ensurePm2(benchDir, log) {
  const prefix = path.join(benchDir, '.tools');
  const bin = path.join(prefix, 'node_modules', 'pm2', 'bin', 'pm2');
  if (!existsSync(bin)) {
    log('installing pm2 into bench/.tools ...');
    const npm = which('npm');
    if (!npm) return { error: 'npm not found: PM2 skipped' };
    const r = run(npm, ['install', '--prefix', prefix, '--no-audit', '--no-fund', '--loglevel=error', 'pm2@latest']);
    if (r.status !== 0 || !existsSync(bin)) return { error: `npm install pm2 failed: ${(r.stderr || r.stdout).trim().split('\n').pop()}` };
  }
  let version = null;
  try {
    version = JSON.parse(run(process.execPath, ['-e', `console.log(JSON.stringify(require(${JSON.stringify(path.join(prefix, 'node_modules', 'pm2', 'package.json'))}).version))`]).stdout);
  } catch {
    /* unknown */
  }
  return { bin, version };
}

function newestMtime(dir) {
  let newest = 0;
  for (const name of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, name.name);
    if (name.isDirectory()) newest = Math.max(newest, newestMtime(p));
    else if (name.name.endsWith('.ts')) newest = Math.max(newest, statSync(p).mtimeMs);
  }
  return newest;
}

/** The built CLI; a note when src/ has changed since the last build. */
export function checkTsgunicorn(root) {
  const cli = path.join(root, 'dist', 'src', 'cli.js');
  const bin = path.join(root, 'bin', 'tsgunicorn');
  if (!existsSync(cli)) return { error: 'tsgunicorn is not built (dist/src/cli.js missing): run `npm run build` first' };
  const notes = [];
  try {
    if (newestMtime(path.join(root, 'src')) > statSync(cli).mtimeMs + 1000) {
      notes.push('src/ is newer than dist/: the benchmark ran the last build (run `npm run build` to refresh)');
    }
  } catch {
    /* no src */
  }
  const v = run(process.execPath, [bin, '--version'], { cwd: root });
  return { bin, version: (v.stdout + v.stderr).trim().split('\n')[0], notes };
}

/** Whether the CLI accepts `-k gthread` (it is checked, not assumed, on every run). */
export function probeGthread(root, bin, appDir) {
  const r = run(process.execPath, [bin, '-k', 'gthread', '--threads', '2', '--chdir', appDir, '--check-config', 'app.mjs:app'], { cwd: root, timeout: 30000 });
  if (r.status === 0) return { ok: true };
  return { ok: false, reason: (r.stderr || r.stdout).trim().split('\n').pop() || `exit status ${r.status}` };
}

/** Iterations per ms of each runtime's CPU loop, measured in a fresh process. */
export function calibrateCpu(serversDir, python) {
  const node = Number(run(process.execPath, [path.join(serversDir, 'app.mjs'), '--calibrate']).stdout.trim());
  const py = python ? Number(run(python, ['-B', path.join(serversDir, 'wsgi_app.py'), '--calibrate']).stdout.trim()) : NaN;
  return { node: node > 0 ? node : null, python: py > 0 ? py : null };
}
