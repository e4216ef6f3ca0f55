import { readFileSync } from 'node:fs';
const p = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const re = new RegExp(process.argv[3]);
const parent = new Map(); for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const byId = new Map(p.nodes.map(n => [n.id, n]));
const dt = {}; for (let i = 0; i < p.samples.length; i++) dt[p.samples[i]] = (dt[p.samples[i]] ?? 0) + (p.timeDeltas[i] ?? 0);
let busy = 0, hit = 0;
for (const n of p.nodes) {
  const t = dt[n.id] ?? 0; if (!t || n.callFrame.functionName === '(idle)') continue;
  busy += t;
  let cur = n.id, m = false;
  while (cur !== undefined) { const f = byId.get(cur).callFrame; if (re.test(f.url)) { m = true; break; } cur = parent.get(cur); }
  if (m) hit += t;
}
console.log(`busy ${(busy/1000).toFixed(0)} ms, matching ${(hit/1000).toFixed(0)} ms = ${(100*hit/busy).toFixed(1)} %`);
