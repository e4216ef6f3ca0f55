// A self-contained SVG: one panel of horizontal bars per scenario. tsgunicorn's bars are blue,
// the others grey; each bar is labelled with its figure and, where the scenario has one, its
// ratio to the reference.
import { busyAtStart } from './markdown.mjs';
import { fmtRate, fmtX, mib, ratio } from './stats.mjs';

const W = 1080;
const LABEL_W = 330;
const BAR_W = 420;
const ROW_H = 20;
const COLORS = { tsgunicorn: '#2563eb', node: '#64748b', pm2: '#a855f7', gunicorn: '#16a34a' };

const SHORT = { 'bare-rr': 'bare RR', 'bare-none': 'bare SCHED_NONE', pm2: 'PM2' };

const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** Turns a scenario result into { title, unit, rows: [{ label, value, family, text }] }. */
function panelOf(sc) {
  const list = sc.order.map((id) => sc.contenders[id]);
  const rows = [];
  let unit = 'req/s (higher is better)';
  for (const cn of list) {
    if (cn.skipped) {
      rows.push({ label: cn.label, value: null, family: cn.family, text: `skipped: ${cn.skipped}` });
      continue;
    }
    const m = cn.median;
    if (sc.kind === 'mixed') {
      unit = 'hello p99 ms under mixed load (lower is better)';
      const r = ratio(m.helloP99, sc.contenders[sc.reference]?.median?.helloP99);
      rows.push({ label: cn.label, value: m.helloP99, family: cn.family, text: `${m.helloP99?.toFixed(1)} ms${r !== null ? `  (${fmtX(r)} bare RR)` : ''}` });
    } else if (sc.kind === 'memory') {
      unit = 'MiB VmRSS, master + workers (lower is better)';
      const v = mib(m.totalKiB);
      rows.push({ label: cn.label, value: v, family: cn.family, text: `${v?.toFixed(1)} MiB (master ${mib(m.masterKiB)?.toFixed(1)}, worker ${mib(m.workerMeanKiB)?.toFixed(1)})` });
    } else {
      let r = null;
      let rl = '';
      if (sc.expected?.[cn.id]) {
        r = ratio(m.rps, sc.expected[cn.id]);
        rl = 'expected';
      } else if (sc.pairs) {
        const base = sc.pairs.find(([a]) => a === cn.id)?.[1];
        if (base) {
          r = ratio(m.rps, sc.contenders[base]?.median?.rps);
          rl = 'threads=1';
        }
      } else if (sc.reference) {
        r = ratio(m.rps, sc.contenders[sc.reference]?.median?.rps);
        rl = SHORT[sc.reference] ?? sc.reference;
      }
      rows.push({ label: cn.label, value: m.rps, family: cn.family, text: `${fmtRate(m.rps)}${r !== null ? `  (${fmtX(r)} ${rl})` : ''}` });
    }
  }
  return { title: sc.title, unit, rows };
}

export function renderSvg(report) {
  const panels = report.scenarios.map(panelOf).filter((p) => p.rows.length);
  const parts = [];
  let y = 16;
  parts.push(`<text x="16" y="${y + 14}" class="h1">tsgunicorn benchmark — ${esc(report.meta.date)} · ${esc(report.meta.cores)} cores · medians of ${report.meta.options.rounds} round(s) × ${report.meta.options.durationS} s</text>`);
  y += 30;
  const m = report.meta;
  if (busyAtStart(m)) {
    parts.push(`<text x="16" y="${y + 10}" class="bad" style="font-size:12px">Load average ${m.loadStart.toFixed(1)} → ${m.loadEnd?.toFixed(1) ?? '?'} on ${m.cores} cores: other work was running, figures are noisy.</text>`);
    y += 22;
  }
  const targets = report.targets ?? [];
  if (targets.length) {
    const met = targets.filter((t) => t.met === true).length;
    const missed = targets.filter((t) => t.met === false).length;
    parts.push(`<text x="16" y="${y + 14}" class="h2">Targets: ${met} met, ${missed} not met${targets.length - met - missed ? `, ${targets.length - met - missed} not measured` : ''}</text>`);
    y += 22;
    for (const t of targets) {
      const [sym, cls] = t.met === true ? ['✔', 'ok'] : t.met === false ? ['✘', 'bad'] : ['–', 'na'];
      parts.push(`<text x="24" y="${y + 13}" class="${cls}">${sym}</text><text x="44" y="${y + 13}" class="label">${esc(`${t.scenario}: ${t.text}`)}</text><text x="${W - 16}" y="${y + 13}" class="val" text-anchor="end">${esc(t.measured)}</text>`);
      y += 18;
    }
    y += 14;
  }
  for (const p of panels) {
    parts.push(`<text x="16" y="${y + 14}" class="h2">${esc(p.title)}</text>`);
    parts.push(`<text x="${W - 16}" y="${y + 14}" class="unit" text-anchor="end">${esc(p.unit)}</text>`);
    y += 24;
    const max = Math.max(...p.rows.map((r) => r.value ?? 0), 1e-9);
    for (const r of p.rows) {
      parts.push(`<text x="${LABEL_W - 8}" y="${y + 14}" class="label" text-anchor="end">${esc(r.label)}</text>`);
      if (r.value !== null && r.value !== undefined) {
        const w = Math.max(1, (r.value / max) * BAR_W);
        parts.push(`<rect x="${LABEL_W}" y="${y + 3}" width="${w.toFixed(1)}" height="${ROW_H - 6}" fill="${COLORS[r.family] ?? '#888'}" rx="2"/>`);
        parts.push(`<text x="${(LABEL_W + w + 6).toFixed(1)}" y="${y + 14}" class="val">${esc(r.text)}</text>`);
      } else {
        parts.push(`<text x="${LABEL_W}" y="${y + 14}" class="skip">${esc(r.text)}</text>`);
      }
      y += ROW_H;
    }
    y += 14;
  }
  const legend = Object.entries({ tsgunicorn: 'tsgunicorn', node: 'bare node:cluster', pm2: 'PM2', gunicorn: 'Gunicorn' });
  let x = 16;
  for (const [fam, name] of legend) {
    parts.push(`<rect x="${x}" y="${y + 4}" width="12" height="12" fill="${COLORS[fam]}"/><text x="${x + 18}" y="${y + 14}" class="label">${name}</text>`);
    x += 40 + name.length * 7;
  }
  y += 28;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${y}" viewBox="0 0 ${W} ${y}" font-family="system-ui, -apple-system, 'Segoe UI', sans-serif">`,
    '<style>.h1{font-size:15px;font-weight:600}.h2{font-size:13px;font-weight:600}.unit{font-size:11px;fill:#555}.label{font-size:12px;fill:#222}.val{font-size:11px;fill:#222}.skip{font-size:11px;fill:#b45309;font-style:italic}.ok{font-size:13px;fill:#15803d;font-weight:700}.bad{font-size:13px;fill:#b91c1c;font-weight:700}.na{font-size:13px;fill:#777}</style>',
    `<rect width="${W}" height="${y}" fill="#fff"/>`,
    ...parts,
    '</svg>',
    '',
  ].join('\n');
}
