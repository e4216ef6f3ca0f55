#!/usr/bin/env node
// Where a worker's CPU goes, by V8's sampling profiler: the share of the worker's busy time spent in
// (or below) our metrics code, under wrk load. A share of busy time is barely moved by other load
// on the machine, unlike req/s, so this is the figure to trust on a shared machine.
//
//   node bench/profile-share.mjs [--duration S] [--class async] [-- EXTRA TSGUNICORN FLAGS]
//   e.g. node bench/profile-share.mjs -- --metrics-bind 127.0.0.1:9109 --statsd-host 127.0.0.1:9125
//
// Runs `node --cpu-prof bin/tsgunicorn -w 1 ...` (workers inherit --cpu-prof), wrk -t2 -c50 keep-alive
// on hello world, stops the server, and reads the worker's profile. `npm run build` first.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { freePort, installCleanup, start, stop, waitForChildren, waitForHttp } from './lib/proc.mjs';
import { runWrk } from './lib/wrk.mjs';

const BENCH = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.dirname(BENCH);
const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { duration: { type: 'string', default: '5' }, class: { type: 'string', default: 'async' } },
});

const GROUPS = [
  ['metrics and control (src/metrics, src/control)', /\/dist\/src\/(metrics|control)\//],
  ['of which StatsD', /\/dist\/src\/metrics\/statsd\.js/],
  ['access log (src/log/access*)', /\/dist\/src\/log\/access/],
];

/** Busy time (idle excluded) and, per group, the time of samples with a frame of the group on their stack. */
export function shares(profile) {
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const dt = new Map();
  profile.samples.forEach((id, i) => dt.set(id, (dt.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  let busy = 0;
  const hit = GROUPS.map(() => 0);
  for (const n of profile.nodes) {
    const t = dt.get(n.id) ?? 0;
    if (!t || n.callFrame.functionName === '(idle)') continue;
    busy += t;
    GROUPS.forEach(([, re], g) => {
      for (let cur = n.id; cur !== undefined; cur = parent.get(cur)) {
        if (re.test(byId.get(cur).callFrame.url)) {
          hit[g] += t;
          break;
        }
      }
    });
  }
  return { busy, hit };
}

installCleanup();
const dir = mkdtempSync(path.join(os.tmpdir(), 'tsg-prof-'));
try {
  const port = await freePort();
  const args = ['--cpu-prof', `--cpu-prof-dir=${dir}`, path.join(ROOT, 'bin', 'tsgunicorn'), '-w', '1', '-k', values.class, '-b', `127.0.0.1:${port}`];
  args.push('--chdir', path.join(BENCH, 'servers'), '--log-level', 'warning', ...positionals, 'app.mjs:app');
  const entry = start('profiled', process.execPath, args, { cwd: ROOT });
  const url = `http://127.0.0.1:${port}/`;
  if (!(await waitForHttp(url, { exited: entry.exited })) || !(await waitForChildren(entry.pid, 1))) throw new Error('the server did not start');
  const [worker] = (await waitForChildren(entry.pid, 1)).filter(Boolean);
  const res = await runWrk({ url, durationS: Number(values.duration) });
  await stop(entry, 10_000);
  // Profiles are named CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile; thread 0 is the main thread.
  const file = readdirSync(dir).find((f) => f.includes(`.${worker}.0.`));
  if (!file) throw new Error(`no profile for worker ${worker} in ${dir}`);
  const { busy, hit } = shares(JSON.parse(readFileSync(path.join(dir, file), 'utf8')));
  console.log(`\n${values.class} -w 1 ${positionals.join(' ')}: ${Math.round(res.rps)} req/s; worker busy ${(busy / 1000).toFixed(0)} ms`);
  GROUPS.forEach(([label], g) => console.log(`  ${label}: ${((100 * hit[g]) / busy).toFixed(1)} % of the worker's busy time`));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
