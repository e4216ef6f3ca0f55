// Renders the results as markdown: one table per scenario, then the targets.
import { fmt, fmtRate, fmtX, mib, ratio } from './stats.mjs';

/** A markdown table; the first `left` columns are left-aligned, the rest right-aligned. */
function table(head, rows, left = 1) {
  const line = (cells) => `| ${cells.map((c) => String(c).replace(/\|/g, '\\|')).join(' | ')} |`;
  return [line(head), line(head.map((h, i) => (i < left ? '---' : '---:'))), ...rows.map(line)].join('\n');
}

const errs = (c) => {
  const n = c.errorsTotal ?? 0;
  return n ? `**${fmt(n)}**` : '0';
};

function contenders(sc) {
  return sc.order.map((id) => sc.contenders[id]);
}

function skippedRow(cn, width) {
  return [cn.label, `skipped: ${cn.skipped}`, ...Array(width - 2).fill('')];
}

function throughputTable(sc) {
  const ref = sc.reference ? sc.contenders[sc.reference] : null;
  const refRps = ref?.median?.rps ?? null;
  if (sc.expected) {
    const head = ['contender', 'clients', 'req/s (median)', 'expected', '× expected', 'p99 ms', 'rounds req/s', 'errors'];
    return table(
      head,
      contenders(sc).map((cn) => {
        if (cn.skipped) return skippedRow(cn, head.length);
        const exp = sc.expected[cn.id];
        return [cn.label, String(cn.wrk.connections), fmt(cn.median.rps, 1), exp ? fmt(exp) : '–', fmtX(ratio(cn.median.rps, exp)), fmt(cn.median.p99, 1), cn.rounds.map((r) => fmt(r.rps, 1)).join(', '), errs(cn)];
      }),
    );
  }
  if (sc.pairs) {
    const base = {};
    for (const [a, b] of sc.pairs) base[a] = b;
    const head = ['contender', 'req/s (median)', '× threads=1', 'p99 ms', 'rounds req/s', 'errors'];
    return table(
      head,
      contenders(sc).map((cn) => {
        if (cn.skipped) return skippedRow(cn, head.length);
        const b = base[cn.id] ? sc.contenders[base[cn.id]]?.median?.rps : cn.median.rps;
        return [cn.label, fmt(cn.median.rps, 1), fmtX(ratio(cn.median.rps, b ?? null)), fmt(cn.median.p99, 1), cn.rounds.map((r) => fmt(r.rps, 1)).join(', '), errs(cn)];
      }),
    );
  }
  const head = ['contender', 'req/s (median)', `× ${ref?.label ?? 'reference'}`, 'p99 ms', 'rounds req/s', 'errors'];
  return table(
    head,
    contenders(sc).map((cn) => {
      if (cn.skipped) return skippedRow(cn, head.length);
      return [cn.label, fmt(cn.median.rps), fmtX(ratio(cn.median.rps, refRps)), fmt(cn.median.p99, 1), cn.rounds.map((r) => fmtRate(r.rps)).join(', '), errs(cn)];
    }),
  );
}

function mixedTable(sc) {
  const ref = sc.contenders[sc.reference];
  const refP99 = ref?.median?.helloP99 ?? null;
  const head = ['contender', 'hello p99 ms (median)', `÷ ${ref?.label ?? 'reference'} (lower is better)`, 'hello p50 ms', 'slow p99 ms', 'req/s', 'slow share', 'rounds hello p99', 'errors'];
  return table(
    head,
    contenders(sc).map((cn) => {
      if (cn.skipped) return skippedRow(cn, head.length);
      const m = cn.median;
      return [
        cn.label,
        fmt(m.helloP99, 1),
        fmtX(ratio(m.helloP99, refP99)),
        fmt(m.helloP50, 2),
        fmt(m.slowP99, 1),
        fmt(m.rps),
        m.slowShare === null ? '–' : `${(m.slowShare * 100).toFixed(1)} %`,
        cn.rounds.map((r) => fmt(r.helloP99, 1)).join(', '),
        errs(cn),
      ];
    }),
  );
}

