#!/usr/bin/env node
// tsgunicorn's benchmark: `npm run bench` (or `node bench/run.mjs --help`).
// Starts every contender of a scenario, warms each up, then runs wrk rounds alternating between
// them (A B C A B C ...), takes medians, judges the targets, and writes bench/results/latest.*.
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { BASES, launch, memoryOf, pm2KillSync, unavailable } from './lib/contenders.mjs';
import { reportMarkdown } from './lib/markdown.mjs';
import { installCleanup, onExit, run, sleep, stopAll } from './lib/proc.mjs';
import { SCENARIOS, TARGETS } from './lib/scenarios.mjs';
import { median } from './lib/stats.mjs';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
import { renderSvg } from './lib/svg.mjs';
import { calibrateCpu, checkTsgunicorn, ensureGunicorn, ensurePm2, ensureWrk, probeGthread } from './lib/tools.mjs';
import { MIXED_LUA, errorCount, runWrk } from './lib/wrk.mjs';

const BENCH = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.dirname(BENCH);
const SERVERS = path.join(BENCH, 'servers');
const RESULTS = path.join(BENCH, 'results');

const HELP = `Usage: npm run bench -- [options]      (or: node bench/run.mjs [options])

  --duration S     seconds of load per contender per round (default 5; memory rounds use at most 2)
  --rounds N       rounds; contenders alternate inside each round (default 3)
  --warmup S       seconds of unmeasured load per contender before round 1 (default 1; 0 = none)
  --only A,B,...   a subset: scenario ids and/or contender ids, bases or families
                   scenarios: ${SCENARIOS.map((s) => s.id).join(', ')}
                   contenders: ${Object.keys(BASES).join(', ')} (or e.g. tsg-gthread-t2)
                   families: tsgunicorn, node, pm2, gunicorn
  --quick          smoke run: --duration 1 --rounds 2 --warmup 0 (explicit options still win)
  --help           this text

Writes bench/results/latest.md, latest.svg and latest.json, and prints the markdown.`;

function options() {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string' },
      rounds: { type: 'string' },
      warmup: { type: 'string' },
      only: { type: 'string' },
      quick: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(HELP);
    process.exit(0);
  }
  const num = (v, name, min) => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isFinite(n) || n < min) {
      console.error(`bench: --${name} must be a number ≥ ${min}, got ${JSON.stringify(v)}`);
      process.exit(2);
    }
    return n;
  };
  const q = values.quick;
  return {
    durationS: Math.round(num(values.duration, 'duration', 1) ?? (q ? 1 : 5)),
    rounds: Math.round(num(values.rounds, 'rounds', 1) ?? (q ? 2 : 3)),
    warmupS: Math.round(num(values.warmup, 'warmup', 0) ?? (q ? 0 : 1)),
    only: values.only ? values.only.split(',').map((s) => s.trim()).filter(Boolean) : [],
    quick: q,
  };
}

const log = (msg) => process.stderr.write(`bench: ${msg}\n`);

/** Splits --only into scenario names and contender matchers; rejects unknown names. */
function selection(only) {
  const scenarioIds = new Set(SCENARIOS.map((s) => s.id));
  const contenderNames = new Set([...Object.keys(BASES), 'tsgunicorn', 'node', 'pm2', 'gunicorn']);
  for (const s of SCENARIOS) for (const e of s.contenders()) contenderNames.add(e.id);
  const scen = only.filter((n) => scenarioIds.has(n));
  const cont = only.filter((n) => !scenarioIds.has(n));
  const unknown = cont.filter((n) => !contenderNames.has(n));
  if (unknown.length) {
    console.error(`bench: --only: unknown name(s) ${unknown.join(', ')}\n\n${HELP}`);
    process.exit(2);
  }
  return {
    scenarios: SCENARIOS.filter((s) => scen.length === 0 || scen.includes(s.id)),
    wants: (e) => cont.length === 0 || cont.some((n) => n === e.id || n === e.base || n === e.family),
  };
}

