#!/usr/bin/env node
// What logs, metrics and control cost on the hot path: `node bench/observability.mjs [--duration S] [--rounds N] [--class async]`.
// Hello world, keep-alive (wrk -t2 -c50), -w 2, each setup measured against an "off" server of
// its own (only those two running), in symmetric rounds. Two figures per setup:
//  - req/s, as wrk measures it, as a ratio to the "off" server in the same round;
//  - CPU time the server (master + workers, from /proc/PID/stat) spent per request answered, off
//    divided by on: the capacity left with the feature on, for a server bound by its CPU.
// On a machine shared with other work, single runs swing widely (we saw 5k-25k req/s for one
// setup in one run): trust the medians of many short rounds, and the off2 row for the error.
// Run `npm run build` first. Writes nothing; prints a markdown table.
import dgram from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { childrenOf, freePort, installCleanup, start, stop, waitForChildren, waitForHttp } from './lib/proc.mjs';
import { median } from './lib/stats.mjs';
import { runWrk } from './lib/wrk.mjs';

const BENCH = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.dirname(BENCH);
const BIN = path.join(ROOT, 'bin', 'tsgunicorn');

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '3' },
    class: { type: 'string', default: 'async' },
    only: { type: 'string' },
  },
});
const durationS = Number(values.duration);
const rounds = Number(values.rounds);

installCleanup();
const tmp = mkdtempSync(path.join(os.tmpdir(), 'tsg-obs-'));
// A StatsD that reads and drops, so the datagrams cost what they cost with a real one.
const statsd = dgram.createSocket('udp4');
await new Promise((r) => statsd.bind(0, '127.0.0.1', r));
let datagrams = 0;
statsd.on('message', () => datagrams++);

const SETUPS = [
  { id: 'off', label: 'nothing (--no-control-socket)', flags: ['--no-control-socket'] },
  { id: 'off2', label: 'nothing, a second identical server (the method\'s own error)', flags: ['--no-control-socket'] },
  { id: 'control', label: 'control socket (the default)', flags: [] },
  { id: 'metrics', label: '--metrics-bind (Prometheus)', flags: () => ['--metrics-bind', `127.0.0.1:${metricsPort}`] },
  { id: 'statsd', label: '--statsd-host (UDP)', flags: () => ['--statsd-host', `127.0.0.1:${statsd.address().port}`] },
  { id: 'all', label: 'metrics + StatsD + control', flags: () => ['--metrics-bind', `127.0.0.1:${metricsPort2}`, '--statsd-host', `127.0.0.1:${statsd.address().port}`] },
  { id: 'access-json', label: '--access-log-json to a file', flags: ['--no-control-socket', '--access-log-json', '--access-logfile', path.join(tmp, 'access.json')] },
  { id: 'access', label: '--access-logfile to a file', flags: ['--no-control-socket', '--access-logfile', path.join(tmp, 'access.log')] },
].filter((s) => !values.only || values.only.split(',').includes(s.id));
const metricsPort = await freePort();
const metricsPort2 = await freePort();

/** utime + stime of a process and its children (workers), in clock ticks. */
function cpuTicks(pid) {
  let n = 0;
  for (const p of [pid, ...childrenOf(pid)]) {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      n += Number(f[11]) + Number(f[12]);
    } catch {
      /* gone */
    }
  }
  return n;
}
const TICK_US = 1e6 / 100; // USER_HZ is 100 on Linux

const running = new Set();

async function launch(s) {
  const port = await freePort();
  const flags = typeof s.flags === 'function' ? s.flags() : s.flags;
  const args = [BIN, '-w', '2', '-k', values.class, '-b', `127.0.0.1:${port}`, '--chdir', path.join(BENCH, 'servers'), '--log-level', 'warning', ...flags, 'app.mjs:app'];
  const entry = start(s.id, process.execPath, args, { cwd: ROOT, logFile: path.join(tmp, `${s.id}.log`) });
  running.add(entry);
  const url = `http://127.0.0.1:${port}/`;
  if (!(await waitForHttp(url, { exited: entry.exited })) || !(await waitForChildren(entry.pid, 2))) throw new Error(`${s.id} did not start; see ${tmp}/${s.id}.log`);
  return { entry, url };
}

async function measure(srv) {
  const c0 = cpuTicks(srv.entry.pid);
  const res = await runWrk({ url: srv.url, durationS });
  const c1 = cpuTicks(srv.entry.pid);
  return { rps: res.rps, cpu: ((c1 - c0) * TICK_US) / res.requests };
}

const OFF = SETUPS.find((s) => s.id === 'off');
const rows = [];
try {
  // Each setup against a fresh "off" server of its own, only those two running, symmetric rounds
  // (off X X off, then X off off X, ...): each gets the same warm-up, the same share of first and
  // second places, and slow drifts of the machine's load hit both alike. Figure: the median of the
  // rounds' ratios. The "off2" setup (off against off) shows the method's own error.
  for (const s of SETUPS) {
    if (s === OFF) continue;
    const a = await launch(OFF);
    const b = await launch(s);
    await runWrk({ url: a.url, durationS: 1 });
    await runWrk({ url: b.url, durationS: 1 });
    const ratios = [];
    const cpuRatios = [];
    const cpus = [];
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 === 0 ? [a, b, b, a] : [b, a, a, b];
      const got = { a: [], b: [] };
      for (const srv of order) got[srv === a ? 'a' : 'b'].push(await measure(srv));
      const sum = (xs, k) => xs.reduce((n, x) => n + x[k], 0);
      ratios.push(sum(got.b, 'rps') / sum(got.a, 'rps'));
      cpuRatios.push(sum(got.a, 'cpu') / sum(got.b, 'cpu'));
      cpus.push(sum(got.b, 'cpu') / 2);
    }
    for (const srv of [a, b]) {
      await stop(srv.entry);
      running.delete(srv.entry);
    }
    rows.push({ s, ratio: median(ratios), cpuRatio: median(cpuRatios), cpu: median(cpus), ratios });
    process.stderr.write(`bench: ${s.id} done\n`);
  }
  console.log(`\n${values.class} -w 2, wrk -t2 -c50 keep-alive, ${rounds} rounds of 4 × ${durationS} s per setup; load average ${os.loadavg()[0].toFixed(2)}\n`);
  console.log('| setup | req/s × off (median of rounds) | CPU per request, off ÷ setup (median) | CPU µs per request | req/s ratio of each round |');
  console.log('|---|---|---|---|---|');
  for (const r of rows) {
    console.log(`| ${r.s.label} | ${r.ratio.toFixed(3)} | ${r.cpuRatio.toFixed(3)} | ${r.cpu.toFixed(1)} | ${r.ratios.map((x) => x.toFixed(2)).join(', ')} |`);
  }
  console.log(`\nStatsD datagrams received: ${datagrams}`);
} finally {
  for (const e of running) await stop(e);
  statsd.close();
  rmSync(tmp, { recursive: true, force: true });
}