function memoryTable(sc) {
  const head = ['contender', 'master MiB', 'worker MiB (mean)', 'workers', 'total MiB', 'load req/s'];
  const t = table(
    head,
    contenders(sc).map((cn) => {
      if (cn.skipped) return skippedRow(cn, head.length);
      const m = cn.median;
      return [cn.label + (m.masterNote ? ` (master = ${m.masterNote})` : ''), fmt(mib(m.masterKiB), 1), fmt(mib(m.workerMeanKiB), 1), String(m.workers ?? '–'), fmt(mib(m.totalKiB), 1), fmt(m.rps)];
    }),
  );
  const lines = [t, ''];
  for (const tc of sc.threadCostResults ?? []) {
    lines.push(
      tc.perThreadKiB === null
        ? `- Cost of one extra thread, ${tc.label}: not measured.`
        : `- Cost of one extra thread, ${tc.label}: **${fmt(mib(tc.perThreadKiB), 2)} MiB** per thread (worker RSS ${fmt(mib(tc.hiKiB), 1)} MiB with ${tc.hiThreads} threads − ${fmt(mib(tc.loKiB), 1)} MiB with 1, ÷ ${tc.extra}).`,
    );
  }
  return lines.join('\n');
}

export function scenarioMarkdown(sc) {
  const body = sc.kind === 'mixed' ? mixedTable(sc) : sc.kind === 'memory' ? memoryTable(sc) : throughputTable(sc);
  return [`### ${sc.title}`, '', `${sc.describe}. ${sc.roundsNote}`, '', body].join('\n');
}

export function targetsMarkdown(targets) {
  const mark = (met) => (met === true ? '✅ met' : met === false ? '❌ not met' : '– not measured');
  return table(
    ['scenario', 'target', 'measured', 'result'],
    targets.map((t) => [t.scenario, t.text, t.measured, mark(t.met)]),
    4,
  );
}

/**
 * Whether other work was running when the run began. The load at the end is not a sign of it: the
 * run itself keeps both cores busy (wrk and the servers), which lifts the 1-minute average to 3–4.
 */
export function busyAtStart(meta) {
  return meta.loadStart > meta.cores * 0.5;
}

export function reportMarkdown(report) {
  const m = report.meta;
  const out = [
    `# tsgunicorn benchmark`,
    '',
    `${m.date} · ${m.cpu} × ${m.cores} cores · Node ${m.node} · ${m.wrk} · ${m.gunicorn ?? 'gunicorn: n/a'} · PM2 ${m.pm2 ?? 'n/a'} · tsgunicorn ${m.tsgunicorn} (${m.commit}) · ${m.elapsedS} s`,
    '',
    `Load average (1 min) at start ${m.loadStart.toFixed(2)}, at end ${m.loadEnd?.toFixed(2) ?? '–'}, on ${m.cores} cores${busyAtStart(m) ? ' — **other work was running on this machine; the figures are noisy**' : ' (the load at the end is the benchmark\'s own: wrk and the servers share the cores)'}.`,
    '',
    `Options: ${m.argv || '(defaults)'} → ${m.options.durationS} s per round, ${m.options.rounds} round(s), warm-up ${m.options.warmupS} s; contenders alternate within each round (A B C A B C …); figures are medians of rounds. wrk runs on the same 2 cores as the servers (loopback), so only the ratios mean anything.`,
    '',
    '## Targets',
    '',
    targetsMarkdown(report.targets),
    '',
    '## Scenarios',
    '',
  ];
  for (const sc of report.scenarios) out.push(scenarioMarkdown(sc), '');
  if (report.notes.length) {
    out.push('## Notes', '', ...report.notes.map((n) => `- ${n}`), '');
  }
  out.push('## Commands (PORT: a free port on 127.0.0.1, picked per run)', '', ...report.commands.map((c) => `- \`${c}\``), '');
  return out.join('\n');
}