function meta(opts, tools) {
  const git = run('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT });
  const dirty = run('git', ['status', '--porcelain', '--', 'src', 'bin'], { cwd: ROOT }).stdout.trim() !== '';
  let cpu = os.cpus()[0]?.model?.trim() ?? 'unknown CPU';
  return {
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    host: os.hostname(),
    cpu,
    cores: os.cpus().length,
    node: process.version,
    wrk: tools.wrk.version,
    gunicorn: tools.gunicorn?.version ?? null,
    pm2: tools.pm2?.version ?? null,
    tsgunicorn: tools.tsg.version,
    commit: git.status === 0 ? git.stdout.trim() + (dirty ? '+uncommitted' : '') : 'unknown',
    calibration: tools.calibration,
    loadStart: os.loadavg()[0],
    argv: process.argv.slice(2).join(' '),
    options: { durationS: opts.durationS, rounds: opts.rounds, warmupS: opts.warmupS, only: opts.only },
  };
}

/** wrk options for one contender in one scenario. */
function wrkOptions(sc, entry, url, durationS) {
  const w = { ...sc.wrk, ...(entry.wrk ?? {}) };
  const o = {
    url: new URL(w.path ?? '/', url).href,
    threads: 2,
    connections: w.connections ?? 50,
    durationS,
    headers: w.headers ?? [],
    timeoutS: w.timeoutS,
  };
  if (w.mixed) {
    o.url = new URL('/', url).href;
    o.script = MIXED_LUA;
    o.scriptArgs = [w.mixed.fraction, w.mixed.slowPath];
  }
  return o;
}

function roundFigures(sc, res) {
  const base = { rps: res.rps, p50: res.latencyMs.p50, p99: res.latencyMs.p99, errors: errorCount(res) };
  if (sc.kind === 'mixed') {
    const h = res.kinds?.hello ?? {};
    const s = res.kinds?.slow ?? {};
    const n = (h.n ?? 0) + (s.n ?? 0);
    Object.assign(base, {
      helloP99: h.p99 ?? null,
      helloP50: h.p50 ?? null,
      slowP99: s.p99 ?? null,
      slowShare: n ? (s.n ?? 0) / n : null,
      unmatched: res.unmatched ?? 0,
    });
    base.errors += res.badStatus ?? 0;
  }
  return base;
}

async function runScenario(sc, wants, opts, ctx, report) {
  const durationS = sc.kind === 'memory' ? Math.min(opts.durationS, 2) : opts.durationS;
  const out = {
    id: sc.id,
    title: sc.title,
    describe: sc.describe,
    kind: sc.kind,
    reference: sc.reference,
    expected: sc.expected,
    pairs: sc.pairs,
    roundsNote: `${opts.rounds} round(s) × ${durationS} s${opts.warmupS ? `, after ${opts.warmupS} s warm-up` : ''}.`,
    order: [],
    contenders: {},
  };
  const entries = sc.contenders().filter(wants);
  if (entries.length === 0) return null;
  log(`── ${sc.id}: ${sc.title} (${entries.length} contenders)`);
  const handles = [];
  ctx.scenario = sc.id;
  try {
    for (const e of entries) {
      const cn = { id: e.id, base: e.base, family: e.family, label: e.label, wrk: { ...sc.wrk, ...(e.wrk ?? {}) }, rounds: [] };
      out.order.push(e.id);
      out.contenders[e.id] = cn;
      const reason = unavailable(e, ctx.tools);
      if (reason) {
        cn.skipped = reason;
        log(`   skip ${e.id}: ${reason}`);
        continue;
      }
      try {
        const h = await launch(e, ctx);
        cn.command = h.show;
        report.commands.add(h.show.replaceAll(String(h.port), 'PORT'));
        handles.push(h);
        log(`   up   ${e.id} on :${h.port}`);
      } catch (err) {
        cn.skipped = `failed to start: ${err.message}`;
        ctx.failures++;
        log(`   FAIL ${e.id}: ${err.message}`);
      }
    }
    if (opts.warmupS > 0) {
      for (const h of handles) {
        try {
          await runWrk(wrkOptions(sc, h.entry, h.url, opts.warmupS));
        } catch (err) {
          log(`   warm-up ${h.entry.id}: ${err.message}`);
        }
      }
    }
    for (let r = 1; r <= opts.rounds; r++) {
      for (const h of handles) {
        const cn = out.contenders[h.entry.id];
        try {
          const res = await runWrk(wrkOptions(sc, h.entry, h.url, durationS));
          const fig = roundFigures(sc, res);
          // Recorded relative to the repository, so results name no path of this machine.
          fig.wrkArgs = res.args.map((x) => (path.isAbsolute(x) ? path.relative(REPO, x) : x)).join(' ');
          if (sc.kind === 'memory') {
            await sleep(500);
            Object.assign(fig, memoryOf(h));
            fig.workers = fig.workersKiB.length;
          }
          cn.rounds.push(fig);
          const shown =
            sc.kind === 'mixed'
              ? `hello p99 ${fig.helloP99} ms, ${fig.rps.toFixed(0)} req/s`
              : sc.kind === 'memory'
                ? `${(fig.totalKiB / 1024).toFixed(1)} MiB total`
                : `${fig.rps.toFixed(fig.rps < 100 ? 1 : 0)} req/s, p99 ${fig.p99} ms`;
          log(`   round ${r}/${opts.rounds} ${h.entry.id}: ${shown}${fig.errors ? ` (${fig.errors} errors)` : ''}`);
        } catch (err) {
          cn.rounds.push({ error: err.message });
          log(`   round ${r}/${opts.rounds} ${h.entry.id}: ${err.message}`);
        }
      }
    }
  } finally {
    await Promise.all(handles.map((h) => h.stop().catch(() => {})));
  }
  for (const id of out.order) {
    const cn = out.contenders[id];
    if (cn.skipped) continue;
    const ok = cn.rounds.filter((r) => !r.error);
    if (ok.length === 0) {
      cn.skipped = `no round completed: ${cn.rounds[0]?.error ?? 'unknown error'}`;
      continue;
    }
    cn.errorsTotal = ok.reduce((a, r) => a + (r.errors ?? 0), 0);
    const fields = ['rps', 'p50', 'p99', 'helloP99', 'helloP50', 'slowP99', 'slowShare', 'masterKiB', 'workerMeanKiB', 'totalKiB', 'workers'];
    cn.median = {};
    for (const f of fields) if (ok.some((r) => typeof r[f] === 'number')) cn.median[f] = median(ok.map((r) => r[f]));
    if (ok[0].masterNote) cn.median.masterNote = ok[0].masterNote;
    if (ok.length < cn.rounds.length) cn.note = `${cn.rounds.length - ok.length} round(s) failed`;
  }
  if (sc.threadCost) {
    out.threadCostResults = sc.threadCost.map(([hi, lo, extra]) => {
      const H = out.contenders[hi]?.median?.workerMeanKiB ?? null;
      const L = out.contenders[lo]?.median?.workerMeanKiB ?? null;
      const label = BASES[out.contenders[hi]?.base ?? '']?.name ?? hi;
      return { label, hi, lo, extra, hiThreads: extra + 1, hiKiB: H, loKiB: L, perThreadKiB: H !== null && L !== null ? (H - L) / extra : null };
    });
  }
  return out;
}

function writeAtomic(file, text) {
  writeFileSync(`${file}.tmp`, text);
  renameSync(`${file}.tmp`, file);
}

async function main() {
  const opts = options();
  installCleanup();
  const { scenarios, wants } = selection(opts.only);
  const needed = new Set(scenarios.flatMap((s) => s.contenders().filter(wants).map((e) => e.family)));
  const notes = [];

  // Tools.
  const tools = { wrk: ensureWrk(log) };
  tools.tsg = checkTsgunicorn(ROOT);
  if (tools.tsg.error) throw new Error(tools.tsg.error);
  notes.push(...tools.tsg.notes);
  tools.gthread = probeGthread(ROOT, tools.tsg.bin, SERVERS);
  if (!tools.gthread.ok) notes.push(`tsgunicorn gthread skipped: \`-k gthread\` refused by the CLI (${tools.gthread.reason}); it is picked up automatically once the CLI accepts it.`);
  if (needed.has('gunicorn')) {
    tools.gunicorn = ensureGunicorn(log);
    if (tools.gunicorn.error) notes.push(`Gunicorn skipped: ${tools.gunicorn.error}`);
    else notes.push(...tools.gunicorn.notes);
  }
  if (needed.has('pm2')) {
    tools.pm2 = ensurePm2(BENCH, log);
    if (tools.pm2.error) notes.push(`PM2 skipped: ${tools.pm2.error}`);
  }
  tools.calibration = calibrateCpu(SERVERS, tools.gunicorn?.python);
  log(`CPU loop: ${tools.calibration.node} iterations/ms (node), ${tools.calibration.python ?? '–'} (python)`);

  const tmp = mkdtempSync(path.join(os.tmpdir(), 'tsgunicorn-bench-'));
  const logDir = path.join(tmp, 'logs');
  mkdirSync(logDir);
  const ctx = {
    root: ROOT,
    serversDir: SERVERS,
    tools,
    logDir,
    pm2Home: path.join(tmp, 'pm2'),
    env: {
      BENCH_CPU_ITERS_PER_MS: String(tools.calibration.node ?? ''),
      BENCH_PY_CPU_ITERS_PER_MS: String(tools.calibration.python ?? ''),
    },
    failures: 0,
    pm2Started: false,
    pm2Used() {
      this.pm2Started = true;
    },
  };
  mkdirSync(ctx.pm2Home);
  // PM2's daemon is not our child: `pm2 kill` it at exit, whatever happens.
  onExit(() => {
    if (ctx.pm2Started) pm2KillSync(ctx);
    // Server logs are kept only when a contender failed to start (the notes give the path).
    if (!ctx.failures) rmSync(tmp, { recursive: true, force: true });
  });

  const perRound = scenarios.reduce((a, s) => a + s.contenders().filter(wants).length * ((s.kind === 'memory' ? Math.min(opts.durationS, 2) : opts.durationS) + 0.3), 0);
  const warm = scenarios.reduce((a, s) => a + s.contenders().filter(wants).length * opts.warmupS, 0);
  log(`about ${Math.ceil((perRound * opts.rounds + warm) / 60)} min of load (${opts.rounds} round(s) × ${opts.durationS} s), plus start-up`);

  const report = { meta: meta(opts, tools), scenarios: [], targets: [], notes, commands: new Set() };
  if (report.meta.loadStart > report.meta.cores * 0.5) {
    log(`load average ${report.meta.loadStart.toFixed(2)} on ${report.meta.cores} cores: something else is running, figures will be noisy`);
  }
  const t0 = Date.now();
  try {
    for (const sc of scenarios) {
      const res = await runScenario(sc, wants, opts, ctx, report);
      if (res) report.scenarios.push(res);
    }
  } finally {
    await stopAll();
    if (ctx.pm2Started) {
      pm2KillSync(ctx);
      ctx.pm2Started = false;
    }
  }
  report.meta.elapsedS = Math.round((Date.now() - t0) / 1000);
  report.meta.loadEnd = os.loadavg()[0];

  const byId = Object.fromEntries(report.scenarios.map((s) => [s.id, s]));
  report.targets = TARGETS.filter((t) => byId[t.scenario]).map((t) => ({ scenario: t.scenario, text: t.text, ...t.judge(byId) }));
  for (const s of report.scenarios) {
    for (const id of s.order) {
      const cn = s.contenders[id];
      if (cn.errorsTotal) notes.push(`${s.id} / ${cn.label}: wrk counted ${cn.errorsTotal} errors (connect/read/write/timeout/non-2xx) over the rounds.`);
      if (cn.note) notes.push(`${s.id} / ${cn.label}: ${cn.note}.`);
    }
  }
  if (ctx.failures) notes.push(`Server logs of this run: ${logDir}`);
  report.commands = [...report.commands];

  mkdirSync(RESULTS, { recursive: true });
  const md = reportMarkdown(report);
  writeAtomic(path.join(RESULTS, 'latest.md'), md);
  writeAtomic(path.join(RESULTS, 'latest.svg'), renderSvg(report));
  writeAtomic(path.join(RESULTS, 'latest.json'), `${JSON.stringify(report, null, 2)}\n`);
  process.stdout.write(`${md}\n`);
  log(`done in ${report.meta.elapsedS} s; wrote bench/results/latest.{md,svg,json}`);
}

main().catch((err) => {
  process.stderr.write(`bench: ${err?.message ?? err}\n`);
  process.exitCode = 1;
});
